// HttpClient: a small blocking HTTP/1.1 client over libcurl, for sinks that
// POST to a peer (the webhook sink; later InfluxDB). libcurl stays inside
// src/io: callers see only this header.
//
//   auto client = HttpClient::Create();
//   auto r = (*client)->Post(url, body, {{"Content-Type", "application/json"}}, 5000);
//   if (!r.ok()) ...;            // no response: connection refused, timeout, TLS, ...
//   else if (r->status == 503)   // a response, whatever its status
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace txpipe::io {

// Header name and value pairs, in order.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  // Headers of the final response (not of a 100 Continue before it), names
  // lower-cased, values trimmed.
  HttpHeaders headers;
  // The body, cut at HttpClientOptions::max_response_bytes.
  std::string body;

  // The value of the first header `name` (any case), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct HttpClientOptions {
  // Longest wait for the TCP (and TLS) connection, in ms; a request's own
  // timeout caps it too. Default 5 s.
  int64_t connect_timeout_ms = 5'000;
  // Proxy URL ("http://proxy:3128"); "" = connect directly. The environment's
  // http_proxy / https_proxy / no_proxy are never read.
  std::string proxy;
  // User-Agent header (a request's own User-Agent header wins).
  std::string user_agent = "txpipe";
  // Response bodies are kept up to this many bytes (the rest is read and
  // dropped). Default 64 KiB.
  size_t max_response_bytes = 64 << 10;
};

// One connection kept alive between requests (a libcurl easy handle reused).
// Redirects are not followed (a 3xx is returned as it is); only http:// and
// https:// URLs are used. Not thread-safe: one client per thread.
class HttpClient {
 public:
  static base::Result<std::unique_ptr<HttpClient>> Create(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` with `headers` (set Content-Type: libcurl's default is
  // application/x-www-form-urlencoded), waiting at most `timeout_ms` in all.
  // Returns the response whatever its status: a 503 is a response, not an
  // error. Errors, when no complete response came: kUnavailable (retryable:
  // cannot resolve or connect, timeout, connection reset, TLS failure, or
  // `cancel` raised: libcurl looks at it at least once a second),
  // kInvalidArgument (a URL that cannot be used), kInternal. Messages do not
  // repeat the URL (it may hold a secret); callers add what they may show.
  base::Result<HttpResponse> Post(const std::string& url, std::string_view body,
                                  const HttpHeaders& headers, int64_t timeout_ms,
                                  const base::StopFlag* cancel = nullptr);

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace txpipe::io
