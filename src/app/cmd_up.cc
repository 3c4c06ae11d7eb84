// txpipe up: the whole embedded pipeline on this machine, from the built-in
// config (config/embedded.toml) or -c FILE, with the finance generator
// writing seed-style files into the spooldir source's folder.
#include <unistd.h>

#include <fmt/format.h>

#include <thread>

#include "api/api.h"
#include "app/cli.h"
#include "app/pipeline.h"
#include "io/http_server.h"
#include "runtime/metrics.h"
#include "sources/generator/runner.h"

namespace txpipe::app {

extern const char* const kEmbeddedConfig;  // generated from config/embedded.toml

namespace {

struct UpFlags {
  std::string config;
  std::string data_dir;
  std::string rate = "20";
  bool no_generate = false;
  std::string listen = "127.0.0.1:8080";
};

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
  auto p = ParsePipeline(*root);
  if (!p.ok()) {
    fmt::print(stderr, "txpipe up: {}\n", p.status().message());
    return kExitUsage;
  }
  InstallSignalHandlers();
  std::thread generator;
  base::StopFlag generator_stop;
  std::string spool = SpoolFolderFor(*root, p->data_dir, "finance");
  if (!f.no_generate && !spool.empty()) {
    sources::generator::RunOptions o;
    o.kind = "finance";
    o.rate = ParseRate(f.rate);
    o.out_dir = spool;
    o.seed = static_cast<uint64_t>(base::Clock::Real()->NowMicros());
    generator = std::thread([o, &generator_stop] {
      auto r = sources::generator::RunGenerator(o, base::Clock::Real(), generator_stop);
      if (!r.ok()) fmt::print(stderr, "txpipe up: generator: {}\n", r.status().message());
    });
    fmt::print(stderr, "txpipe up: generating finance transactions at {}/s into {}\n", f.rate,
               spool);
  }
  fmt::print(stderr,
             "txpipe up: pipeline {} with data in {}. Ctrl-C stops. The dashboard comes in a "
             "later release; meanwhile:\n"
             "  txpipe query series --data-dir {} --stream finance --window 10s --by transaction_type\n"
             "  txpipe query alerts --data-dir {}\n"
             "  txpipe topic list --data-dir {}\n",
             p->origin, p->data_dir, p->data_dir, p->data_dir, p->data_dir);
  runtime::Metrics metrics;
  // The generator stops with the process stop, before the pipeline drains.
  std::thread stopper([&] {
    base::Clock* clock = base::Clock::Real();
    while (clock->SleepUntil(clock->MonotonicMicros() + 1'000'000, ProcessStop())) {
    }
    generator_stop.Request();
  });
  // On a terminal: one status line, rewritten every 5 s.
  const bool tty = isatty(STDERR_FILENO);
  base::Clock* clock = base::Clock::Real();
  int64_t next_status = clock->MonotonicMicros() + 5'000'000;
  uint64_t last_events = 0;
  int64_t last_at = clock->MonotonicMicros();
  auto status = [&](runtime::Broker* broker) {
    int64_t now = clock->MonotonicMicros();
    if (!tty || now < next_status) return;
    next_status = now + 5'000'000;
    std::string line;
    uint64_t events = 0;
    for (const auto& topic : broker->Topics()) {
      auto info = broker->Describe(topic);
      if (!info.ok()) continue;
      uint64_t n = 0;
      for (const auto& part : info->partitions) n += part.end_offset - part.start_offset;
      if (!topic.ends_with(".dlq")) events += n;
      line += fmt::format("{}{} {}", line.empty() ? "" : " | ", topic, Thousands(n));
    }
    for (const auto& group : broker->Groups()) {
      uint64_t lag = 0;
      for (const auto& [tp, committed] : broker->GroupOffsets(group)) {
        auto info = broker->Describe(tp.topic);
        if (info.ok() && tp.partition < static_cast<int>(info->partitions.size())) {
          uint64_t end = info->partitions[tp.partition].end_offset;
          lag += end > committed ? end - committed : 0;
        }
      }
      line += fmt::format(" | {} lag {}", group, Thousands(lag));
    }
    double rate = (events - last_events) / ((now - last_at) / 1e6);
    last_events = events;
    last_at = now;
    fmt::print(stderr, "\r\033[K{:.0f} events/s | {}", rate, line);
  };
  // The HTTP server: the API over the store, /metrics, /healthz (the
  // dashboard comes with issue 5). It uses the broker, so it stops first.
  std::unique_ptr<io::HttpServer> server;
  PipelineHooks hooks;
  hooks.on_tick = status;
  hooks.on_start = [&](runtime::Broker* broker) -> base::Status {
    if (f.listen.empty()) return base::Status::OK();
    io::HttpServerOptions so;
    so.listen = f.listen;
    auto started = io::HttpServer::Start(so);
    if (!started.ok()) {
      return base::Status(started.status().code(),
                          started.status().message() + " (choose another with --listen HOST:PORT)");
    }
    server = std::move(started).value();
    api::RegisterApi(server.get(), {StorePathOf(*root, p->data_dir), broker, &metrics});
    std::string host = f.listen.substr(0, f.listen.rfind(':'));
    fmt::print(stderr, "txpipe up: serving http://{}:{}/ (API /api/v1/streams, /metrics, /healthz)\n",
               host, server->port());
    return base::Status::OK();
  };
  hooks.on_stop = [&] {
    if (server) server->Stop();
  };
  base::Status s = RunPipeline(*p, ProcessStop(), &metrics, hooks);
  if (tty) fmt::print(stderr, "\n");
  ProcessStop().Request();
  stopper.join();
  if (generator.joinable()) generator.join();
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
  cmd->add_flag("--no-generate", flags->no_generate, "Do not run the finance generator");
  cmd->add_option("--listen", flags->listen,
                  "HTTP address of the API (HOST:PORT; port 0 = any free one; \"\" = no server)")
      ->default_str("127.0.0.1:8080");
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
