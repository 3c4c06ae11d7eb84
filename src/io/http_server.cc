#include "io/http_server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

namespace txpipe::io {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

// "Address already in use" -> "address already in use".
std::string ErrnoText(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// Splits "host:port" / "[v6]:port".
base::Status ParseListen(const std::string& listen, std::string* host, int* port) {
  auto bad = [&](std::string_view why) {
    return base::Status::InvalidArgument(fmt::format("listen '{}': {}", listen, why));
  };
  std::string_view s = listen;
  std::string_view port_text;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return bad("want [address]:port");
    }
    *host = std::string(s.substr(1, close - 1));
    port_text = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return bad("want host:port");
    *host = std::string(s.substr(0, colon));
    if (host->find(':') != std::string::npos) return bad("write IPv6 addresses as [address]:port");
    port_text = s.substr(colon + 1);
  }
  if (host->empty()) return bad("no host (0.0.0.0 for every interface)");
  int p = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      p < 0 || p > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  *port = p;
  return base::Status::OK();
}

timeval ToTimeval(int64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// Waits up to `timeout_ms` for `events` on `sock`. True when ready (or when
// the socket is closed or in error: the next read or write says so).
bool WaitFor(int sock, short events, int64_t timeout_ms) {
  pollfd p{sock, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(timeout_ms, INT32_MAX)));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// httplib's Stream over one accepted socket, with a read buffer (httplib
// reads request lines a byte at a time) and a deadline for the request line
// and headers: BeginRequest() starts it, and it ends at the blank line that
// ends the headers; until then no read waits past it.
class SocketStream final : public httplib::Stream {
 public:
  SocketStream(int sock, int64_t read_timeout_ms, int64_t write_timeout_ms,
               int64_t header_timeout_ms)
      : sock_(sock),
        read_timeout_ms_(read_timeout_ms),
        write_timeout_ms_(write_timeout_ms),
        header_timeout_ms_(header_timeout_ms) {}

  bool is_readable() const override {
    if (pos_ < len_) return true;
    int64_t wait = read_timeout_ms_;
    if (in_headers_) {
      wait = std::min(wait, header_deadline_ - SteadyMs());
      if (wait <= 0) return TimedOut();
    }
    if (WaitFor(sock_, POLLIN, wait)) return true;
    return in_headers_ && SteadyMs() >= header_deadline_ ? TimedOut() : false;
  }
  // Waits up to `timeout_ms` for the next request's first bytes.
  bool WaitRequest(int64_t timeout_ms) {
    if (!Flush()) return false;
    return pos_ < len_ || WaitFor(sock_, POLLIN, timeout_ms);
  }
  // Sends what write() has buffered. False when the peer is gone.
  bool Flush() {
    size_t done = 0;
    while (done < out_.size()) {
      ssize_t n = SendSome(out_.data() + done, out_.size() - done);
      if (n <= 0) {
        out_.clear();
        return false;
      }
      done += static_cast<size_t>(n);
    }
    out_.clear();
    return true;
  }
  // A request starts: its headers are due within header_timeout_ms.
  void BeginRequest() {
    in_headers_ = true;
    header_deadline_ = SteadyMs() + header_timeout_ms_;
    last_ = 0;
    before_last_ = 0;
    header_bytes_ = 0;
    line_index_ = 0;
    line_len_ = 0;
    line_colon_ = false;
    wrote_ = false;
  }
  // True when the headers of the request did not come in time.
  bool header_timed_out() const { return header_timed_out_; }
  // Why the request's head was refused ("" if it was not): too long, or a
  // header line that is not `name: value`. Reading stopped there.
  const std::string& bad_head() const { return bad_head_; }
  // True once anything was written for the current request.
  bool wrote() const { return wrote_; }
  // Writes wait for room themselves (SendSome): no poll up front.
  bool is_writable() const override { return true; }

  // Reads try the socket first and wait (poll, with the timeouts) only when
  // it has nothing: one syscall per read when data is there.
  ssize_t read(char* ptr, size_t size) override {
    if (!bad_head_.empty()) return -1;
    if (pos_ < len_) return Take(ptr, size);
    if (!Flush()) return -1;  // an answer the peer waits for (100 Continue) goes first
    if (in_headers_ && SteadyMs() >= header_deadline_) return TimedOut() ? 0 : -1;
    const bool direct = size >= sizeof(buf_) && !in_headers_;
    char* into = direct ? ptr : buf_;
    size_t cap = direct ? size : sizeof(buf_);
    ssize_t got = Recv(into, cap, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!is_readable()) return -1;
      got = Recv(into, cap, 0);
    }
    if (got <= 0 || direct) return got;
    len_ = static_cast<size_t>(got);
    pos_ = 0;
    return Take(ptr, size);
  }

  // Buffers small writes (a response's head and body go out in one send at
  // Flush: the connection loop flushes after each request, streams after
  // each chunk); large ones go out at once.
  ssize_t write(const char* ptr, size_t size) override {
    wrote_ = true;
    if (out_.size() + size <= kMaxBuffered) {
      out_.append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    if (!Flush()) return -1;
    return SendSome(ptr, size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) Name(a, len, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) Name(a, len, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  bool TimedOut() const {
    header_timed_out_ = true;
    return false;
  }
  // Copies buffered bytes out; while in the request's head, checks each byte
  // and stops right after the blank line that ends it (httplib reads the
  // head a byte at a time anyway).
  ssize_t Take(char* ptr, size_t size) {
    size_t n = std::min(size, len_ - pos_);
    if (in_headers_) {
      for (size_t i = 0; i < n; ++i) {
        char c = buf_[pos_ + i];
        if (!CheckHeadByte(c)) {
          if (i == 0) return -1;
          n = i;  // hand over what came before; the next read fails
          break;
        }
        if (c == '\n' && (last_ == '\n' || (last_ == '\r' && before_last_ == '\n'))) {
          in_headers_ = false;
          n = i + 1;
          break;
        }
        before_last_ = last_;
        last_ = c;
      }
    }
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  // What httplib lets through and RFC 9112 does not: a head over
  // kMaxHeadBytes in all, a header line without a colon, whitespace before
  // the colon or at the start of a line (obsolete line folding), NUL bytes.
  // False (and bad_head_ set) on the first such byte.
  bool CheckHeadByte(char c) {
    if (++header_bytes_ > kMaxHeadBytes) {
      bad_head_ = fmt::format("request head over {} bytes", kMaxHeadBytes);
      return false;
    }
    if (c == '\0') {
      bad_head_ = "NUL byte in the request head";
      return false;
    }
    if (c == '\n') {
      if (line_index_ > 0 && line_len_ > 0 && !line_colon_) {
        bad_head_ = "header line without a colon";
        return false;
      }
      ++line_index_;
      line_len_ = 0;
      line_colon_ = false;
      return true;
    }
    if (c == '\r') return true;
    if (line_index_ > 0 && !line_colon_) {
      if (c == ' ' || c == '\t') {
        bad_head_ = line_len_ == 0 ? "folded header line (obsolete line folding)"
                                   : "whitespace in a header name";
        return false;
      }
      if (c == ':') line_colon_ = true;
    }
    ++line_len_;
    return true;
  }
  static constexpr size_t kMaxHeadBytes = 64 << 10;
  ssize_t Recv(char* ptr, size_t size, int flags) {
    for (;;) {
      ssize_t n = ::recv(sock_, ptr, size, flags);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  // Sends some of [ptr, size): tries at once, waits up to write_timeout for
  // room when the socket's buffer is full. -1 on error or timeout.
  ssize_t SendSome(const char* ptr, size_t size) {
    for (;;) {
      ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!WaitFor(sock_, POLLOUT, write_timeout_ms_)) return -1;
    }
  }
  static constexpr size_t kMaxBuffered = 64 << 10;
  std::string out_;  // written, not yet sent
  static void Name(const sockaddr_storage& a, socklen_t len, std::string& ip, int& port) {
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof(host), serv,
                      sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  int sock_;
  int64_t read_timeout_ms_;
  int64_t write_timeout_ms_;
  int64_t header_timeout_ms_;
  bool in_headers_ = false;
  int64_t header_deadline_ = 0;
  size_t header_bytes_ = 0;
  size_t line_index_ = 0;  // 0: the request line
  size_t line_len_ = 0;
  bool line_colon_ = false;
  bool wrote_ = false;
  std::string bad_head_;
  mutable bool header_timed_out_ = false;
  char last_ = 0;
  char before_last_ = 0;
  char buf_[64 << 10];
  size_t pos_ = 0;
  size_t len_ = 0;
};

// httplib's task queue: a thread per connection, kept for reuse once the
// connection closes (so a burst of streaming clients gets threads at once,
// and steady traffic creates none). At most `max` threads; beyond that, work
// waits for one.
class ConnectionThreads final : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t max) : max_(max) {}
  ~ConnectionThreads() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(fn));
    // An idle thread that was woken but has not taken its job yet still
    // counts in idle_: start a thread whenever jobs outnumber idle threads.
    if (jobs_.size() > idle_ && threads_.size() < max_) {
      threads_.emplace_back([this] { Work(); });
    } else {
      cv_.notify_one();
    }
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();  // no enqueue once shutdown has begun
  }

  size_t threads() {
    std::lock_guard lock(mu_);
    return threads_.size();
  }

 private:
  void Work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // stopping, nothing left
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

// The connection this thread serves (for ChunkStream's flushes).
thread_local SocketStream* tl_stream = nullptr;

// The stream handed to ServerResponse::stream: httplib's sink for the
// chunks, and the socket to watch for the client going away.
class ChunkStream final : public ResponseStream {
 public:
  ChunkStream(httplib::DataSink& sink, int sock) : sink_(sink), sock_(sock) {}

  bool Write(std::string_view data) override {
    if (closed_ || data.empty()) return !closed_;
    if (!sink_.write(data.data(), data.size()) || !tl_stream->Flush()) closed_ = true;
    return !closed_;
  }

  bool Wait(int64_t ms) override {
    if (closed_) return false;
    // The client sends nothing more while it reads a stream: readable means
    // it closed (or reset, or Stop() shut the socket down).
    pollfd p{sock_, POLLIN | POLLRDHUP, 0};
    int64_t deadline = SteadyMs() + ms;
    for (;;) {
      int64_t left = deadline - SteadyMs();
      if (left <= 0) return true;
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return true;
      char c;
      ssize_t r = ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) || (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
        closed_ = true;
        return false;
      }
      // Bytes from the client (a pipelined request): they wait; keep going
      // without spinning on them.
      if (!WaitForDeadline(deadline)) return !closed_;
    }
  }

 private:
  bool WaitForDeadline(int64_t deadline) {
    int64_t left = deadline - SteadyMs();
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 50)));
    return SteadyMs() < deadline;
  }

  httplib::DataSink& sink_;
  int sock_;
  bool closed_ = false;
};

