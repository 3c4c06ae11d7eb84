#include "api/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "io/process.h"
#include "sinks/store/query.h"
#include "sinks/store/store_db.h"
#include "sources/generator/generator.h"

namespace txpipe::api {
namespace {

namespace st = sinks::store;

constexpr char kJson[] = "application/json";
constexpr char kPrometheus[] = "text/plain; version=0.0.4; charset=utf-8";

int64_t NowMs() { return base::Clock::Real()->NowMicros() / 1000; }

// HTTP status of a query-layer error.
int StatusOf(const base::Status& s) {
  switch (s.code()) {
    case base::Code::kInvalidArgument:
      return 400;
    case base::Code::kNotFound:
    case base::Code::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void Fail(io::ServerResponse& res, const base::Status& s) {
  io::SetJsonError(res, StatusOf(s), s.message());
}

// kInvalidArgument naming the first parameter not in `known`.
base::Status CheckParams(const io::ServerRequest& req,
                         std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : req.params) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || name == k;
    if (ok) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return base::Status::InvalidArgument(fmt::format(
        "{}: unknown parameter{}", name,
        list.empty() ? " (this endpoint takes none)" : fmt::format(" (known: {})", list)));
  }
  return base::Status::OK();
}

// A time parameter (query.h's ParseQueryTime); nullopt when absent.
base::Status TimeParam(const io::ServerRequest& req, std::string_view name,
                       std::optional<int64_t>* out) {
  auto text = req.param(name);
  if (!text) return base::Status::OK();
  auto t = st::ParseQueryTime(*text, NowMs());
  if (!t.ok())
    return base::Status::InvalidArgument(fmt::format("{}: {}", name, t.status().message()));
  *out = *t;
  return base::Status::OK();
}

// An integer parameter; the query layer checks its range.
base::Status IntParam(const io::ServerRequest& req, std::string_view name, int64_t* out) {
  auto text = req.param(name);
  if (!text) return base::Status::OK();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size()) {
    return base::Status::InvalidArgument(fmt::format("{}: not an integer: '{}'", name, *text));
  }
  *out = v;
  return base::Status::OK();
}

class Api {
 public:
  explicit Api(ApiContext context) : ctx_(std::move(context)) {}

  // Opens the store read-only for one request (a StoreDb is one thread's),
  // runs `fn(Query&)`, and writes its result's JSON or the error.
  template <typename Fn>
  void WithQuery(io::ServerResponse& res, Fn fn) const {
    auto db = st::StoreDb::Open(ctx_.store_path, st::OpenMode::kReadOnly);
    if (!db.ok()) {
      if (db.status().code() == base::Code::kNotFound) {
        io::SetJsonError(res, 503, fmt::format("no store at {} yet", ctx_.store_path));
      } else {
        Fail(res, db.status());
      }
      return;
    }
    st::Query query(db->get(), ctx_.broker);
    auto result = fn(query);
    if (!result.ok()) return Fail(res, result.status());
    res.status = 200;
    res.content_type = kJson;
    res.body = result->ToJson();
  }

  void Healthz(const io::ServerRequest&, io::ServerResponse& res) const { res.body = "ok\n"; }

  void Readyz(const io::ServerRequest&, io::ServerResponse& res) const {
    auto db = st::StoreDb::Open(ctx_.store_path, st::OpenMode::kReadOnly);
    if (!db.ok()) {
      res.status = 503;
      res.body = db.status().code() == base::Code::kNotFound
                     ? fmt::format("not ready: no store at {} yet\n", ctx_.store_path)
                     : fmt::format("not ready: store: {}\n", db.status().message());
      return;
    }
    if (ctx_.broker == nullptr) {
      res.status = 503;
      res.body = "not ready: no broker\n";
      return;
    }
    if (auto problems = ctx_.metrics->Problems(); !problems.empty()) {
      res.status = 503;
      res.body.clear();
      for (const auto& [component, problem] : problems) {
        res.body += fmt::format("not ready: {}: {}\n", component, problem);
      }
      return;
    }
    res.body = "ready\n";
  }

