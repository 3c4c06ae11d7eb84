// txpipe up: the whole embedded pipeline on this machine, from the built-in
// config (config/embedded.toml) or -c FILE: the finance generator writing
// seed-style files into the spooldir source's folder, the car generator
// posting to the HTTP server's POST /api/logs, and the server with the
// dashboard.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <thread>
#include <vector>

#include "app/cli.h"
#include "app/http_service.h"
#include "app/pipeline.h"
#include "base/logging.h"
#include "io/http_client.h"
#include "runtime/metrics.h"
#include "sources/generator/generator.h"
#include "sources/generator/runner.h"

namespace txpipe::app {

extern const char* const kEmbeddedConfig;  // generated from config/embedded.toml

namespace {

struct UpFlags {
  std::string config;
  std::string data_dir;
  std::string rate = "20";
  double car_rate = 5;
  bool no_generate = false;
  std::optional<std::string> listen;  // else [http] listen of the config
  // --influxdb: also write windows, alerts and raw events to this InfluxDB.
  std::string influxdb;
  std::string influxdb_database = "txpipe";  // v1
  std::string influxdb_org, influxdb_bucket;  // v2 (token from INFLUX_TOKEN)
  std::string influxdb_per_event = "lean";
};

// A TOML basic string: "text", with quotes and backslashes escaped.
std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

// The [sinks.influxdb] that --influxdb adds: every analytics processor's
// input, windows and alerts topics, as lean points (docs/influxdb.md).
base::Status AddInfluxSink(const UpFlags& f, config::Node* root) {
  std::vector<std::string> topics;
  auto add = [&](const std::string& t) {
    if (std::find(topics.begin(), topics.end(), t) == topics.end()) topics.push_back(t);
  };
  if (const config::Node* procs = root->Get("processors"); procs && procs->is_table()) {
    for (const auto& [name, node] : procs->as_table()) {
      auto str = [&](const char* key, std::string dflt) {
        const config::Node* n = node.Get(key);
        return n && n->is_string() ? n->as_string() : dflt;
      };
      if (str("type", "") != "analytics") continue;
      const std::string topic = str("topic", "");
      if (topic.empty()) continue;
      add(str("windows_topic", topic + ".windows"));
      add(str("alerts_topic", "alerts"));
      add(topic);
    }
  }
  if (topics.empty()) {
    return base::Status::InvalidArgument(
        "--influxdb: the config has no analytics processor, so nothing to write");
  }
  std::string toml = "[sinks.influxdb]\ntype = \"influxdb\"\ntopics = [";
  for (size_t i = 0; i < topics.size(); ++i) toml += (i ? ", " : "") + TomlString(topics[i]);
  toml += "]\nurl = " + TomlString(f.influxdb) + "\n";
  toml += "per_event = " + TomlString(f.influxdb_per_event) + "\n";
  if (!f.influxdb_org.empty()) {
    toml += "api = \"v2\"\norg = " + TomlString(f.influxdb_org) +
            "\nbucket = " + TomlString(f.influxdb_bucket) + "\ntoken_env = \"INFLUX_TOKEN\"\n";
  } else {
    toml += "database = " + TomlString(f.influxdb_database) + "\ncreate_database = true\n";
    if (const char* t = std::getenv("INFLUX_TOKEN"); t && *t) toml += "token_env = \"INFLUX_TOKEN\"\n";
  }
  auto extra = config::ParseToml(toml, "txpipe up --influxdb");
  if (!extra.ok()) return extra.status();
  config::Node::Table& top = root->as_table();
  auto sinks = top.find("sinks");
  if (sinks == top.end()) sinks = top.emplace("sinks", config::Node::MakeTable("sinks")).first;
  if (!sinks->second.is_table() || sinks->second.Get("influxdb")) {
    return base::Status::InvalidArgument(
        "--influxdb: the config already has a [sinks.influxdb]; rename it or drop the flag");
  }
  sinks->second.Set("influxdb", *extra->Get("sinks")->Get("influxdb"));
  return base::Status::OK();
}

// The spool folder of the first spooldir source that reads `topic`.
std::string SpoolFolderFor(const config::Node& root, const std::string& data_dir,
                           const std::string& topic) {
  const config::Node* sources = root.Get("sources");
  if (!sources || !sources->is_table()) return "";
  for (const auto& [name, node] : sources->as_table()) {
    const config::Node* type = node.Get("type");
    const config::Node* t = node.Get("topic");
    const config::Node* dir = node.Get("spool_dir");
    if (type && type->is_string() && type->as_string() == "spooldir" && t && t->is_string() &&
        t->as_string() == topic && dir && dir->is_string()) {
      return dir->as_string().starts_with("/") ? dir->as_string()
                                               : data_dir + "/" + dir->as_string();
    }
  }
  return "";
}

// The seed's dealers' web servers: posts generated car transactions to
// POST /api/logs of `url` (this process's own server), a body of the events
// due every 200 ms. A body that was not accepted is sent again (the events
// keep their times): nothing generated is lost while the process runs.
void PostCars(const std::string& url, double rate, uint64_t seed, const base::StopFlag& stop,
              runtime::Metrics* metrics) {
  auto gen = sources::generator::MakeGenerator("cars", seed);
  auto client = io::HttpClient::Create();
  if (!gen.ok() || !client.ok()) return;
  runtime::Counter* retries = metrics->counter(
      "txpipe_up_car_post_retries_total", "Car generator bodies sent again (txpipe up)");
  base::Clock* clock = base::Clock::Real();
  sources::generator::Buffer buf;
  const int64_t start = clock->MonotonicMicros();
  uint64_t made = 0;
  while (!stop.requested()) {
    int64_t now = clock->MonotonicMicros();
    auto due = static_cast<uint64_t>((now - start) / 1e6 * rate);
    // At most 10 s of events wait in one body.
    for (; made < due && buf.size() < (8u << 20); ++made) (*gen)->Append(clock->NowMicros(), &buf);
    if (buf.size() > 0) {
      auto r = (*client)->Post(url, buf.view(), {{"Content-Type", "application/x-ndjson"}}, 10'000,
                               &stop);
      if (r.ok() && r->status == 202) {
        buf.Clear();
      } else {
        retries->Add();
        TXP_LOG_WARN("up: car generator: POST {}: {}", url,
                     r.ok() ? fmt::format("HTTP {}: {}", r->status, r->body)
                            : r.status().ToString());
        clock->SleepUntil(clock->MonotonicMicros() + 1'000'000, stop);
        continue;
      }
    }
    clock->SleepUntil(now + 200'000, stop);
  }
}

// One status line: events/s into the log, then per topic its events, the
// consumer lag and the rejects (dead-letter topics).
class StatusLine {
 public:
  std::string Next(runtime::Broker* broker) {
    int64_t now = base::Clock::Real()->MonotonicMicros();
    uint64_t events = 0, rejects = 0, lag = 0;
    std::string topics;
    for (const auto& topic : broker->Topics()) {
      auto info = broker->Describe(topic);
      if (!info.ok()) continue;
      uint64_t n = 0;
      for (const auto& part : info->partitions) n += part.end_offset - part.start_offset;
      if (topic.ends_with(".dlq")) {
        rejects += n;
      } else if (!topic.ends_with(".windows") && topic != "alerts") {
        events += n;
        topics += fmt::format(" | {} {}", topic, Thousands(n));
      }
    }
    for (const auto& group : broker->Groups()) {
      for (const auto& [tp, committed] : broker->GroupOffsets(group)) {
        auto info = broker->Describe(tp.topic);
        if (info.ok() && tp.partition < static_cast<int>(info->partitions.size())) {
          uint64_t end = info->partitions[tp.partition].end_offset;
          lag += end > committed ? end - committed : 0;
        }
      }
    }
    double rate = last_at_ ? (events - last_events_) / ((now - last_at_) / 1e6) : 0;
    last_events_ = events;
    last_at_ = now;
    return fmt::format("{:.0f} events/s{} | lag {} | rejects {}", rate, topics, Thousands(lag),
                       Thousands(rejects));
  }

 private:
  uint64_t last_events_ = 0;
  int64_t last_at_ = 0;
};

int RunUp(const UpFlags& f) {
  auto root = f.config.empty() ? config::ParseToml(kEmbeddedConfig, "config/embedded.toml (built in)")
                               : config::LoadTomlFile(f.config);
  if (!root.ok()) {
    fmt::print(stderr, "txpipe up: {}\n", root.status().message());
    return kExitUsage;
  }
  if (!f.data_dir.empty()) {
    root->Set("data_dir", config::Node::String(f.data_dir, "data_dir"));
  }
  if (!f.influxdb.empty()) {
    if (base::Status s = AddInfluxSink(f, &*root); !s.ok()) {
      fmt::print(stderr, "txpipe up: {}\n", s.message());
      return kExitUsage;
    }
  }
  auto p = ParsePipeline(*root);
  if (!p.ok()) {
    fmt::print(stderr, "txpipe up: {}\n", p.status().message());
    return kExitUsage;
  }
  if (f.listen) p->http.listen = *f.listen;
  const bool serve = !p->http.listen.empty();
  p->http.present = p->http.present || serve;
  InstallSignalHandlers();
  runtime::Metrics metrics;
  base::StopFlag generators_stop;
  std::vector<std::thread> generators;
  std::string spool = SpoolFolderFor(*root, p->data_dir, "finance");
  const uint64_t seed = static_cast<uint64_t>(base::Clock::Real()->NowMicros());
  if (!f.no_generate && !spool.empty()) {
    sources::generator::RunOptions o;
    o.kind = "finance";
    o.rate = ParseRate(f.rate);
    o.out_dir = spool;
    o.seed = seed;
    generators.emplace_back([o, &generators_stop] {
      auto r = sources::generator::RunGenerator(o, base::Clock::Real(), generators_stop);
      if (!r.ok()) fmt::print(stderr, "txpipe up: generator: {}\n", r.status().message());
    });
    fmt::print(stderr, "txpipe up: generating finance transactions at {}/s into {}\n", f.rate,
               spool);
  }
  // The generators stop with the process, before the pipeline drains.
  std::thread stopper([&] {
    base::Clock* clock = base::Clock::Real();
    while (clock->SleepUntil(clock->MonotonicMicros() + 1'000'000, ProcessStop())) {
    }
    generators_stop.Request();
  });
  // On a terminal: one status line, rewritten every 5 s.
  const bool tty = isatty(STDERR_FILENO);
  base::Clock* clock = base::Clock::Real();
  int64_t next_status = clock->MonotonicMicros() + 5'000'000;
  StatusLine status;
  std::unique_ptr<HttpService> http;
  PipelineHooks hooks;
  hooks.on_tick = [&](runtime::Broker* broker) {
    int64_t now = clock->MonotonicMicros();
    if (!tty || now < next_status) return;
    next_status = now + 5'000'000;
    fmt::print(stderr, "\r\033[K{}", status.Next(broker));
  };
  hooks.on_start = [&](runtime::Broker* broker) -> base::Status {
    if (!serve) return base::Status::OK();
    auto started = HttpService::Start(*p, broker, &metrics);
    if (!started.ok()) {
      return base::Status(started.status().code(),
                          started.status().message() + " (choose another with --listen HOST:PORT)");
    }
    http = std::move(started).value();
    fmt::print(stderr,
               "txpipe up: serving {} (the dashboard; API under /api/v1/, POST /api/logs, "
               "/metrics)\n",
               http->url());
    if (!f.no_generate && f.car_rate > 0) {
      std::string url = http->url() + "api/logs";
      double rate = f.car_rate;
      generators.emplace_back([url, rate, seed, &generators_stop, &metrics] {
        PostCars(url, rate, seed ^ 0x9e3779b97f4a7c15ull, generators_stop, &metrics);
      });
      fmt::print(stderr, "txpipe up: generating car transactions at {}/s into POST {}\n",
                 f.car_rate, url);
    }
    fmt::print(stderr, "txpipe up: pipeline {} with data in {}. Ctrl-C stops.\n", p->origin,
               p->data_dir);
    return base::Status::OK();
  };
  hooks.on_stop = [&] {
    generators_stop.Request();  // the car generator posts to the server
    for (auto& g : generators) {
      if (g.joinable()) g.join();
    }
    if (http) http->Stop();
  };
  base::Status s = RunPipeline(*p, ProcessStop(), &metrics, hooks);
  if (tty) fmt::print(stderr, "\n");
  ProcessStop().Request();
  stopper.join();
  generators_stop.Request();
  for (auto& g : generators) {
    if (g.joinable()) g.join();
  }
  if (!s.ok()) {
    fmt::print(stderr, "txpipe up: {}\n", s.message());
    return kExitFailure;
  }
  fmt::print(stderr, "txpipe up: stopped\n");
  return kExitOk;
}

}  // namespace

Command AddUp(CLI::App& app) {
  auto flags = std::make_shared<UpFlags>();
  Command c;
  CLI::App* cmd = app.add_subcommand("up", "Run the embedded pipeline on this machine");
  cmd->footer("Without -c, runs the built-in config/embedded.toml (print it: txpipe up --print-config).");
  cmd->add_option("-c,--config", flags->config, "Pipeline config instead of the built-in one");
  cmd->add_option("--data-dir", flags->data_dir, "Where txpipe keeps its data (overrides data_dir)");
  cmd->add_option("--rate", flags->rate, "Finance events per second to generate")
      ->default_str("20")
      ->check(RateValue());
  cmd->add_option("--car-rate", flags->car_rate,
                  "Car transactions per second to POST to /api/logs (0 = none)")
      ->default_str("5")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_flag("--no-generate", flags->no_generate, "Do not run the generators");
  auto* influx = cmd->add_option("--influxdb", flags->influxdb,
                                 "Also write windows, alerts and events to this InfluxDB "
                                 "(http://HOST:8086; docs/influxdb.md)");
  cmd->add_option("--influxdb-database", flags->influxdb_database,
                  "InfluxDB 1.x database (created if missing)")
      ->default_str("txpipe")
      ->needs(influx);
  auto* org = cmd->add_option("--influxdb-org", flags->influxdb_org,
                              "InfluxDB 2.x / Cloud organization (token from INFLUX_TOKEN)")
                  ->needs(influx);
  auto* bucket =
      cmd->add_option("--influxdb-bucket", flags->influxdb_bucket, "InfluxDB 2.x / Cloud bucket")
          ->needs(influx);
  org->needs(bucket);
  bucket->needs(org);
  cmd->add_option("--influxdb-per-event", flags->influxdb_per_event,
                  "Raw events: off, lean (low-cardinality tags) or seed (the seed's "
                  "finance_transaction_data)")
      ->default_str("lean")
      ->check(CLI::IsMember({"off", "lean", "seed"}))
      ->needs(influx);
  cmd->add_option("--listen", flags->listen,
                  "HTTP address of the dashboard and API (HOST:PORT; port 0 = any free one; "
                  "\"\" = no server). Default: [http] listen, 127.0.0.1:8080");
  auto print = std::make_shared<bool>(false);
  cmd->add_flag("--print-config", *print, "Print the built-in config and exit");
  c.cli = cmd;
  c.run = [flags, print]() -> int {
    if (*print) {
      fmt::print("{}", kEmbeddedConfig);
      return kExitOk;
    }
    return RunUp(*flags);
  };
  return c;
}

}  // namespace txpipe::app
