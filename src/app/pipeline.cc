#include "app/pipeline.h"

#include <fmt/format.h>

#include <map>
#include <thread>

#include "base/logging.h"
#include "brokers/embedded/embedded_broker.h"
#include "config/options.h"

namespace txpipe::app {

using base::Result;
using base::Status;

namespace {

const config::OptionTable<BrokerOptions>& BrokerTable() {
  static const auto* t =
      &(*new config::OptionTable<BrokerOptions>("broker"))
           .Enum("type", &BrokerOptions::type, {"embedded"}, "Where topics live")
           .String("dir", &BrokerOptions::dir, "Log directory (embedded), under data_dir")
           .Integer("partitions", &BrokerOptions::partitions, "Partitions of topics txpipe creates",
                    1, 1024)
           .Enum("flush", &BrokerOptions::flush, {"batch", "interval", "never"},
                 "batch: fsync before an append is acknowledged (group commit)")
           .DurationMs("flush_interval_ms", &BrokerOptions::flush_interval_ms,
                       "fsync period with flush = \"interval\"", 1, 1)
           .Bytes("max_segment_bytes", &BrokerOptions::max_segment_bytes,
                  "Roll log segments past this size", 4096)
           .DurationMs("retention_ms", &BrokerOptions::retention_ms,
                       "Delete segments older than this that every group has read (0 = never)")
           .Bytes("retention_bytes", &BrokerOptions::retention_bytes,
                  "Cap per partition, even if unread (0 = none)")
           .Enum("compression", &BrokerOptions::compression, {"zstd", "none"},
                 "How record batches are stored (zstd level 1: ~10x smaller seed events)");
  return *t;
}

const config::OptionTable<HttpConfig>& HttpTable() {
  static const auto* t =
      &(*new config::OptionTable<HttpConfig>("http"))
           .String("listen", &HttpConfig::listen,
                   "HOST:PORT of the API and dashboard (port 0: any free one)")
           .Bytes("max_body_bytes", &HttpConfig::max_body_bytes,
                  "Largest request body; larger ones get 413", 1024)
           .StringList("topics", &HttpConfig::topics,
                       "Topics POST /api/logs may write (?topic=); the first is the default")
           .String("key_field", &HttpConfig::key_field,
                   "Top-level string field that keys posted events (\"\" = none)")
           .String("auth_token_env", &HttpConfig::auth_token_env,
                   "Environment variable with the token POST /api/logs requires "
                   "(Authorization: Bearer); \"\" = no token")
           .Integer("max_connections", &HttpConfig::max_connections,
                    "Connections served at once; more get 503", int64_t{1}, int64_t{100'000})
           .Integer("max_streams", &HttpConfig::max_streams,
                    "Streaming responses open at once (live, car stream); more get 503",
                    int64_t{1}, int64_t{100'000})
           .DurationMs("header_timeout", &HttpConfig::header_timeout_ms,
                       "Time a client has to send a request's headers", 1, 1)
           .DurationMs("read_timeout", &HttpConfig::read_timeout_ms,
                       "Longest wait for the next bytes of a request", 1, 1)
           .DurationMs("keep_alive_timeout", &HttpConfig::keep_alive_timeout_ms,
                       "How long an idle connection is kept", 1, 0)
           .Bytes("min_free_bytes", &HttpConfig::min_free_bytes,
                  "POST /api/logs answers 503 while the log's disk has less free")
           .Bytes("max_log_bytes", &HttpConfig::max_log_bytes,
                  "POST /api/logs answers 503 while the log holds more (0 = no cap)");
  return *t;
}

// The database of the first store sink, or data_dir/store.db.
std::string StorePathOf(const config::Node& root, const std::string& data_dir) {
  std::string path = "store.db";
  if (const config::Node* sinks = root.Get("sinks"); sinks && sinks->is_table()) {
    for (const auto& [name, node] : sinks->as_table()) {
      const config::Node* type = node.Get("type");
      if (!type || !type->is_string() || type->as_string() != "store") continue;
      if (const config::Node* p = node.Get("path"); p && p->is_string()) path = p->as_string();
      break;
    }
  }
  return path.starts_with("/") ? path : data_dir + "/" + path;
}

}  // namespace

Result<Pipeline> ParsePipeline(const config::Node& root) {
  Pipeline p;
  p.origin = root.origin();
  p.data_dir = "txpipe-data";
  for (const auto& [key, node] : root.as_table()) {
    if (key != "data_dir" && key != "broker" && key != "http" && key != "sources" &&
        key != "processors" && key != "sinks") {
      return node.Error(
          "unknown key (expected data_dir, [broker], [http], [sources.NAME], [processors.NAME], "
          "[sinks.NAME])");
    }
  }
  if (const config::Node* d = root.Get("data_dir")) {
    if (!d->is_string() || d->as_string().empty()) return d->Error("expected a directory name");
    p.data_dir = d->as_string();
  }
  p.store_path = StorePathOf(root, p.data_dir);
  if (const config::Node* b = root.Get("broker")) {
    TXP_RETURN_IF_ERROR(BrokerTable().Parse(*b, &p.broker, {}));
  }
  if (const config::Node* h = root.Get("http")) {
    TXP_RETURN_IF_ERROR(HttpTable().Parse(*h, &p.http, {}));
    p.http.present = true;
    if (p.http.topics.empty()) return h->Error("topics: name at least one topic");
  }
  int count = 0;
  for (const char* kind_key : {"sources", "processors", "sinks"}) {
    const config::Node* group = root.Get(kind_key);
    if (!group) continue;
    std::string kind(kind_key);
    kind.pop_back();  // "sources" -> "source"
    if (!group->is_table()) return group->Error(fmt::format("expected tables like [{}.NAME]", kind_key));
    for (const auto& [name, node] : group->as_table()) {
      if (!node.is_table()) return node.Error("expected a table");
      const config::Node* type = node.Get("type");
      if (!type || !type->is_string()) {
        return node.Error(fmt::format("missing 'type' (the kind of {})", kind));
      }
      const ComponentType* ct = nullptr;
      std::vector<std::string> known;
      for (const auto& c : BuiltinComponents()) {
        if (c.kind != kind) continue;
        known.push_back(c.type);
        if (c.type == type->as_string()) ct = &c;
      }
      if (!ct) {
        return type->Error(fmt::format("unknown {} type '{}' (built-in: {})", kind,
                                       type->as_string(), fmt::join(known, ", ")));
      }
      ComponentSpec spec;
      spec.kind = kind;
      spec.name = name;
      spec.type = ct->type;
      auto factory = ct->parse(node);
      if (!factory.ok()) return factory.status();
      spec.factory = std::move(factory).value();
      if (ct->warnings) spec.warnings = ct->warnings(node);
      p.components.push_back(std::move(spec));
      ++count;
    }
  }
  if (count == 0) {
    return root.Error("no [sources.NAME], [processors.NAME] or [sinks.NAME]: nothing to run");
  }
  return p;
}

Result<Pipeline> LoadPipeline(const std::string& path) {
  auto root = config::LoadTomlFile(path);
  if (!root.ok()) return root.status();
  return ParsePipeline(*root);
}

std::string DescribeAll() {
  std::string s = "Pipeline config (TOML). Top level: data_dir = \"txpipe-data\".\n\n";
  s += BrokerTable().Describe();
  s += "\n" + HttpTable().Describe();
  for (const auto& c : BuiltinComponents()) {
    s += fmt::format("\n{}s.NAME, type = \"{}\":\n", c.kind, c.type);
    s += c.describe();
  }
  return s;
}

namespace {

// The log's own figures for /metrics, refreshed about every second: bytes
// and end offsets per topic, consumer lag per group and topic, and the
// log's counters (log::LogStats).
class LogMetrics {
 public:
  LogMetrics(brokers::embedded::EmbeddedBroker* broker, runtime::Metrics* metrics)
      : broker_(broker), metrics_(metrics) {}

  void Publish() {
    std::map<std::string, std::vector<uint64_t>> ends;
    for (const auto& topic : broker_->Topics()) {
      auto info = broker_->Describe(topic);
      if (!info.ok()) continue;
      uint64_t bytes = 0, events = 0;
      for (const auto& part : info->partitions) {
        bytes += part.size_bytes;
        events += part.end_offset;
        ends[topic].push_back(part.end_offset);
      }
      runtime::Labels l = {{"topic", topic}};
      metrics_->gauge("txpipe_log_bytes", "Bytes the log holds, per topic", l)
          ->Set(static_cast<int64_t>(bytes));
      metrics_->gauge("txpipe_log_end_offset", "Events ever appended, per topic (sum of partitions)", l)
          ->Set(static_cast<int64_t>(events));
    }
    for (const auto& group : broker_->Groups()) {
      std::map<std::string, uint64_t> lag;
      for (const auto& [tp, committed] : broker_->GroupOffsets(group)) {
        auto e = ends.find(tp.topic);
        if (e == ends.end() || tp.partition >= static_cast<int>(e->second.size())) continue;
        uint64_t end = e->second[tp.partition];
        lag[tp.topic] += end > committed ? end - committed : 0;
      }
      for (const auto& [topic, n] : lag) {
        metrics_
            ->gauge("txpipe_consumer_lag", "Events not yet committed by a consumer group",
                    {{"group", group}, {"topic", topic}})
            ->Set(static_cast<int64_t>(n));
      }
    }
    log::LogStats st = broker_->log()->stats();
    Bump("txpipe_log_recovered_truncated_bytes_total",
         "Bytes of torn tails dropped when the log was opened", st.recovered_truncated_bytes,
         &prev_.recovered_truncated_bytes);
    Bump("txpipe_log_retention_segments_total", "Segments deleted by retention",
         st.retention_segments, &prev_.retention_segments);
    Bump("txpipe_log_retention_forced_segments_total",
         "Segments deleted over retention_bytes while some group had not read them",
         st.retention_forced_segments, &prev_.retention_forced_segments);
  }

 private:
  void Bump(const char* name, const char* help, uint64_t now, uint64_t* prev) {
    runtime::Counter* c = metrics_->counter(name, help);
    if (now > *prev) c->Add(now - *prev);
    *prev = now;
  }

  brokers::embedded::EmbeddedBroker* broker_;
  runtime::Metrics* metrics_;
  log::LogStats prev_;
};

struct Running {
  const ComponentSpec* spec;
  std::unique_ptr<runtime::Component> component;
  base::StopFlag stop;
  std::thread thread;
  Status status;
};

// Creates every topic the pipeline uses, once, before any component opens:
// components' inputs and outputs (their dead-letter, windows and alerts
// topics included) and POST /api/logs's topics with their dead-letter
// topics. So no two components race to create a topic, and its partition
// count is decided in one place: what a component's config asks for
// explicitly (spooldir topic_partitions), else [broker] partitions. Two
// different explicit counts for one topic are a config error. An existing
// topic keeps its count.
Status CreateTopics(const Pipeline& p, const std::vector<std::unique_ptr<Running>>& running,
                    runtime::Broker* broker) {
  struct Want {
    int partitions = 0;  // 0: [broker] partitions
    std::string by;      // who asked for `partitions`
  };
  std::map<std::string, Want> want;
  auto add = [&](const std::string& topic, int partitions, const std::string& by) -> Status {
    Want& w = want[topic];
    if (partitions == 0 || w.partitions == partitions) return Status::OK();
    if (w.partitions != 0) {
      return Status::InvalidArgument(
          fmt::format("topic '{}': {} asks for {} partitions and {} for {}; set one count", topic,
                      w.by, w.partitions, by, partitions));
    }
    w = {partitions, by};
    return Status::OK();
  };
  if (p.http.present) {
    for (const auto& t : p.http.topics) {
      TXP_RETURN_IF_ERROR(add(t, 0, "[http]"));
      TXP_RETURN_IF_ERROR(add(runtime::DeadLetterTopicOf(t), 0, "[http]"));
    }
  }
  for (const auto& r : running) {
    std::string by = fmt::format("{}s.{}", r->spec->kind, r->spec->name);
    for (const auto& use : r->component->Topics()) {
      TXP_RETURN_IF_ERROR(add(use.name, use.partitions, by));
    }
  }
  for (const auto& [topic, w] : want) {
    const int partitions = w.partitions > 0 ? w.partitions : p.broker.partitions;
    if (auto info = broker->Describe(topic); info.ok()) {
      if (static_cast<int>(info->partitions.size()) != partitions) {
        TXP_LOG_INFO("topic '{}' exists with {} partition(s): kept as it is (new topics get {})",
                     topic, info->partitions.size(), partitions);
      }
      continue;
    }
    TXP_RETURN_IF_ERROR(broker->CreateTopic(topic, partitions));
  }
  return Status::OK();
}

}  // namespace

Status RunPipeline(const Pipeline& p, const base::StopFlag& stop, runtime::Metrics* metrics,
                   const PipelineHooks& hooks) {
  io::Env* env = io::Env::Default();
  TXP_RETURN_IF_ERROR(env->CreateDirs(p.data_dir));
  log::LogOptions lo;
  lo.partition.max_segment_bytes = p.broker.max_segment_bytes;
  lo.partition.flush = p.broker.flush == "batch"      ? log::FlushPolicy::kBatch
                       : p.broker.flush == "interval" ? log::FlushPolicy::kInterval
                                                      : log::FlushPolicy::kNever;
  lo.flush_interval_ms = p.broker.flush_interval_ms;
  lo.retention_ms = p.broker.retention_ms;
  lo.retention_bytes = p.broker.retention_bytes;
  std::string log_dir = p.log_dir();
  auto broker = brokers::embedded::EmbeddedBroker::Open(env, log_dir, lo);
  if (!broker.ok()) return broker.status();
  // Start-up, in three steps, each done for every component before the next:
  // build (no I/O), create every topic, open in config order. A component
  // that cannot start stops the pipeline here, before anything runs.
  std::vector<std::unique_ptr<Running>> running;
  for (const auto& c : p.components) {
    runtime::Context ctx;
    ctx.broker = broker->get();
    ctx.metrics = metrics;
    ctx.env = env;
    ctx.data_dir = p.data_dir;
    ctx.name = c.name;
    ctx.producer.compression = p.broker.compression == "none" ? runtime::Compression::kNone
                                                              : runtime::Compression::kZstd;
    ctx.topic_partitions = p.broker.partitions;
    auto comp = c.factory(ctx);
    if (!comp.ok()) {
      return Status(comp.status().code(),
                    fmt::format("{}s.{}: {}", c.kind, c.name, comp.status().message()));
    }
    auto r = std::make_unique<Running>();
    r->spec = &c;
    r->component = std::move(comp).value();
    running.push_back(std::move(r));
  }
  TXP_RETURN_IF_ERROR(CreateTopics(p, running, broker->get()));
  for (auto& r : running) {
    Status s = r->component->Open();
    if (!s.ok()) {
      return Status(s.code(), fmt::format("{}s.{}: cannot start: {}", r->spec->kind,
                                          r->spec->name, s.message()));
    }
  }
  base::StopFlag failed;  // raised when any component ends with an error
  for (auto& r : running) {
    Running* rp = r.get();
    rp->thread = std::thread([rp, &failed] {
      rp->status = rp->component->Run(rp->stop);
      if (!rp->status.ok()) {
        TXP_LOG_ERROR("{}s.{}: {}", rp->spec->kind, rp->spec->name, rp->status.ToString());
        failed.Request();
      }
    });
  }
  TXP_LOG_INFO("pipeline {}: {} components running on {}", p.origin, running.size(), log_dir);
  Status hook_status;
  if (hooks.on_start) {
    hook_status = hooks.on_start(broker->get());
    if (!hook_status.ok()) failed.Request();
  }
  base::Clock* clock = base::Clock::Real();
  LogMetrics log_metrics(broker->get(), metrics);
  int64_t next_publish = 0;
  while (!stop.requested() && !failed.requested()) {
    if (int64_t now = clock->MonotonicMicros(); metrics && now >= next_publish) {
      next_publish = now + 1'000'000;
      log_metrics.Publish();
    }
    clock->SleepUntil(clock->MonotonicMicros() + 200'000, stop);
    if (hooks.on_tick && !stop.requested()) hooks.on_tick(broker->get());
  }
  if (hooks.on_stop) hooks.on_stop();
  // Sources first, then processors, then sinks: each drains what the one
  // before it wrote.
  for (const char* kind : {"source", "processor", "sink"}) {
    for (auto& r : running) {
      if (r->spec->kind == kind) r->stop.Request();
    }
    for (auto& r : running) {
      if (r->spec->kind == kind && r->thread.joinable()) r->thread.join();
    }
  }
  TXP_RETURN_IF_ERROR(hook_status);
  for (auto& r : running) {
    if (!r->status.ok()) {
      return Status(r->status.code(), fmt::format("{}s.{}: {}", r->spec->kind, r->spec->name,
                                                  r->status.message()));
    }
  }
  return Status::OK();
}

}  // namespace txpipe::app