  void Metrics(const io::ServerRequest&, io::ServerResponse& res) const {
    res.content_type = kPrometheus;
    res.body = ctx_.metrics->Prometheus();
    // The process's and the server's own figures, read now.
    io::ProcessStats p = io::ReadProcessStats();
    auto add = [&](std::string_view name, std::string_view type, std::string_view help,
                   double value) {
      res.body += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
    };
    add("txpipe_process_resident_memory_bytes", "gauge", "Resident memory size in bytes",
        static_cast<double>(p.resident_bytes));
    add("txpipe_process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes",
        static_cast<double>(p.virtual_bytes));
    add("txpipe_process_cpu_seconds_total", "counter", "User and system CPU time in seconds",
        p.cpu_seconds);
    add("txpipe_process_threads", "gauge", "Threads of the process", static_cast<double>(p.threads));
    add("txpipe_process_open_fds", "gauge", "Open file descriptors", static_cast<double>(p.open_fds));
    add("txpipe_process_start_time_seconds", "gauge", "Start time since the epoch in seconds",
        static_cast<double>(p.start_time_seconds));
    if (ctx_.server) {
      io::HttpServerStats s = ctx_.server->stats();
      add("txpipe_http_connections_total", "counter", "HTTP connections served",
          static_cast<double>(s.connections));
      add("txpipe_http_connections_rejected_total", "counter",
          "HTTP connections refused (503) over max_connections",
          static_cast<double>(s.connections_rejected));
      add("txpipe_http_header_timeouts_total", "counter",
          "HTTP connections closed for sending headers too slowly",
          static_cast<double>(s.header_timeouts));
      add("txpipe_http_open_connections", "gauge", "HTTP connections open now",
          static_cast<double>(s.open_connections));
    }
  }