// The socket of the connection this thread serves (for ChunkStream).
thread_local int tl_socket = -1;
// Set while handling a request whose connection must close after the
// response (its body was not read, or not all of it).
thread_local bool tl_close = false;

std::string JsonErrorBody(std::string_view message);

// Writes a whole error response (Connection: close) straight to the stream,
// for requests httplib gave up on without answering.
void WriteError(httplib::Stream& strm, int status, std::string_view message) {
  std::string body = JsonErrorBody(message);
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nConnection: close\r\n"
      "Content-Length: {}\r\n\r\n{}",
      status, status == 400 ? "Bad Request" : "Error", body.size(), body);
  strm.write(out.data(), out.size());
}

}  // namespace

std::optional<std::string> ServerRequest::param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> ServerRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

namespace {
std::string JsonErrorBody(std::string_view message) {
  return "{\"error\":" + JsonQuote(message) + "}";
}
}  // namespace

void SetJsonError(ServerResponse& res, int status, std::string_view message) {
  res.status = status;
  res.content_type = "application/json";
  res.body = JsonErrorBody(message);
}

// httplib's Server with our own connection loop (process_and_close_socket):
// it keeps the set of open connections so that Stop() can shut them down at
// once instead of waiting out keep-alive and read timeouts, and it answers
// keep-alive in milliseconds.
class ServerCore final : public httplib::Server {
 public:
  explicit ServerCore(const HttpServerOptions& o) : options_(o) {}

