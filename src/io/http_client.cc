#include "io/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace txpipe::io {

using base::Result;
using base::Status;

namespace {

// curl_global_init is not thread-safe and must run once before any handle.
CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return rc;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// What a request fills in from libcurl's callbacks.
struct Exchange {
  HttpResponse* response = nullptr;
  size_t max_body = 0;
  const base::StopFlag* cancel = nullptr;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t bytes = size * n;
  std::string& body = x->response->body;
  if (body.size() < x->max_body) body.append(data, std::min(bytes, x->max_body - body.size()));
  return bytes;  // the rest is read and dropped
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t bytes = size * n;
  std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    // A new response begins (after a 100 Continue, say): keep only its headers.
    x->response->headers.clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return bytes;  // the blank end line
  std::string name(Trim(line.substr(0, colon)));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  x->response->headers.emplace_back(std::move(name), std::string(Trim(line.substr(colon + 1))));
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* x = static_cast<Exchange*>(user);
  return x->cancel && x->cancel->requested() ? 1 : 0;  // non-zero aborts the transfer
}

Status FromCurl(CURLcode rc, const char* errbuf) {
  std::string what = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  std::string m = fmt::format("{} (curl error {})", what, static_cast<int>(rc));
  switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
      return Status::Unavailable("cancelled");
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status::InvalidArgument(std::move(m));
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN:
    case CURLE_FAILED_INIT:
      return Status::Internal(std::move(m));
    default:
      // Resolve, connect, send, receive, timeout, TLS: the peer or the way to
      // it; trying again later may work.
      return Status::Unavailable(std::move(m));
  }
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

struct HttpClient::Impl {
  HttpClientOptions options;
  CURL* curl = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};

  ~Impl() {
    if (curl) curl_easy_cleanup(curl);
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  if (CURLcode rc = GlobalInit(); rc != CURLE_OK) {
    return Status::Internal(fmt::format("curl_global_init: {}", curl_easy_strerror(rc)));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->curl = curl_easy_init();
  if (!impl->curl) return Status::Internal("curl_easy_init failed");
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::Post(const std::string& url, std::string_view body,
                                      const HttpHeaders& headers, int64_t timeout_ms,
                                      const base::StopFlag* cancel) {
  CURL* c = impl_->curl;
  const HttpClientOptions& o = impl_->options;
  // Options back to their defaults; the connection cache (keep-alive) stays.
  curl_easy_reset(c);
  HttpResponse response;
  Exchange x{&response, o.max_response_bytes, cancel};

  curl_slist* list = nullptr;
  bool has_expect = false;
  bool has_user_agent = false;
  for (const auto& [k, v] : headers) {
    has_expect |= EqualsIgnoreCase(k, "expect");
    has_user_agent |= EqualsIgnoreCase(k, "user-agent");
    // "Name;" sends a header with an empty value ("Name:" would remove it).
    std::string line = v.empty() ? k + ";" : k + ": " + v;
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (!next) {
      curl_slist_free_all(list);
      return Status::Internal("curl_slist_append failed");
    }
    list = next;
  }
  if (!has_expect) {
    // No "Expect: 100-continue" round trip before larger bodies: peers that
    // do not answer it would cost a second per request.
    if (curl_slist* next = curl_slist_append(list, "Expect:")) list = next;
  }

  const int64_t timeout = std::max<int64_t>(timeout_ms, 1);
  const int64_t connect_timeout = std::max<int64_t>(std::min(o.connect_timeout_ms, timeout), 1);
  impl_->errbuf[0] = '\0';
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, impl_->errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts (threads)
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_PROXY, o.proxy.c_str());  // "" = none, whatever the environment says
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  // Never NULL: with no fields libcurl would read the body from stdin.
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  if (!has_user_agent && !o.user_agent.empty()) {
    curl_easy_setopt(c, CURLOPT_USERAGENT, o.user_agent.c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
  if (cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
  }

  const CURLcode rc = curl_easy_perform(c);
  // The list and the callbacks' state die here: detach them from the handle.
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) return FromCurl(rc, impl_->errbuf);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace txpipe::io