  // GET /api/stream_car_transactions: the seed's endpoint. Car transactions
  // from the generator, at `rate` per second (default 10), `count` of them
  // (default: until the client goes away), as NDJSON or as SSE.
  void StreamCars(const io::ServerRequest& req, io::ServerResponse& res) const {
    if (auto s = CheckParams(req, {"rate", "count"}); !s.ok()) return Fail(res, s);
    double rate = 10;
    if (auto r = req.param("rate")) {
      char* end = nullptr;
      rate = std::strtod(r->c_str(), &end);
      if (r->empty() || *end != '\0' || !(rate >= 0.01 && rate <= 100'000)) {
        return Fail(res, base::Status::InvalidArgument(
                             fmt::format("rate: want events per second from 0.01 to 100000, got '{}'", *r)));
      }
    }
    int64_t count = 0;
    if (auto s = IntParam(req, "count", &count); !s.ok()) return Fail(res, s);
    if (count < 0) return Fail(res, base::Status::InvalidArgument("count: must be 0 (no end) or more"));
    const bool sse = req.header("Accept").value_or("").find("text/event-stream") != std::string::npos;
    res.content_type = sse ? "text/event-stream" : "application/x-ndjson";
    res.headers.emplace_back("Cache-Control", "no-cache");
    auto generated = ctx_.metrics->counter("txpipe_http_car_stream_events_total",
                                           "Car transactions sent by GET /api/stream_car_transactions");
    res.stream = [rate, count, sse, generated](io::ResponseStream& out) {
      base::Clock* clock = base::Clock::Real();
      auto gen = sources::generator::MakeGenerator("cars", static_cast<uint64_t>(clock->NowMicros()));
      if (!gen.ok()) return;
      sources::generator::Buffer buf;
      std::string chunk;
      const int64_t start = clock->MonotonicMicros();
      int64_t sent = 0;
      int64_t last_write = start;
      while (count == 0 || sent < count) {
        int64_t now = clock->MonotonicMicros();
        int64_t due = static_cast<int64_t>((now - start) / 1e6 * rate) + 1;  // the first at once
        if (count > 0) due = std::min(due, count);
        chunk.clear();
        for (; sent < due; ++sent) {
          buf.Clear();
          (*gen)->Append(clock->NowMicros(), &buf);
          std::string_view line = buf.view();
          if (sse) {
            line.remove_suffix(1);  // the '\n'
            chunk += fmt::format("id: {}\ndata: ", sent);
            chunk += line;
            chunk += "\n\n";
          } else {
            chunk += line;
          }
        }
        if (chunk.empty() && sse && now - last_write > 15'000'000) chunk = ": ping\n\n";
        if (!chunk.empty()) {
          if (!out.Write(chunk)) return;
          generated->Add(static_cast<uint64_t>(std::count(chunk.begin(), chunk.end(), '\n')) / (sse ? 3 : 1));
          last_write = now;
        }
        if (count > 0 && sent >= count) return;
        // Until the next event is due, at most 100 ms (to notice a client gone).
        int64_t next_us = start + static_cast<int64_t>(sent / rate * 1e6);
        int64_t wait_ms = std::clamp<int64_t>((next_us - clock->MonotonicMicros()) / 1000, 1, 100);
        if (!out.Wait(wait_ms)) return;
      }
    };
  }

  void Streams(const io::ServerRequest& req, io::ServerResponse& res) const {
    if (auto s = CheckParams(req, {}); !s.ok()) return Fail(res, s);
    WithQuery(res, [](st::Query& q) { return q.Streams(); });
  }

  void Series(const io::ServerRequest& req, io::ServerResponse& res) const {
    st::SeriesRequest r;
    if (auto s = CheckParams(req, {"stream", "window", "by", "measure", "from", "to"}); !s.ok()) {
      return Fail(res, s);
    }
    if (auto s = TimeParam(req, "from", &r.from_ms); !s.ok()) return Fail(res, s);
    if (auto s = TimeParam(req, "to", &r.to_ms); !s.ok()) return Fail(res, s);
    r.stream = req.param("stream").value_or("");
    r.window = req.param("window").value_or("");
    if (auto by = req.param("by")) r.by = *by;
    if (auto m = req.param("measure")) r.measure = *m;
    WithQuery(res, [&r](st::Query& q) { return q.Series(r); });
  }

  void Alerts(const io::ServerRequest& req, io::ServerResponse& res) const {
    st::AlertsRequest r;
    if (auto s = CheckParams(req, {"since", "limit"}); !s.ok()) return Fail(res, s);
    std::optional<int64_t> since;
    if (auto s = TimeParam(req, "since", &since); !s.ok()) return Fail(res, s);
    if (since) r.since_ms = *since;
    if (auto s = IntParam(req, "limit", &r.limit); !s.ok()) return Fail(res, s);
    WithQuery(res, [&r](st::Query& q) { return q.Alerts(r); });
  }

  void Recent(const io::ServerRequest& req, io::ServerResponse& res) const {
    st::RecentRequest r;
    if (auto s = CheckParams(req, {"stream", "limit"}); !s.ok()) return Fail(res, s);
    r.stream = req.param("stream").value_or("");
    if (auto s = IntParam(req, "limit", &r.limit); !s.ok()) return Fail(res, s);
    WithQuery(res, [&r](st::Query& q) { return q.Recent(r); });
  }

  void Stats(const io::ServerRequest& req, io::ServerResponse& res) const {
    if (auto s = CheckParams(req, {}); !s.ok()) return Fail(res, s);
    WithQuery(res, [](st::Query& q) { return q.Stats(); });
  }

 private:
  const ApiContext ctx_;
};

}  // namespace

// Streaming responses open at once, against ApiContext::max_streams.
class StreamSlots {
 public:
  explicit StreamSlots(size_t max) : max_(max) {}
  bool TryTake() {
    size_t n = used_.load();
    do {
      if (n >= max_) return false;
    } while (!used_.compare_exchange_weak(n, n + 1));
    return true;
  }
  void Give() { used_.fetch_sub(1); }
  size_t max() const { return max_; }