  // httplib listens with a backlog of 5: more clients connecting at once
  // have their SYNs dropped and retry a second later. Listening again on
  // the bound socket raises it (Linux).
  void RaiseBacklog() { ::listen(svr_sock_, SOMAXCONN); }

  size_t OpenConnections() {
    std::lock_guard lock(mu_);
    return open_.size();
  }

  HttpServerStats Stats() {
    HttpServerStats st;
    st.connections = connections_.load(std::memory_order_relaxed);
    st.connections_rejected = rejected_.load(std::memory_order_relaxed);
    st.header_timeouts = header_timeouts_.load(std::memory_order_relaxed);
    st.open_connections = OpenConnections();
    st.threads = threads_.threads();
    return st;
  }

  // Makes httplib hand connections to threads_.
  void UseConnectionThreads() {
    new_task_queue = [this] { return new Forward(&threads_); };
  }

  // Shuts down every open connection and refuses new ones.
  void CloseConnections() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (int sock : open_) ::shutdown(sock, SHUT_RDWR);
  }

 private:
  enum class Admit { kServe, kOverCap, kStopping };

  // httplib deletes its task queue when it stops listening; threads_ lives on.
  struct Forward final : httplib::TaskQueue {
    explicit Forward(ConnectionThreads* t) : t(t) {}
    void enqueue(std::function<void()> fn) override { t->enqueue(std::move(fn)); }
    void shutdown() override { t->shutdown(); }
    ConnectionThreads* t;
  };

  bool process_and_close_socket(socket_t sock) override {
    bool ret = false;
    Admit admit;
    {
      std::lock_guard lock(mu_);
      admit = stopping_                                ? Admit::kStopping  // close it unanswered
              : open_.size() >= options_.max_connections ? Admit::kOverCap
                                                       : Admit::kServe;
      if (admit == Admit::kServe) open_.insert(sock);
    }
    if (admit == Admit::kOverCap) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      static constexpr std::string_view kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Retry-After: 1\r\nConnection: close\r\nContent-Length: 37\r\n\r\n"
          "{\"error\":\"too many open connections\"}";
      static_assert(kBusy.size() - kBusy.find("\r\n\r\n") - 4 == 37);
      timeval tv = ToTimeval(100);
      ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      (void)!::send(sock, kBusy.data(), kBusy.size(), MSG_NOSIGNAL);
    }
    if (admit == Admit::kServe) {
      connections_.fetch_add(1, std::memory_order_relaxed);
      tl_socket = sock;
      SocketStream strm(sock, options_.read_timeout_ms, options_.write_timeout_ms,
                        options_.header_timeout_ms);
      tl_stream = &strm;
      size_t left = options_.keep_alive_max_requests;
      // The first request waits as long as a read may; later ones as long as
      // keep-alive allows.
      int64_t wait_ms = options_.read_timeout_ms;
      while (left > 0 && svr_sock_ != INVALID_SOCKET && !Stopping() && strm.WaitRequest(wait_ms)) {
        bool close_connection = left == 1 || Stopping();
        bool connection_closed = false;
        strm.BeginRequest();
        tl_close = false;
        ret = process_request(strm, close_connection, connection_closed, nullptr);
        if (strm.header_timed_out()) {
          header_timeouts_.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        if (!strm.bad_head().empty()) {
          if (!strm.wrote()) WriteError(strm, 400, strm.bad_head());
          break;
        }
        if (!strm.Flush() || !ret || connection_closed || tl_close) break;
        --left;
        wait_ms = options_.keep_alive_timeout_ms;
      }
      strm.Flush();  // an answer written before the loop ended
      tl_socket = -1;
      tl_stream = nullptr;
      std::lock_guard lock(mu_);
      open_.erase(sock);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ret;
  }

  bool Stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  const HttpServerOptions options_;
  std::mutex mu_;
  std::set<int> open_;     // sockets being served; closed only after leaving it
  bool stopping_ = false;  // set by CloseConnections
  // max_connections, and a few more to answer connections over it with 503.
  ConnectionThreads threads_{options_.max_connections + 16};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> header_timeouts_{0};
};

