// txpipe query streams|series|alerts|recent|stats: read the embedded store
// (docs/store.md) as a table or JSON, the same answers as the HTTP API's
// /api/v1/ endpoints. The store is opened read-only, so it works while a
// pipeline writes it; `query stats` also opens the log read-only for live
// consumer lag.
#include <fmt/format.h>

#include <cstdio>

#include "app/cli.h"
#include "brokers/embedded/embedded_broker.h"
#include "sinks/store/query.h"

namespace txpipe::app {

namespace {

namespace st = sinks::store;

struct QueryFlags {
  std::string data_dir = "txpipe-data";
  std::string store;  // "" = <data_dir>/store.db
  std::string log_dir = "log";
  std::string stream;
  std::string window;
  std::string by = "total";
  std::string measure = "count";
  std::string from;
  std::string to;
  std::string since;
  std::string limit;
  bool json = false;
};

int64_t NowMs() { return base::Clock::Real()->NowMicros() / 1000; }

// RFC 3339, epoch ms, now, or -15m.
CLI::Validator QueryTime() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        auto t = st::ParseQueryTime(s, NowMs());
        return t.ok() ? std::string() : t.status().message();
      },
      "TIME");
}

std::string StorePath(const QueryFlags& f) {
  if (!f.store.empty()) return f.store;
  return f.data_dir + "/store.db";
}

// Prints one line for an error and returns the exit code. A request error
// ("window: unknown window ...") names the flag it came from.
int Fail(const std::string& cmd, const base::Status& s) {
  std::string msg = s.message();
  if (s.code() == base::Code::kInvalidArgument) {
    for (const char* p : {"stream", "window", "by", "measure", "from", "to", "since", "limit"}) {
      std::string prefix = std::string(p) + ": ";
      if (msg.starts_with(prefix)) {
        msg = "--" + msg;
        break;
      }
    }
  }
  fmt::print(stderr, "txpipe query {}: {}\n", cmd, msg);
  return s.code() == base::Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

// Opens the store read-only; on failure prints why and sets `code`.
std::unique_ptr<st::StoreDb> OpenStore(const std::string& cmd, const QueryFlags& f, int* code) {
  const std::string path = StorePath(f);
  auto db = st::StoreDb::Open(path, st::OpenMode::kReadOnly);
  if (db.ok()) return std::move(db).value();
  if (db.status().code() == base::Code::kNotFound) {
    fmt::print(stderr,
               "txpipe query {}: no store at {}: is a store sink configured? (a [sinks.NAME] with "
               "type = \"store\"; see --data-dir, --store)\n",
               cmd, path);
    *code = kExitFailure;
    return nullptr;
  }
  *code = Fail(cmd, db.status());
  return nullptr;
}

template <typename R>
int Print(const std::string& cmd, const base::Result<R>& r, bool json) {
  if (!r.ok()) return Fail(cmd, r.status());
  std::string out = json ? r->ToJson() + "\n" : r->ToTable();
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return kExitOk;
}

std::optional<int64_t> TimeFlag(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto t = st::ParseQueryTime(text, NowMs());  // checked by the validator
  return t.ok() ? std::optional<int64_t>(*t) : std::nullopt;
}

int64_t LimitFlag(const std::string& text) {
  return text.empty() ? st::kDefaultLimit : static_cast<int64_t>(ParseUint(text));
}

int Streams(const QueryFlags& f) {
  int code = kExitOk;
  auto db = OpenStore("streams", f, &code);
  if (!db) return code;
  st::Query q(db.get());
  return Print("streams", q.Streams(), f.json);
}

int Series(const QueryFlags& f) {
  int code = kExitOk;
  auto db = OpenStore("series", f, &code);
  if (!db) return code;
  st::Query q(db.get());
  st::SeriesRequest r;
  r.stream = f.stream;
  r.window = f.window;
  r.by = f.by;
  r.measure = f.measure;
  r.from_ms = TimeFlag(f.from);
  r.to_ms = TimeFlag(f.to);
  return Print("series", q.Series(r), f.json);
}

int Alerts(const QueryFlags& f) {
  int code = kExitOk;
  auto db = OpenStore("alerts", f, &code);
  if (!db) return code;
  st::Query q(db.get());
  st::AlertsRequest r;
  r.since_ms = TimeFlag(f.since).value_or(0);
  r.limit = LimitFlag(f.limit);
  return Print("alerts", q.Alerts(r), f.json);
}

int Recent(const QueryFlags& f) {
  int code = kExitOk;
  auto db = OpenStore("recent", f, &code);
  if (!db) return code;
  st::Query q(db.get());
  st::RecentRequest r;
  r.stream = f.stream;
  r.limit = LimitFlag(f.limit);
  return Print("recent", q.Recent(r), f.json);
}

int Stats(const QueryFlags& f) {
  int code = kExitOk;
  auto db = OpenStore("stats", f, &code);
  if (!db) return code;
  // The log, read-only and without its lock, for live lag; without it the
  // lag is the one of the newest snapshot.
  log::LogOptions lo;
  lo.read_only = true;
  const std::string log_dir = f.log_dir.starts_with("/") ? f.log_dir : f.data_dir + "/" + f.log_dir;
  auto broker = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), log_dir, lo);
  st::Query q(db.get(), broker.ok() ? broker->get() : nullptr);
  return Print("stats", q.Stats(), f.json);
}

}  // namespace