 private:
  const size_t max_;
  std::atomic<size_t> used_{0};
};

void RegisterApi(io::HttpServer* server, ApiContext context) {
  // Without a registry (tests), a private one that the routes keep alive.
  std::shared_ptr<runtime::Metrics> own;
  if (!context.metrics) {
    own = std::make_shared<runtime::Metrics>();
    context.metrics = own.get();
  }
  auto api = std::make_shared<const Api>(context);
  runtime::Metrics* metrics = context.metrics;
  auto slots = std::make_shared<StreamSlots>(context.max_streams);
  // Every route counts its requests by status and times them.
  auto timed = [metrics, own](std::string path, io::ServerHandler handler) {
    auto* latency = metrics->histogram("txpipe_http_request_duration_seconds",
                                       "Time to answer an HTTP request (streams: to start)",
                                       runtime::LatencyBuckets(), {{"path", path}});
    return [metrics, own, path, latency, handler = std::move(handler)](
               const io::ServerRequest& req, io::ServerResponse& res) {
      int64_t start = base::Clock::Real()->MonotonicMicros();
      handler(req, res);
      latency->Observe((base::Clock::Real()->MonotonicMicros() - start) / 1e6);
      metrics
          ->counter("txpipe_http_requests_total", "HTTP requests answered, by path and status",
                    {{"path", path}, {"code", std::to_string(res.status)}})
          ->Add();
    };
  };
  // A streaming route holds one of the slots while it streams.
  auto streaming = [slots, metrics](io::ServerHandler handler) {
    auto* refused = metrics->counter("txpipe_http_streams_refused_total",
                                     "Streaming requests refused (503) over max_streams");
    return [slots, refused, handler = std::move(handler)](const io::ServerRequest& req,
                                                          io::ServerResponse& res) {
      if (!slots->TryTake()) {
        refused->Add();
        io::SetJsonError(res, 503, fmt::format("too many open streams (max_streams {})", slots->max()));
        res.headers.emplace_back("Retry-After", "5");
        return;
      }
      handler(req, res);
      if (!res.stream) {
        slots->Give();
        return;
      }
      res.stream = [slots, inner = std::move(res.stream)](io::ResponseStream& out) {
        struct Release {
          StreamSlots* s;
          ~Release() { s->Give(); }
        } release{slots.get()};
        inner(out);
      };
    };
  };
  auto route = [&](const char* path, auto method) {
    return timed(path, [api, method](const io::ServerRequest& req, io::ServerResponse& res) {
      ((*api).*method)(req, res);
    });
  };
  server->Get("/healthz", route("/healthz", &Api::Healthz));
  server->Get("/readyz", route("/readyz", &Api::Readyz));
  server->Get("/metrics", route("/metrics", &Api::Metrics));
  server->Get("/api/v1/streams", route("/api/v1/streams", &Api::Streams));
  server->Get("/api/v1/series", route("/api/v1/series", &Api::Series));
  server->Get("/api/v1/alerts", route("/api/v1/alerts", &Api::Alerts));
  server->Get("/api/v1/recent", route("/api/v1/recent", &Api::Recent));
  server->Get("/api/v1/stats", route("/api/v1/stats", &Api::Stats));
  server->Get("/api/stream_car_transactions",
              streaming(route("/api/stream_car_transactions", &Api::StreamCars)));
  if (context.live) {
    LiveHub* live = context.live;
    server->Get("/api/v1/live",
                streaming(timed("/api/v1/live", [live](const io::ServerRequest& req,
                                                       io::ServerResponse& res) {
                  live->Handle(req, res);
                })));
  }
  if (context.ingest) {
    Ingest* ingest = context.ingest;
    server->Post("/api/logs", timed("/api/logs", [ingest](const io::ServerRequest& req,
                                                          io::ServerResponse& res) {
                   ingest->Handle(req, res);
                 }));
  }
}

}  // namespace txpipe::api