struct HttpServer::Impl {
  HttpServerOptions options;
  ServerCore server;
  int port = 0;
  std::thread thread;
  std::atomic<bool> listen_done{false};
  bool stopped = false;
  std::mutex stop_mu;

  // method -> path -> handler.
  std::shared_mutex routes_mu;
  std::map<std::string, std::map<std::string, ServerHandler>, std::less<>> routes;

  explicit Impl(HttpServerOptions o) : options(std::move(o)), server(options) {}

  void Dispatch(const httplib::Request& hreq, httplib::Response& hres);
};

void HttpServer::Impl::Dispatch(const httplib::Request& hreq, httplib::Response& hres) {
  ServerRequest req;
  req.method = hreq.method == "HEAD" ? "GET" : hreq.method;
  req.path = hreq.path;
  for (const auto& [k, v] : hreq.params) req.params.emplace_back(k, v);
  for (const auto& [k, v] : hreq.headers) req.headers.emplace_back(k, v);
  // httplib hands handlers a const Request, but it is its own local, done
  // with once the handler returns: take the body instead of copying it.
  req.body = std::move(const_cast<httplib::Request&>(hreq).body);
  req.remote_addr = hreq.remote_addr;

  ServerResponse res;
  ServerHandler handler;
  {
    std::shared_lock lock(routes_mu);
    auto m = routes.find(req.method);
    if (m != routes.end()) {
      auto h = m->second.find(req.path);
      if (h != m->second.end()) handler = h->second;
    }
    if (!handler) {
      std::string allow;
      for (const auto& [method, paths] : routes) {
        if (paths.count(req.path)) {
          if (!allow.empty()) allow += ", ";
          allow += method;
          if (method == "GET") allow += ", HEAD";
        }
      }
      if (allow.empty()) {
        SetJsonError(res, 404, fmt::format("no such path: {}", req.path));
      } else {
        SetJsonError(
            res, 405,
            fmt::format("method {} not allowed on {} (allowed: {})", hreq.method, req.path, allow));
        res.headers.emplace_back("Allow", allow);
      }
    }
  }
  if (handler) handler(req, res);
  hres.status = res.status;
  for (auto& [k, v] : res.headers) hres.set_header(k, v);
  if (res.stream && hreq.method != "HEAD") {
    int sock = tl_socket;
    hres.set_chunked_content_provider(
        res.content_type, [stream = std::move(res.stream), sock](size_t, httplib::DataSink& sink) {
          ChunkStream out(sink, sock);
          stream(out);
          sink.done();
          return true;
        });
    return;
  }
  hres.set_content(std::move(res.body), res.content_type);
}

