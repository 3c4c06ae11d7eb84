// http_load: a small HTTP/1.1 load client for POST /api/logs (issue 5).
//
//   http_load --url http://127.0.0.1:8080/api/logs --connections 16
//             --events-per-request 1000 --duration 20 --rss-pid PID [--json]
//
// N keep-alive connections, each sending its next request as soon as the
// previous response is complete (no pipelining), from one epoll loop per
// --threads. Bodies are car-transaction events of the "cars" generator,
// pre-generated (--distinct-bodies of them, cycled) so that the server never
// sees the same input twice in a row: K = 1 sends one JSON object
// (application/json), K > 1 sends K lines of NDJSON (application/x-ndjson).
//
// Every response is parsed (status line, headers, Content-Length or chunked
// body, or a body up to the close); a "Connection: close" (the server's
// keep-alive request limit) makes the client reconnect. The run fails (exit 1)
// if any response is not 202, if any transfer fails, or if the sum of the
// responses' "accepted" differs from the events sent. Exit 2: bad usage.
//
// Reports requests/s, events/s, MB/s (request bodies), latency p50/p99/max
// (first byte sent to last byte received), statuses, reconnects and, with
// --rss-pid, the server's VmRSS sampled every 200 ms (start, max, end).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sources/generator/generator.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void Usage(const std::string& msg) {
  fmt::print(stderr, "http_load: {}\n(http_load --help for the options)\n", msg);
  std::exit(2);
}

constexpr const char* kHelp = R"(http_load: HTTP/1.1 keep-alive load client for POST /api/logs

  --url URL                 http://HOST:PORT/PATH[?QUERY] (default http://127.0.0.1:8080/api/logs)
  --connections N           keep-alive connections (default 16)
  --events-per-request K    events per request body (default 1000); K=1: one JSON
                            object (application/json), K>1: NDJSON (application/x-ndjson)
  --duration S              send for S seconds (default 10), then wait for the answers
  --requests R              send exactly R requests instead of --duration
  --distinct-bodies B       pre-generated bodies, cycled (default: as many as fit
                            in ~64 MB, at most 100,000, at most R)
  --seed N                  generator seed (default 1)
  --threads T               epoll threads the connections are spread over (default 1)
  --header 'Name: value'    extra request header (repeatable)
  --rss-pid PID             sample VmRSS of PID every 200 ms
  --timeout S               fail if a request gets no answer for S seconds (default 60)
  --json                    one JSON object on stdout instead of text
  --quiet                   no progress on stderr
Exit: 0 every response 202 and accepted == events sent; 1 otherwise; 2 bad usage.
)";

struct Options {
  std::string url = "http://127.0.0.1:8080/api/logs";
  int connections = 16;
  int events_per_request = 1000;
  double duration_s = 10;
  int64_t requests = 0;  // > 0: request mode
  int64_t distinct_bodies = 0;
  uint64_t seed = 1;
  int threads = 1;
  std::vector<std::string> headers;
  int rss_pid = 0;
  double timeout_s = 60;
  bool json = false;
  bool quiet = false;
};

int64_t ParseInt(const std::string& flag, const std::string& v, int64_t min) {
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < min) {
    Usage(fmt::format("{}: expected an integer >= {}, got '{}'", flag, min, v));
  }
  return x;
}

double ParseDouble(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x > 0)) {
    Usage(fmt::format("{}: expected a positive number, got '{}'", flag, v));
  }
  return x;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  bool duration_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "--json" && a != "--quiet" && a != "--help" && a != "-h") {
      static const std::vector<std::string> kValued = {
          "--url",   "--connections", "--events-per-request", "--duration", "--requests",
          "--distinct-bodies", "--seed", "--threads", "--header", "--rss-pid", "--timeout"};
      if (std::find(kValued.begin(), kValued.end(), a) == kValued.end()) {
        Usage("unknown option " + a);
      }
      if (i + 1 >= argc) Usage(a + ": needs a value");
      v = argv[++i];
    }
    if (a == "--help" || a == "-h") {
      fmt::print("{}", kHelp);
      std::exit(0);
    } else if (a == "--url") {
      o.url = v;
    } else if (a == "--connections") {
      o.connections = static_cast<int>(ParseInt(a, v, 1));
    } else if (a == "--events-per-request") {
      o.events_per_request = static_cast<int>(ParseInt(a, v, 1));
    } else if (a == "--duration") {
      o.duration_s = ParseDouble(a, v);
      duration_set = true;
    } else if (a == "--requests") {
      o.requests = ParseInt(a, v, 1);
    } else if (a == "--distinct-bodies") {
      o.distinct_bodies = ParseInt(a, v, 1);
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(ParseInt(a, v, 0));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(ParseInt(a, v, 1));
    } else if (a == "--header") {
      if (v.find(':') == std::string::npos) Usage("--header: expected 'Name: value'");
      o.headers.push_back(v);
    } else if (a == "--rss-pid") {
      o.rss_pid = static_cast<int>(ParseInt(a, v, 1));
    } else if (a == "--timeout") {
      o.timeout_s = ParseDouble(a, v);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else {
      Usage("unknown option " + a);
    }
  }
  if (duration_set && o.requests > 0) Usage("--duration and --requests: give one of them");
  if (o.threads > o.connections) o.threads = o.connections;
  return o;
}

