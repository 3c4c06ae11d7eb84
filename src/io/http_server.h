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
//
// Each connection is served by a thread of its own (threads are kept for
// reuse), up to max_connections; more get 503 and are closed. A client must
// send its request line and headers within header_timeout_ms in all (slow
// senders are cut off, whatever their pace). A response may stream (chunked):
// set ServerResponse::stream; it runs on the connection's thread until it
// returns or the client goes away.
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
  // Longest time from a request's first byte to the end of its headers, in
  // ms: a client that sends headers slowly (slowloris) is disconnected then.
  // Default 10 s.
  int64_t header_timeout_ms = 10'000;
  // Connections served at once (each has a thread while open); one more is
  // answered 503 and closed. Default 512.
  size_t max_connections = 512;
};

// Counters of a server (for /metrics).
struct HttpServerStats {
  uint64_t connections = 0;           // accepted and served
  uint64_t connections_rejected = 0;  // over max_connections: 503 and closed
  uint64_t header_timeouts = 0;       // cut off by header_timeout_ms
  size_t open_connections = 0;        // now
  size_t threads = 0;                 // connection threads alive now
};

// The sending side of a streaming response (ServerResponse::stream).
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Sends `data` as one chunk now. False once the client is gone or the
  // server stops: the stream should return then.
  virtual bool Write(std::string_view data) = 0;
  // Waits up to `ms` while watching the connection. False as soon as the
  // client has closed it or the server stops; true after `ms` otherwise.
  virtual bool Wait(int64_t ms) = 0;
};

struct ServerRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, percent-decoded
  // Query parameters in order, decoded; a name may repeat.
  std::vector<std::pair<std::string, std::string>> params;
  // Request headers in order (names as sent).
  std::vector<std::pair<std::string, std::string>> headers;
  // The body. When it came with a Content-Length, its capacity has 64 bytes
  // to spare past its size (parsers like simdjson read a little beyond).
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
  // When set, the response is streamed (Transfer-Encoding: chunked) with
  // `status`, `content_type` and `headers`, and `body` is ignored: the server
  // calls stream() once, on the connection's thread, and ends the response
  // when it returns. For text/event-stream use exactly that content type (no
  // charset): it is then never compressed, so events are not held back.
  std::function<void(ResponseStream&)> stream;
};

using ServerHandler = std::function<void(const ServerRequest&, ServerResponse&)>;

// Sets `res` to `status` with body {"error": message} (application/json).
void SetJsonError(ServerResponse& res, int status, std::string_view message);

class HttpServer {
 public:
  // Validates the options, binds the listening socket (kInvalidArgument for a
  // bad `listen`, kUnavailable when it cannot be bound: "listen
  // 127.0.0.1:8080: address already in use"), calls `routes` (which adds
  // the routes with Get/Post) and only then starts serving on threads of its
  // own: no request is answered before every route of `routes` is in place
  // (clients that connect meanwhile wait in the listen backlog). Paths with
  // no route get 404.
  static base::Result<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options, const std::function<void(HttpServer&)>& routes = nullptr);

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
  HttpServerStats stats() const;
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
