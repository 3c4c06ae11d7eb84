// A pipeline: the topology of a native TOML config (pipeline.toml) — the
// broker, the sources and the sinks — validated purely, then run.
//
//   data_dir = "txpipe-data"
//   [broker]            type = "embedded", partitions = 2, flush = "batch", ...
//   [sources.NAME]      type = "spooldir", topic = "finance", ...
//   [processors.NAME]   type = "analytics", topic = "finance", schema = "finance", ...
//   [sinks.NAME]        type = "archive", topics = ["finance"], ...
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "config/node.h"
#include "runtime/component.h"

namespace txpipe::app {

struct BrokerOptions {
  std::string type = "embedded";            // embedded (kafka: a later release)
  std::string dir = "log";                  // under data_dir
  int partitions = 2;                       // for topics txpipe creates
  std::string flush = "batch";              // batch | interval | never
  int64_t flush_interval_ms = 1000;         // flush = "interval"
  uint64_t max_segment_bytes = 128ull << 20;  // segment roll size
  int64_t retention_ms = 7 * 86'400'000LL;  // delete segments older than this (0 = never)
  uint64_t retention_bytes = 0;             // cap per partition (0 = none)
  std::string compression = "zstd";         // zstd | none: how producers store batches
};

// The [http] section: the HTTP server (docs/http.md). `txpipe up` serves it
// always (--listen overrides `listen`); `txpipe run` when the section exists.
struct HttpConfig {
  bool present = false;                   // the config has [http]
  std::string listen = "127.0.0.1:8080";  // HOST:PORT ("" = no server)
  uint64_t max_body_bytes = 8 << 20;      // larger requests get 413
  // Topics POST /api/logs may write; the first is its default.
  std::vector<std::string> topics = {"car-transactions-logs"};
  std::string key_field = "customer_id";  // partitioning key of posted events
  std::string auth_token_env;             // env var holding the Bearer token ("" = no auth)
  int64_t max_connections = 512;
  int64_t max_streams = 256;
  int64_t header_timeout_ms = 10'000;
  int64_t read_timeout_ms = 5'000;
  int64_t keep_alive_timeout_ms = 5'000;
  uint64_t min_free_bytes = 64ull << 20;  // 503 to POSTs under this much free disk
  uint64_t max_log_bytes = 0;             // 503 to POSTs while the log is bigger (0 = no cap)
};

using ComponentFactory =
    std::function<base::Result<std::unique_ptr<runtime::Component>>(const runtime::Context&)>;

// A built-in component type: how to describe and parse its options.
struct ComponentType {
  std::string kind;  // "source" | "processor" | "sink"
  std::string type;  // "spooldir", "archive"
  std::function<std::string()> describe;
  // Validates the options (no I/O) and returns a factory for the component.
  std::function<base::Result<ComponentFactory>(const config::Node& options)> parse;
  // Valid options that are likely a mistake (txpipe check prints them); may
  // be unset.
  std::function<std::vector<std::string>(const config::Node& options)> warnings;
};

// The one explicit list of built-in components (components.cc).
const std::vector<ComponentType>& BuiltinComponents();

struct ComponentSpec {
  std::string kind;  // "source" | "processor" | "sink"
  std::string name;
  std::string type;
  ComponentFactory factory;
  std::vector<std::string> warnings;  // ComponentType::warnings
};

struct Pipeline {
  std::string origin;    // the file it came from
  std::string data_dir;  // resolved against the current directory
  BrokerOptions broker;
  HttpConfig http;
  std::string store_path;  // the first store sink's database (for the API)
  std::vector<ComponentSpec> components;  // sources, then processors, then sinks

  // The log's directory (broker.dir under data_dir).
  std::string log_dir() const {
    return broker.dir.starts_with("/") ? broker.dir : data_dir + "/" + broker.dir;
  }
};

// Parses and validates a pipeline config. Errors name the key's path.
base::Result<Pipeline> ParsePipeline(const config::Node& root);
base::Result<Pipeline> LoadPipeline(const std::string& path);
// Every option of the broker and of each component type, with defaults.
std::string DescribeAll();

// What the caller of RunPipeline may do while it runs (all optional).
struct PipelineHooks {
  // Once the broker is open and every component has opened and started
  // running (so every topic exists); an error stops
  // the pipeline and is returned. The broker stays valid until on_stop.
  std::function<base::Status(runtime::Broker*)> on_start;
  // About every 200 ms while the pipeline runs, on the calling thread
  // (status lines).
  std::function<void(runtime::Broker*)> on_tick;
  // When the pipeline starts to stop, before any component is stopped and
  // while the broker is still open (stop servers that use it here).
  std::function<void()> on_stop;
};

// Runs the pipeline until `stop` is raised or a component fails: opens the
// broker, builds every component, creates every topic they use (once, with
// [broker] partitions unless a component's config says otherwise; existing
// topics are kept), opens the components one by one in config order, then
// runs each on its own thread. A component that cannot open stops it there
// ("processors.cars: cannot start: ..."), before anything runs. On stop,
// sources are stopped first, then processors, then sinks (each drains what
// the one before wrote). Returns the first error, or OK.
base::Status RunPipeline(const Pipeline& p, const base::StopFlag& stop, runtime::Metrics* metrics,
                         const PipelineHooks& hooks = {});

}  // namespace txpipe::app