base::Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options, const std::function<void(HttpServer&)>& routes) {
  std::string host;
  int port = 0;
  TXP_RETURN_IF_ERROR(ParseListen(options.listen, &host, &port));
  if (options.max_connections == 0) {
    return base::Status::InvalidArgument("max_connections must be at least 1");
  }
  if (options.keep_alive_max_requests == 0) {
    return base::Status::InvalidArgument("keep_alive_max_requests must be at least 1");
  }
  if (options.read_timeout_ms <= 0 || options.write_timeout_ms <= 0 ||
      options.header_timeout_ms <= 0 || options.keep_alive_timeout_ms < 0) {
    return base::Status::InvalidArgument("timeouts must be positive");
  }
  // Resolve first, so that a bad name is reported as such.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* ai = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &ai); rc != 0) {
    return base::Status::InvalidArgument(
        fmt::format("listen {}: cannot resolve '{}': {}", options.listen, host, gai_strerror(rc)));
  }
  ::freeaddrinfo(ai);

  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* p = impl.get();
  const HttpServerOptions& o = p->options;
  httplib::Server& svr = p->server;
  svr.set_tcp_nodelay(true);  // else large POSTs stall ~40 ms (Nagle + delayed ACK)
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
  // second server on the same port binds too and takes half the connections.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  svr.set_payload_max_length(o.max_body_bytes);
  // What the Keep-Alive response header advertises (our loop enforces it).
  svr.set_keep_alive_max_count(o.keep_alive_max_requests);
  svr.set_keep_alive_timeout(std::max<int64_t>(1, o.keep_alive_timeout_ms / 1000));
  {
    timeval r = ToTimeval(o.read_timeout_ms);
    timeval w = ToTimeval(o.write_timeout_ms);
    svr.set_read_timeout(r.tv_sec, r.tv_usec);
    svr.set_write_timeout(w.tv_sec, w.tv_usec);
  }
  p->server.UseConnectionThreads();
  auto dispatch = [p](const httplib::Request& req, httplib::Response& res) {
    p->Dispatch(req, res);
  };
  size_t max_body = o.max_body_bytes;
  // Requests that may have a body: read it here, through httplib's content
  // reader, so that max_body_bytes bounds what is kept whatever the framing
  // (httplib's own limit sees only Content-Length: not chunked bodies, not
  // bodies read to the end of the connection, not what gzip unpacks to).
  // The reader also skips httplib's form parsing of the body into params.
  auto read_then_dispatch = [p, max_body](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& reader) {
    std::string body;
    // One allocation for the announced length (the reader checks it first),
    // and 64 bytes to spare: parsers like simdjson read a little past the
    // end (ServerRequest::body's capacity tells).
    const std::string& length = req.get_header_value("Content-Length");
    if (!length.empty()) {
      body.reserve(std::min<size_t>(std::strtoull(length.c_str(), nullptr, 10), max_body) + 64);
    }
    bool over = false;
    bool ok = reader([&](const char* data, size_t n) {
      if (body.size() + n > max_body) {
        over = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (over || res.status == 413 || !ok) {
      // The rest of the body is unread: the connection cannot carry on.
      tl_close = true;
      ServerResponse r;
      SetJsonError(r, over || res.status == 413 ? 413 : 400,
                   over || res.status == 413
                       ? fmt::format("request body over {} bytes", max_body)
                       : std::string("could not read the request body"));
      res.status = r.status;
      res.set_header("Connection", "close");
      res.set_content(r.body, r.content_type);
      return;
    }
    const_cast<httplib::Request&>(req).body = std::move(body);
    p->Dispatch(req, res);
  };
  svr.Get(".*", dispatch);
  svr.Post(".*", read_then_dispatch);
  svr.Put(".*", read_then_dispatch);
  svr.Patch(".*", read_then_dispatch);
  svr.Delete(".*", read_then_dispatch);
  svr.Options(".*", dispatch);
  // Before any body is read: refuse framing that is ambiguous or that this
  // server does not take (request smuggling behind a proxy starts there).
  svr.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    std::string why;
    std::optional<std::string> length;
    for (auto [it, end] = req.headers.equal_range("Content-Length"); it != end; ++it) {
      const std::string& v = it->second;
      bool digits = !v.empty() && v.size() <= 18 &&
                    std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) {
        why = fmt::format("Content-Length '{}' is not a number", v);
      } else if (length && *length != v) {
        why = "two different Content-Length headers";
      }
      length = v;
    }
    bool has_te = req.has_header("Transfer-Encoding");
    if (why.empty() && has_te) {
      if (length) {
        why = "both Content-Length and Transfer-Encoding";
      } else if (req.get_header_value("Transfer-Encoding") != "chunked" ||
                 req.get_header_value_count("Transfer-Encoding") > 1) {
        why = "Transfer-Encoding other than chunked";
      } else if (req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS") {
        why = fmt::format("a body on {}", req.method);
      }
    }
    if (why.empty()) return httplib::Server::HandlerResponse::Unhandled;
    tl_close = true;
    ServerResponse r;
    SetJsonError(r, 400, why);
    res.status = 400;
    res.set_header("Connection", "close");
    res.set_content(r.body, r.content_type);
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ServerResponse r;
        (void)req;
        std::string message;
        switch (res.status) {
          case 400:
            message = "bad request";
            break;
          case 413:
            message = fmt::format("request body over {} bytes", max_body);
            break;
          case 414:
            message = "request line too long";
            break;
          case 416:
            message = "range not satisfiable";
            break;
          default:
            message = fmt::format("HTTP {}", res.status);
        }
        SetJsonError(r, res.status, message);
        res.set_content(r.body, r.content_type);
        return httplib::Server::HandlerResponse::Handled;
      }));
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "handler failed";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        ServerResponse r;
        SetJsonError(r, 500, what);
        res.status = 500;
        res.set_content(r.body, r.content_type);
      });

  errno = 0;
  bool bound;
  if (port == 0) {
    p->port = svr.bind_to_any_port(host);
    bound = p->port > 0;
  } else {
    p->port = port;
    bound = svr.bind_to_port(host, port);
  }
  if (!bound) {
    int err = errno;
    return base::Status::Unavailable(
        fmt::format("listen {}: {}", p->options.listen, err ? ErrnoText(err) : "cannot bind"));
  }
  p->server.RaiseBacklog();
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(impl)));
  if (routes) routes(*server);  // before the first request is read
  p->thread = std::thread([p] {
    p->server.listen_after_bind();
    p->listen_done = true;
  });
  // stop() does nothing before the accept loop runs: wait for it.
  while (!p->server.is_running() && !p->listen_done) std::this_thread::yield();
  if (p->listen_done) {  // the accept loop could not start
    p->thread.join();
    return base::Status::Unavailable(fmt::format("listen {}: cannot accept", p->options.listen));
  }
  return server;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

size_t HttpServer::open_connections() const { return impl_->server.OpenConnections(); }

HttpServerStats HttpServer::stats() const { return impl_->server.Stats(); }

void HttpServer::Get(std::string path, ServerHandler handler) {
  std::unique_lock lock(impl_->routes_mu);
  impl_->routes["GET"][std::move(path)] = std::move(handler);
}

void HttpServer::Post(std::string path, ServerHandler handler) {
  std::unique_lock lock(impl_->routes_mu);
  impl_->routes["POST"][std::move(path)] = std::move(handler);
}

void HttpServer::Stop() {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server.CloseConnections();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace txpipe::io