Command AddQuery(CLI::App& app) {
  auto f = std::make_shared<QueryFlags>();
  Command c;
  CLI::App* cmd =
      app.add_subcommand("query", "Query windows, alerts and recent events in the embedded store");
  cmd->require_subcommand(1);
  cmd->footer(
      "Times (--from, --to, --since): RFC 3339 (2026-11-23T14:00:00Z), epoch ms, now, or "
      "relative (-15m, -2h).");
  auto common = [f](CLI::App* s) {
    s->add_option("--data-dir", f->data_dir, "The pipeline's data_dir")->default_str("txpipe-data");
    s->add_option("--store", f->store, "The store file (default: <data-dir>/store.db)");
    s->add_flag("--json", f->json, "Print JSON (as the HTTP API) instead of a table");
  };
  std::vector<std::pair<CLI::App*, std::function<int()>>> subs;

  CLI::App* streams =
      cmd->add_subcommand("streams", "Streams with their windows, dimensions, measures");
  common(streams);
  subs.emplace_back(streams, [f] { return Streams(*f); });

  CLI::App* series = cmd->add_subcommand(
      "series", "A measure per window, one column per value of a dimension (uPlot's shape)");
  common(series);
  series->add_option("--stream", f->stream, "Stream (the processor's name)")->required();
  series->add_option("--window", f->window, "Window size, as the stream names it (10s, 1m)")
      ->required();
  series->add_option("--by", f->by, "Dimension, or total")->default_str("total");
  series
      ->add_option("--measure", f->measure,
                   "count, a field (amount_avg, failed_ratio) or a measure (amount = amount_sum)")
      ->default_str("count");
  series->add_option("--from", f->from, "First window start (default: 1 h before --to)")
      ->check(QueryTime());
  series->add_option("--to", f->to, "Last window start (default: the newest window)")
      ->check(QueryTime());
  subs.emplace_back(series, [f] { return Series(*f); });

  CLI::App* alerts = cmd->add_subcommand("alerts", "Alerts, newest first");
  common(alerts);
  alerts->add_option("--since", f->since, "Only alerts at or after this time")->check(QueryTime());
  alerts->add_option("--limit", f->limit, "At most this many")
      ->default_str(std::to_string(st::kDefaultLimit))
      ->check(NonNegativeInteger());
  subs.emplace_back(alerts, [f] { return Alerts(*f); });

  CLI::App* recent =
      cmd->add_subcommand("recent", "The newest raw events of a stream, newest first");
  common(recent);
  recent->add_option("--stream", f->stream, "Stream or topic (default: every topic)");
  recent->add_option("--limit", f->limit, "At most this many")
      ->default_str(std::to_string(st::kDefaultLimit))
      ->check(NonNegativeInteger());
  subs.emplace_back(recent, [f] { return Recent(*f); });

  CLI::App* stats = cmd->add_subcommand(
      "stats", "Events per second per topic, consumer lag per group, rejects by reason");
  common(stats);
  stats->add_option("--log-dir", f->log_dir, "The log directory, under data_dir ([broker] dir)")
      ->default_str("log");
  subs.emplace_back(stats, [f] { return Stats(*f); });

  c.cli = cmd;
  c.run = [subs]() -> int {
    for (const auto& [s, run] : subs) {
      if (s->parsed()) return run();
    }
    return kExitUsage;
  };
  return c;
}

}  // namespace txpipe::app
