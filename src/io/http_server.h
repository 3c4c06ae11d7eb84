// HttpServer: a small HTTP/1.1 server over cpp-httplib (Debian
// libcpp-httplib-dev), for the API, /metrics and the dashboard. httplib stays
// inside src/io: callers see only this header.
//
//   auto server = HttpServer::Start({.listen = "127.0.0.1:0"});
//   if (!server.ok()) ...;     // "listen 127.0.0.1:8080: address already in use"
//   (*server)->Get("/healthz", [](const ServerRequest&, ServerResponse& res) { res.body = "ok"; });
//   (*server)->port();         // the port bound (useful with port 0)
//   (*server)->Stop();         // also done by the destructor
//
// Routing is by exact path. A path no route has gets 404 {"error": ...}; a
// path with routes for other methods gets 405 with an Allow header; a body
// over max_body_bytes gets 413 before any handler runs; a handler that throws
// gets 500. HEAD is answered by the GET route, without the body.
// (ServerRequest/ServerResponse, because io::HttpResponse is the client's.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace txpipe::io {

struct HttpServerOptions {
  // "host:port" to listen on; port 0 picks a free one (see port()). Default
  // 127.0.0.1:8080. The host is an IPv4 or IPv6 address or a name
  // ("[::1]:8080" for IPv6).
  std::string listen = "127.0.0.1:8080";
  // Largest request body, in bytes; larger requests get 413. Default 8 MiB.
  size_t max_body_bytes = 8 << 20;
  // Longest wait for the next bytes of a request, and for the peer to take
  // the next bytes of a response, in ms. Default 5 s each.
  int64_t read_timeout_ms = 5'000;
  int64_t write_timeout_ms = 5'000;
  // How long an idle keep-alive connection is kept, in ms, and how many
  // requests one connection may make before it is closed. Default 5 s, 100.
  int64_t keep_alive_timeout_ms = 5'000;
  size_t keep_alive_max_requests = 100;
  // Worker threads: connections served at once (others wait to be
  // accepted). Default 8.
  size_t threads = 8;
};

struct ServerRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, percent-decoded
  // Query parameters in order, decoded; a name may repeat.
  std::vector<std::pair<std::string, std::string>> params;
  // Request headers in order (names as sent).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_addr;

  // The first value of query parameter `name`, or nullopt.
  std::optional<std::string> param(std::string_view name) const;
  // The first value of header `name` (any case), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // More headers (not Content-Type or Content-Length).
  std::vector<std::pair<std::string, std::string>> headers;
};

using ServerHandler = std::function<void(const ServerRequest&, ServerResponse&)>;

// Sets `res` to `status` with body {"error": message} (application/json).
void SetJsonError(ServerResponse& res, int status, std::string_view message);

class HttpServer {
 public:
  // Validates the options, binds the listening socket (kInvalidArgument for a
  // bad `listen`, kUnavailable when it cannot be bound: "listen
  // 127.0.0.1:8080: address already in use") and starts serving on threads
  // of its own. Until routes are added every path gets 404.
  static base::Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options);

  // Stops (as Stop()).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds a route for `path` (exact match), replacing one with the same
  // method and path. Thread-safe, also while serving. Handlers run on the
  // worker threads, several at once: they must be thread-safe.
  void Get(std::string path, ServerHandler handler);
  void Post(std::string path, ServerHandler handler);

  // The port listened on.
  int port() const;
  // Connections being served now (a request in progress or kept alive).
  size_t open_connections() const;
  // Stops accepting, closes every open connection (a request being handled
  // finishes, its response may not be delivered) and waits for the worker
  // threads. Idempotent; not to be called from a handler.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace txpipe::io