struct Url {
  std::string host;
  int port = 80;
  std::string target;  // path and query
  std::string host_header;
};

Url ParseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) Usage("--url: only http:// URLs, got '" + url + "'");
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  Url u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  u.host_header = authority;
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) Usage("--url: bad IPv6 host in '" + url + "'");
    u.host = authority.substr(1, close - 1);
    if (colon != std::string::npos && colon > close) {
      u.port = static_cast<int>(ParseInt("--url port", authority.substr(colon + 1), 1));
    }
  } else if (colon != std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = static_cast<int>(ParseInt("--url port", authority.substr(colon + 1), 1));
  } else {
    u.host = authority;
  }
  if (u.host.empty()) Usage("--url: no host in '" + url + "'");
  return u;
}

// ---------------------------------------------------------------------------
// Requests: every request (headers and body) in one arena.

struct Request {
  size_t offset;  // in the arena
  size_t size;    // headers + body
  size_t body_bytes;
  int events;
};

struct RequestSet {
  std::string arena;
  std::vector<Request> requests;
  uint64_t body_bytes = 0;
};

RequestSet BuildRequests(const Options& o, const Url& u) {
  auto gen = txpipe::sources::generator::MakeGenerator("cars", o.seed);
  if (!gen.ok()) {
    fmt::print(stderr, "http_load: {}\n", gen.status().message());
    std::exit(1);
  }
  txpipe::sources::generator::Buffer buf;
  const int k = o.events_per_request;
  // Event times: now - 1 h onwards, 1 ms apart (the server sees recent events).
  int64_t t_us = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() -
                 3'600'000'000LL;
  auto make_body = [&](std::string* body) {
    buf.Clear();
    for (int i = 0; i < k; ++i) {
      (*gen)->Append(t_us, &buf);
      t_us += 1000;
    }
    std::string_view v = buf.view();
    if (k == 1 && v.ends_with('\n')) v.remove_suffix(1);  // one JSON object
    body->assign(v);
  };
  std::string first;
  make_body(&first);
  int64_t count = o.distinct_bodies;
  if (count == 0) {
    count = std::clamp<int64_t>((64LL << 20) / static_cast<int64_t>(first.size() + 1), 1, 100'000);
    if (o.requests > 0) count = std::min(count, o.requests);
  }
  std::string head = fmt::format("POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\n", u.target,
                                 u.host_header, k == 1 ? "application/json" : "application/x-ndjson");
  for (const auto& h : o.headers) head += h + "\r\n";
  RequestSet set;
  set.arena.reserve(static_cast<size_t>(count) * (first.size() + head.size() + 32));
  std::string body = std::move(first);
  for (int64_t i = 0; i < count; ++i) {
    if (i > 0) make_body(&body);
    Request r;
    r.offset = set.arena.size();
    set.arena += head;
    set.arena += fmt::format("Content-Length: {}\r\n\r\n", body.size());
    set.arena += body;
    r.size = set.arena.size() - r.offset;
    r.body_bytes = body.size();
    r.events = k;
    set.body_bytes += body.size();
    set.requests.push_back(r);
  }
  return set;
}

// ---------------------------------------------------------------------------
// Response parsing.

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view t = value.substr(0, comma);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (IEquals(t, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

struct Response {
  int status = 0;
  bool close = false;
  std::string body;
};

enum class Parse { kNeedMore, kDone, kError };

// Parses one response from the front of `in`. On kDone, `consumed` is its size.
// `eof`: the peer closed (a body without length ends there).
Parse ParseResponse(std::string_view in, bool eof, Response* r, size_t* consumed, std::string* err) {
  size_t hdr_end = in.find("\r\n\r\n");
  if (hdr_end == std::string_view::npos) {
    if (in.size() > 64 * 1024) {
      *err = "response headers over 64 KiB";
      return Parse::kError;
    }
    if (eof) {
      *err = in.empty() ? "connection closed before any response byte"
                        : "connection closed inside the response headers";
      return Parse::kError;
    }
    return Parse::kNeedMore;
  }
  std::string_view head = in.substr(0, hdr_end);
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // HTTP/1.x SSS reason
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[11])) ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    *err = fmt::format("bad status line '{}'", status_line.substr(0, 80));
    return Parse::kError;
  }
  const bool http10 = status_line[7] == '0';
  r->status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = !http10;
  std::string_view headers = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!headers.empty()) {
    size_t e = headers.find("\r\n");
    std::string_view line = headers.substr(0, e);
    headers = e == std::string_view::npos ? "" : headers.substr(e + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      *err = fmt::format("bad header line '{}'", line.substr(0, 80));
      return Parse::kError;
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (IEquals(name, "Content-Length")) {
      uint64_t n = 0;
      if (value.empty() || value.size() > 18) {
        *err = fmt::format("bad Content-Length '{}'", value);
        return Parse::kError;
      }
      for (char c : value) {
        if (c < '0' || c > '9') {
          *err = fmt::format("bad Content-Length '{}'", value);
          return Parse::kError;
        }
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (content_length && *content_length != n) {
        *err = "two different Content-Length headers";
        return Parse::kError;
      }
      content_length = n;
    } else if (IEquals(name, "Transfer-Encoding")) {
      if (HasToken(value, "chunked")) chunked = true;
    } else if (IEquals(name, "Connection")) {
      if (HasToken(value, "close")) keep_alive = false;
      if (HasToken(value, "keep-alive")) keep_alive = keep_alive || http10;
    }
  }
  r->close = !keep_alive;
  size_t pos = hdr_end + 4;
  r->body.clear();
  if ((r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304) {
    *consumed = pos;
    return Parse::kDone;
  }
  if (chunked) {
    while (true) {
      size_t e = in.find("\r\n", pos);
      if (e == std::string_view::npos) {
        if (eof) {
          *err = "connection closed inside a chunked body";
          return Parse::kError;
        }
        return Parse::kNeedMore;
      }
      std::string_view size_line = in.substr(pos, e - pos);
      size_line = size_line.substr(0, size_line.find(';'));
      while (!size_line.empty() && size_line.back() == ' ') size_line.remove_suffix(1);
      uint64_t n = 0;
      if (size_line.empty() || size_line.size() > 15) {
        *err = fmt::format("bad chunk size '{}'", size_line.substr(0, 20));
        return Parse::kError;
      }
      for (char c : size_line) {
        int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                : (c >= 'a' && c <= 'f')                  ? c - 'a' + 10
                : (c >= 'A' && c <= 'F')                  ? c - 'A' + 10
                                                          : -1;
        if (d < 0) {
          *err = fmt::format("bad chunk size '{}'", size_line.substr(0, 20));
          return Parse::kError;
        }
        n = n * 16 + static_cast<uint64_t>(d);
      }
      pos = e + 2;
      if (n == 0) {
        // Trailers, then an empty line.
        while (true) {
          size_t t = in.find("\r\n", pos);
          if (t == std::string_view::npos) {
            if (eof) {
              *err = "connection closed inside the chunked trailer";
              return Parse::kError;
            }
            return Parse::kNeedMore;
          }
          bool empty = t == pos;
          pos = t + 2;
          if (empty) break;
        }
        *consumed = pos;
        return Parse::kDone;
      }
      if (in.size() < pos + n + 2) {
        if (eof) {
          *err = "connection closed inside a chunk";
          return Parse::kError;
        }
        return Parse::kNeedMore;
      }
      if (in.substr(pos + n, 2) != "\r\n") {
        *err = "chunk not followed by CRLF";
        return Parse::kError;
      }
      r->body.append(in.substr(pos, n));
      pos += n + 2;
    }
  }
  if (content_length) {
    if (in.size() - pos < *content_length) {
      if (eof) {
        *err = fmt::format("connection closed after {} of {} body bytes", in.size() - pos,
                           *content_length);
        return Parse::kError;
      }
      return Parse::kNeedMore;
    }
    r->body.assign(in.substr(pos, *content_length));
    *consumed = pos + *content_length;
    return Parse::kDone;
  }
  // No length: the body runs to the close.
  if (!eof) return Parse::kNeedMore;
  r->body.assign(in.substr(pos));
  r->close = true;
  *consumed = in.size();
  return Parse::kDone;
}

// The integer after "key": in a JSON object, or nullopt.
std::optional<int64_t> JsonInt(std::string_view body, std::string_view key) {
  std::string quoted = fmt::format("\"{}\"", key);
  size_t p = body.find(quoted);
  if (p == std::string_view::npos) return std::nullopt;
  p += quoted.size();
  while (p < body.size() && std::isspace(static_cast<unsigned char>(body[p]))) ++p;
  if (p >= body.size() || body[p] != ':') return std::nullopt;
  ++p;
  while (p < body.size() && std::isspace(static_cast<unsigned char>(body[p]))) ++p;
  if (p >= body.size() || !std::isdigit(static_cast<unsigned char>(body[p]))) return std::nullopt;
  int64_t n = 0;
  while (p < body.size() && std::isdigit(static_cast<unsigned char>(body[p]))) {
    n = n * 10 + (body[p++] - '0');
  }
  return n;
}

// ---------------------------------------------------------------------------
// The load: connections on epoll loops.

struct Stats {
  int64_t requests_sent = 0;
  int64_t events_sent = 0;
  int64_t body_bytes_sent = 0;
  int64_t responses = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  int64_t accepted_mismatch = 0;  // 202 whose accepted != events in its request
  int64_t transport_errors = 0;
  int64_t reconnects = 0;
  std::map<int, int64_t> statuses;
  std::vector<std::string> errors;  // first few, with details
  std::vector<uint32_t> latency_us;
  // Requests slower than 1 s: how many, and the first few with details.
  int64_t slow = 0;
  std::vector<std::string> slow_details;
  // Responses per connection (index: connection id).
  std::vector<int64_t> per_conn;
  int64_t last_response_us = 0;

  void Error(std::string e) {
    if (errors.size() < 10) errors.push_back(std::move(e));
  }
  void Merge(Stats&& o) {
    requests_sent += o.requests_sent;
    events_sent += o.events_sent;
    body_bytes_sent += o.body_bytes_sent;
    responses += o.responses;
    accepted += o.accepted;
    rejected += o.rejected;
    accepted_mismatch += o.accepted_mismatch;
    transport_errors += o.transport_errors;
    reconnects += o.reconnects;
    for (auto [s, n] : o.statuses) statuses[s] += n;
    for (auto& e : o.errors) Error(std::move(e));
    slow += o.slow;
    for (auto& d : o.slow_details) {
      if (slow_details.size() < 10) slow_details.push_back(std::move(d));
    }
    if (per_conn.size() < o.per_conn.size()) per_conn.resize(o.per_conn.size());
    for (size_t i = 0; i < o.per_conn.size(); ++i) per_conn[i] += o.per_conn[i];
    latency_us.insert(latency_us.end(), o.latency_us.begin(), o.latency_us.end());
    last_response_us = std::max(last_response_us, o.last_response_us);
  }
};

struct Shared {
  const Options* opt;
  const RequestSet* reqs;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int64_t start_us = 0;
  int64_t deadline_us = 0;           // duration mode: no new request after this
  std::atomic<int64_t> next_request{0};  // request numbers handed out
  std::atomic<int64_t> done_responses{0};
  std::atomic<int64_t> done_events{0};
  std::atomic<bool> abort{false};
};

enum class State { kIdle, kConnecting, kSending, kReceiving, kClosed };

struct Conn {
  int id = 0;
  int fd = -1;
  State state = State::kIdle;
  uint32_t interest = 0;
  const Request* req = nullptr;
  size_t sent = 0;
  int64_t req_start_us = 0;
  int64_t last_progress_us = 0;
  std::string in;
  int requests_on_conn = 0;  // since the last (re)connect
  bool fresh = false;        // the request opened the connection
};

class Loop {
 public:
  Loop(Shared* sh, std::vector<int> conn_ids) : sh_(sh) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (int id : conn_ids) {
      auto c = std::make_unique<Conn>();
      c->id = id;
      conns_.push_back(std::move(c));
    }
    stats_.per_conn.assign(static_cast<size_t>(sh_->opt->connections), 0);
    if (sh_->opt->requests == 0) {
      stats_.latency_us.reserve(1 << 16);
    } else {
      stats_.latency_us.reserve(static_cast<size_t>(sh_->opt->requests / sh_->opt->threads + 16));
    }
  }
  ~Loop() {
    for (auto& c : conns_) {
      if (c->fd >= 0) close(c->fd);
    }
    close(ep_);
  }

  void Run() {
    for (auto& c : conns_) StartNext(c.get());
    epoll_event evs[64];
    const int64_t timeout_us = static_cast<int64_t>(sh_->opt->timeout_s * 1e6);
    while (Active() > 0 && !sh_->abort.load(std::memory_order_relaxed)) {
      int n = epoll_wait(ep_, evs, 64, 100);
      if (n < 0 && errno != EINTR) {
        stats_.Error(fmt::format("epoll_wait: {}", std::strerror(errno)));
        ++stats_.transport_errors;
        break;
      }
      for (int i = 0; i < n; ++i) {
        Conn* c = static_cast<Conn*>(evs[i].data.ptr);
        Handle(c, evs[i].events);
      }
      // Stalls: a request with no progress for --timeout.
      int64_t now = NowUs();
      for (auto& c : conns_) {
        if ((c->state == State::kSending || c->state == State::kReceiving ||
             c->state == State::kConnecting) &&
            now - c->last_progress_us > timeout_us) {
          stats_.Error(fmt::format(
              "connection {}: no progress for {:.0f} s ({}; {} of {} request bytes sent, {} "
              "response bytes received) — giving up on it",
              c->id, sh_->opt->timeout_s,
              c->state == State::kSending     ? "sending"
              : c->state == State::kReceiving ? "waiting for the response"
                                              : "connecting",
              c->sent, c->req ? c->req->size : 0, c->in.size()));
          ++stats_.transport_errors;
          Close(c.get());
          c->state = State::kClosed;
        }
      }
    }
  }

  Stats& stats() { return stats_; }

 private:
  int Active() const {
    int n = 0;
    for (const auto& c : conns_) n += c->state != State::kClosed && c->state != State::kIdle;
    return n;
  }

  void SetInterest(Conn* c, uint32_t ev) {
    if (c->interest == ev) return;
    epoll_event e{};
    e.events = ev;
    e.data.ptr = c;
    epoll_ctl(ep_, c->interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e);
    c->interest = ev;
  }

  void Close(Conn* c) {
    if (c->fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
      close(c->fd);
    }
    c->fd = -1;
    c->interest = 0;
    c->in.clear();
    c->requests_on_conn = 0;
  }

  // Hands out the next request, or nullptr when the run is over.
  const Request* Take() {
    const Options& o = *sh_->opt;
    if (o.requests > 0) {
      int64_t n = sh_->next_request.fetch_add(1, std::memory_order_relaxed);
      if (n >= o.requests) return nullptr;
      return &sh_->reqs->requests[static_cast<size_t>(n) % sh_->reqs->requests.size()];
    }
    if (NowUs() >= sh_->deadline_us) return nullptr;
    int64_t n = sh_->next_request.fetch_add(1, std::memory_order_relaxed);
    return &sh_->reqs->requests[static_cast<size_t>(n) % sh_->reqs->requests.size()];
  }

  bool Connect(Conn* c) {
    c->fd = socket(sh_->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
      stats_.Error(fmt::format("socket: {}", std::strerror(errno)));
      ++stats_.transport_errors;
      return false;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->last_progress_us = NowUs();
    if (connect(c->fd, reinterpret_cast<const sockaddr*>(&sh_->addr), sh_->addr_len) == 0) {
      return true;
    }
    if (errno == EINPROGRESS) {
      c->state = State::kConnecting;
      SetInterest(c, EPOLLOUT);
      return true;
    }
    stats_.Error(fmt::format("connection {}: connect: {}", c->id, std::strerror(errno)));
    ++stats_.transport_errors;
    close(c->fd);
    c->fd = -1;
    return false;
  }

  // Starts the connection's next request (connecting first if needed).
  void StartNext(Conn* c) {
    c->req = Take();
    if (c->req == nullptr) {
      if (c->fd >= 0) Close(c);
      c->state = State::kClosed;
      return;
    }
    c->sent = 0;
    c->in.clear();
    c->req_start_us = NowUs();
    c->last_progress_us = c->req_start_us;
    ++stats_.requests_sent;
    stats_.events_sent += c->req->events;
    stats_.body_bytes_sent += static_cast<int64_t>(c->req->body_bytes);
    c->fresh = c->fd < 0;
    if (c->fd < 0) {
      if (!Connect(c)) {
        sh_->abort = true;  // cannot reach the server: stop everything
        c->state = State::kClosed;
        return;
      }
      if (c->state == State::kConnecting) return;
    }
    c->state = State::kSending;
    Send(c);
  }

  void Send(Conn* c) {
    const char* base = sh_->reqs->arena.data() + c->req->offset;
    while (c->sent < c->req->size) {
      ssize_t n = send(c->fd, base + c->sent, c->req->size - c->sent, MSG_NOSIGNAL);
      if (n > 0) {
        c->sent += static_cast<size_t>(n);
        c->last_progress_us = NowUs();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetInterest(c, EPOLLOUT | EPOLLIN);
        return;
      }
      // The server closed: read what it said (maybe an error response).
      Fail(c, fmt::format("send after {} of {} bytes: {}", c->sent, c->req->size,
                          n < 0 ? std::strerror(errno) : "0 bytes"),
           /*try_read=*/true);
      return;
    }
    c->state = State::kReceiving;
    SetInterest(c, EPOLLIN);
  }

  void Handle(Conn* c, uint32_t ev) {
    if (c->state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        stats_.Error(fmt::format("connection {}: connect: {}", c->id, std::strerror(err)));
        ++stats_.transport_errors;
        Close(c);
        c->state = State::kClosed;
        sh_->abort = true;
        return;
      }
      c->state = State::kSending;
      Send(c);
      return;
    }
    if (c->state == State::kSending && (ev & EPOLLOUT)) Send(c);
    if ((c->state == State::kSending || c->state == State::kReceiving) &&
        (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
      Receive(c);
    }
  }

  void Receive(Conn* c) {
    char buf[16384];
    bool eof = false;
    while (true) {
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      if (n > 0) {
        c->in.append(buf, static_cast<size_t>(n));
        c->last_progress_us = NowUs();
        if (static_cast<size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Fail(c, fmt::format("recv: {}", std::strerror(errno)), false);
      return;
    }
    Response r;
    size_t consumed = 0;
    std::string err;
    while (true) {
      Parse p = ParseResponse(c->in, eof, &r, &consumed, &err);
      if (p == Parse::kNeedMore) return;
      if (p == Parse::kError) {
        Fail(c, err, false);
        return;
      }
      if (r.status >= 100 && r.status < 200) {  // 100 Continue and the like: skip
        c->in.erase(0, consumed);
        continue;
      }
      break;
    }
    if (c->state == State::kSending) {
      // An answer before the whole request went out (e.g. 413): count it,
      // then the connection cannot be reused.
      r.close = true;
    }
    if (consumed != c->in.size()) {
      Fail(c, fmt::format("{} unexpected bytes after the response", c->in.size() - consumed), false);
      return;
    }
    Complete(c, r);
    if (eof || r.close) {
      Close(c);
      ++stats_.reconnects;
    }
    StartNext(c);
  }

  void Complete(Conn* c, const Response& r) {
    int64_t now = NowUs();
    ++stats_.responses;
    ++stats_.statuses[r.status];
    ++stats_.per_conn[static_cast<size_t>(c->id)];
    stats_.latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(now - c->req_start_us, UINT32_MAX)));
    if (now - c->req_start_us > 1'000'000) {
      ++stats_.slow;
      if (stats_.slow_details.size() < 10) {
        stats_.slow_details.push_back(fmt::format(
            "connection {}: {:.3f} s for request {} on it ({}), sent at {:.3f} s, status {}", c->id,
            (now - c->req_start_us) / 1e6, c->requests_on_conn + 1,
            c->fresh ? "a new connection: includes connect" : "kept alive",
            (c->req_start_us - sh_->start_us) / 1e6, r.status));
      }
    }
    stats_.last_response_us = now;
    ++c->requests_on_conn;
    sh_->done_responses.fetch_add(1, std::memory_order_relaxed);
    if (r.status != 202) {
      stats_.Error(fmt::format("connection {}: status {}: {}", c->id, r.status,
                               std::string_view(r.body).substr(0, 300)));
      return;
    }
    auto accepted = JsonInt(r.body, "accepted");
    auto rejected = JsonInt(r.body, "rejected");
    if (!accepted) {
      ++stats_.accepted_mismatch;
      stats_.Error(fmt::format("connection {}: 202 without \"accepted\": {}", c->id,
                               std::string_view(r.body).substr(0, 300)));
      return;
    }
    stats_.accepted += *accepted;
    stats_.rejected += rejected.value_or(0);
    sh_->done_events.fetch_add(*accepted, std::memory_order_relaxed);
    if (*accepted != c->req->events) {
      ++stats_.accepted_mismatch;
      stats_.Error(fmt::format("connection {}: sent {} events, 202 says: {}", c->id,
                               c->req->events, std::string_view(r.body).substr(0, 300)));
    }
  }

  void Fail(Conn* c, const std::string& what, bool try_read) {
    if (try_read && c->fd >= 0) {
      // A response may already be there (the server answered and closed).
      char buf[16384];
      while (true) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
        c->in.append(buf, static_cast<size_t>(n));
      }
      Response r;
      size_t consumed = 0;
      std::string err;
      if (ParseResponse(c->in, true, &r, &consumed, &err) == Parse::kDone) {
        Complete(c, r);
        Close(c);
        ++stats_.reconnects;
        StartNext(c);
        return;
      }
    }
    ++stats_.transport_errors;
    stats_.Error(fmt::format(
        "connection {} (request {} on it, {} of {} bytes sent, {} response bytes): {}", c->id,
        c->requests_on_conn + 1, c->sent, c->req ? c->req->size : 0, c->in.size(), what));
    Close(c);
    ++stats_.reconnects;
    StartNext(c);
  }

  Shared* sh_;
  int ep_;
  std::vector<std::unique_ptr<Conn>> conns_;
  Stats stats_;
};

// ---------------------------------------------------------------------------
// RSS sampling.

struct RssSample {
  double t_s;
  int64_t rss_kb;
};

std::optional<int64_t> ReadStatusKb(int pid, std::string_view field) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  if (!f) return std::nullopt;
  std::string line;
  while (std::getline(f, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::strtoll(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return std::nullopt;
}

double Percentile(std::vector<uint32_t>& v, double q) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);
  Url url = ParseUrl(opt.url);

  Shared sh;
  sh.opt = &opt;
  {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
      fmt::print(stderr, "http_load: {}: {}\n", url.host, gai_strerror(rc));
      return 1;
    }
    std::memcpy(&sh.addr, res->ai_addr, res->ai_addrlen);
    sh.addr_len = static_cast<socklen_t>(res->ai_addrlen);
    freeaddrinfo(res);
  }

  int64_t gen_start = NowUs();
  RequestSet reqs = BuildRequests(opt, url);
  sh.reqs = &reqs;
  if (!opt.quiet) {
    fmt::print(stderr,
               "http_load: {} distinct bodies of {} events ({:.1f} MB of bodies, built in {:.2f} s); "
               "{} connections on {} thread(s) -> {}\n",
               reqs.requests.size(), opt.events_per_request, reqs.body_bytes / 1e6,
               (NowUs() - gen_start) / 1e6, opt.connections, opt.threads, opt.url);
  }

  // RSS sampler.
  std::vector<RssSample> rss;
  std::optional<int64_t> hwm_start;
  std::atomic<bool> sampling{true};
  std::thread sampler;
  if (opt.rss_pid > 0) {
    auto first = ReadStatusKb(opt.rss_pid, "VmRSS");
    if (!first) {
      fmt::print(stderr, "http_load: --rss-pid {}: no /proc/{}/status\n", opt.rss_pid, opt.rss_pid);
      return 2;
    }
    hwm_start = ReadStatusKb(opt.rss_pid, "VmHWM");
  }

  sh.start_us = NowUs();
  sh.deadline_us = sh.start_us + static_cast<int64_t>(opt.duration_s * 1e6);
  if (opt.rss_pid > 0) {
    sampler = std::thread([&] {
      while (true) {
        auto kb = ReadStatusKb(opt.rss_pid, "VmRSS");
        if (kb) rss.push_back({(NowUs() - sh.start_us) / 1e6, *kb});
        for (int i = 0; i < 20 && sampling.load(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!sampling.load() || !kb) break;
      }
    });
  }

  // Progress, once a second.
  std::atomic<bool> running{true};
  std::thread progress;
  if (!opt.quiet) {
    progress = std::thread([&] {
      int64_t last_r = 0, last_e = 0, last_t = sh.start_us;
      while (running.load()) {
        for (int i = 0; i < 100 && running.load(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!running.load()) break;
        int64_t now = NowUs();
        int64_t r = sh.done_responses.load(), e = sh.done_events.load();
        double dt = (now - last_t) / 1e6;
        std::string rss_now;
        if (opt.rss_pid > 0) {
          if (auto kb = ReadStatusKb(opt.rss_pid, "VmRSS")) rss_now = fmt::format(", rss {:.1f} MB", *kb / 1024.0);
        }
        fmt::print(stderr, "  {:5.1f} s: {:>9.0f} req/s {:>11.0f} events/s{}\n",
                   (now - sh.start_us) / 1e6, (r - last_r) / dt, (e - last_e) / dt, rss_now);
        last_r = r;
        last_e = e;
        last_t = now;
      }
    });
  }

  std::vector<std::unique_ptr<Loop>> loops;
  for (int t = 0; t < opt.threads; ++t) {
    std::vector<int> ids;
    for (int c = t; c < opt.connections; c += opt.threads) ids.push_back(c);
    loops.push_back(std::make_unique<Loop>(&sh, ids));
  }
  std::vector<std::thread> threads;
  for (auto& l : loops) threads.emplace_back([&l] { l->Run(); });
  for (auto& t : threads) t.join();
  int64_t end_us = NowUs();
  running = false;
  if (progress.joinable()) progress.join();
  sampling = false;
  if (sampler.joinable()) sampler.join();
  std::optional<int64_t> hwm_end;
  if (opt.rss_pid > 0) {
    if (auto kb = ReadStatusKb(opt.rss_pid, "VmRSS")) rss.push_back({(NowUs() - sh.start_us) / 1e6, *kb});
    hwm_end = ReadStatusKb(opt.rss_pid, "VmHWM");
  }

  Stats st;
  for (auto& l : loops) st.Merge(std::move(l->stats()));
  // The measured interval: first request to last response.
  int64_t last = st.last_response_us > 0 ? st.last_response_us : end_us;
  double secs = std::max(1e-9, (last - sh.start_us) / 1e6);
  double req_s = st.responses / secs;
  double ev_s = st.accepted / secs;
  double mb_s = st.body_bytes_sent / secs / 1e6;
  std::vector<uint32_t> lat = std::move(st.latency_us);
  double p50 = Percentile(lat, 0.50), p99 = Percentile(lat, 0.99), pmax = Percentile(lat, 1.0);

  int64_t rss_start = 0, rss_max = 0, rss_end = 0, rss_min = 0;
  if (!rss.empty()) {
    rss_start = rss.front().rss_kb;
    rss_end = rss.back().rss_kb;
    rss_min = rss_max = rss_start;
    for (const auto& s : rss) {
      rss_max = std::max(rss_max, s.rss_kb);
      rss_min = std::min(rss_min, s.rss_kb);
    }
  }

  int64_t conn_min = 0, conn_max = 0;
  if (!st.per_conn.empty()) {
    conn_min = *std::min_element(st.per_conn.begin(), st.per_conn.end());
    conn_max = *std::max_element(st.per_conn.begin(), st.per_conn.end());
  }

  std::vector<std::string> failures;
  int64_t non202 = 0;
  for (auto [s, n] : st.statuses) {
    if (s != 202) non202 += n;
  }
  if (non202 > 0) failures.push_back(fmt::format("{} responses not 202", non202));
  if (st.transport_errors > 0) failures.push_back(fmt::format("{} transport errors", st.transport_errors));
  if (st.responses != st.requests_sent) {
    failures.push_back(fmt::format("{} requests sent, {} responses", st.requests_sent, st.responses));
  }
  if (st.accepted != st.events_sent) {
    failures.push_back(fmt::format("accepted {} != events sent {}", st.accepted, st.events_sent));
  }
  if (st.accepted_mismatch > 0) {
    failures.push_back(fmt::format("{} responses whose accepted != the request's events", st.accepted_mismatch));
  }
  if (st.responses == 0) failures.push_back("no responses");
  const bool ok = failures.empty();

  if (opt.json) {
    std::string s = "{";
    s += fmt::format("\"url\":\"{}\",\"connections\":{},\"threads\":{},\"events_per_request\":{},"
                     "\"distinct_bodies\":{},\"distinct_body_bytes\":{},",
                     JsonEscape(opt.url), opt.connections, opt.threads, opt.events_per_request,
                     reqs.requests.size(), reqs.body_bytes);
    s += fmt::format("\"seconds\":{:.3f},\"requests\":{},\"responses\":{},\"events_sent\":{},"
                     "\"accepted\":{},\"rejected\":{},\"body_bytes\":{},",
                     secs, st.requests_sent, st.responses, st.events_sent, st.accepted, st.rejected,
                     st.body_bytes_sent);
    s += fmt::format("\"requests_per_s\":{:.1f},\"events_per_s\":{:.1f},\"mb_per_s\":{:.2f},",
                     req_s, ev_s, mb_s);
    s += fmt::format("\"latency_ms\":{{\"p50\":{:.3f},\"p99\":{:.3f},\"max\":{:.3f}}},", p50, p99,
                     pmax);
    s += "\"statuses\":{";
    bool first = true;
    for (auto [code, n] : st.statuses) {
      s += fmt::format("{}\"{}\":{}", first ? "" : ",", code, n);
      first = false;
    }
    s += fmt::format("}},\"reconnects\":{},\"transport_errors\":{},", st.reconnects,
                     st.transport_errors);
    s += fmt::format("\"per_connection_responses\":{{\"min\":{},\"max\":{}}},\"slow_over_1s\":{},"
                     "\"slow_details\":[",
                     conn_min, conn_max, st.slow);
    for (size_t i = 0; i < st.slow_details.size(); ++i) {
      s += fmt::format("{}\"{}\"", i ? "," : "", JsonEscape(st.slow_details[i]));
    }
    s += "],";
    if (opt.rss_pid > 0) {
      s += fmt::format("\"rss\":{{\"pid\":{},\"start_kb\":{},\"min_kb\":{},\"max_kb\":{},\"end_kb\":{},"
                       "\"hwm_start_kb\":{},\"hwm_end_kb\":{},\"samples\":[",
                       opt.rss_pid, rss_start, rss_min, rss_max, rss_end, hwm_start.value_or(0),
                       hwm_end.value_or(0));
      for (size_t i = 0; i < rss.size(); ++i) {
        s += fmt::format("{}[{:.2f},{}]", i ? "," : "", rss[i].t_s, rss[i].rss_kb);
      }
      s += "]},";
    }
    s += "\"errors\":[";
    for (size_t i = 0; i < st.errors.size(); ++i) {
      s += fmt::format("{}\"{}\"", i ? "," : "", JsonEscape(st.errors[i]));
    }
    s += "],\"failures\":[";
    for (size_t i = 0; i < failures.size(); ++i) {
      s += fmt::format("{}\"{}\"", i ? "," : "", JsonEscape(failures[i]));
    }
    s += fmt::format("],\"ok\":{}}}\n", ok ? "true" : "false");
    fmt::print("{}", s);
  } else {
    fmt::print("http_load: {} connections, {} events/request, {:.2f} s: {} requests, {} events, "
               "{:.1f} MB of bodies\n",
               opt.connections, opt.events_per_request, secs, st.responses, st.accepted,
               st.body_bytes_sent / 1e6);
    fmt::print("  requests/s {:.1f}   events/s {:.0f}   MB/s {:.1f}\n", req_s, ev_s, mb_s);
    fmt::print("  latency ms: p50 {:.2f}  p99 {:.2f}  max {:.2f}\n", p50, p99, pmax);
    std::string statuses;
    for (auto [code, n] : st.statuses) statuses += fmt::format(" {} x {}", code, n);
    fmt::print("  statuses:{}   reconnects {}   transport errors {}   rejected {}\n", statuses,
               st.reconnects, st.transport_errors, st.rejected);
    fmt::print("  responses per connection: min {} max {}   requests over 1 s: {}\n", conn_min,
               conn_max, st.slow);
    if (opt.rss_pid > 0) {
      fmt::print("  rss of pid {} ({} samples, 200 ms): start {:.1f} MB, min {:.1f}, max {:.1f}, "
                 "end {:.1f} MB (VmHWM {:.1f} -> {:.1f} MB)\n",
                 opt.rss_pid, rss.size(), rss_start / 1024.0, rss_min / 1024.0, rss_max / 1024.0,
                 rss_end / 1024.0, hwm_start.value_or(0) / 1024.0, hwm_end.value_or(0) / 1024.0);
    }
  }
  for (const auto& d : st.slow_details) fmt::print(stderr, "http_load: slow: {}\n", d);
  for (const auto& e : st.errors) fmt::print(stderr, "http_load: error: {}\n", e);
  for (const auto& f : failures) fmt::print(stderr, "http_load: FAILED: {}\n", f);
  return ok ? 0 : 1;
}
