// txpipe up: the whole embedded pipeline on this machine, from the built-in
// config (config/embedded.toml) or -c FILE, with the finance generator
// writing seed-style files into the spooldir source's folder.
#include <unistd.h>

#include <fmt/format.h>

#include <thread>

#include "app/cli.h"
#include "app/pipeline.h"
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
};

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
  base::Status s = RunPipeline(*p, ProcessStop(), &metrics, status);
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
