#include "api/api.h"

#include <fmt/format.h>

#include <charconv>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "sinks/store/query.h"
#include "sinks/store/store_db.h"

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
    res.body = "ready\n";
  }

  void Metrics(const io::ServerRequest&, io::ServerResponse& res) const {
    res.content_type = kPrometheus;
    if (ctx_.metrics) res.body = ctx_.metrics->Prometheus();
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

void RegisterApi(io::HttpServer* server, ApiContext context) {
  auto api = std::make_shared<const Api>(std::move(context));
  auto route = [&](auto method) {
    return [api, method](const io::ServerRequest& req, io::ServerResponse& res) {
      ((*api).*method)(req, res);
    };
  };
  server->Get("/healthz", route(&Api::Healthz));
  server->Get("/readyz", route(&Api::Readyz));
  server->Get("/metrics", route(&Api::Metrics));
  server->Get("/api/v1/streams", route(&Api::Streams));
  server->Get("/api/v1/series", route(&Api::Series));
  server->Get("/api/v1/alerts", route(&Api::Alerts));
  server->Get("/api/v1/recent", route(&Api::Recent));
  server->Get("/api/v1/stats", route(&Api::Stats));
}

}  // namespace txpipe::api
