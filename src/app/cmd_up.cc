// txpipe up: the whole embedded pipeline. For now: the finance generator
// writing seed-style files into <data-dir>/spool; the spooldir source, log,
// processor, store and dashboard join in the issues that build them.
#include <fmt/format.h>

#include "app/cli.h"
#include "sources/generator/runner.h"

namespace txpipe::app {

namespace {
struct UpFlags {
  std::string data_dir = "txpipe-data";
  std::string rate = "20";
};
}  // namespace

Command AddUp(CLI::App& app) {
  auto flags = std::make_shared<UpFlags>();
  Command c;
  CLI::App* cmd = app.add_subcommand("up", "Run the embedded pipeline on this machine");
  cmd->add_option("--data-dir", flags->data_dir, "Where txpipe keeps its data")
      ->default_str("txpipe-data");
  cmd->add_option("--rate", flags->rate, "Finance events per second to generate")
      ->default_str("20")
      ->check(RateValue());
  c.cli = cmd;
  c.run = [flags]() -> int {
    namespace gen = sources::generator;
    gen::RunOptions o;
    o.kind = "finance";
    o.rate = ParseRate(flags->rate);
    o.out_dir = flags->data_dir + "/spool";
    o.seed = static_cast<uint64_t>(base::Clock::Real()->NowMicros());
    fmt::print(stderr,
               "txpipe up: generating finance transactions at {}/s into {}\n"
               "  (this version runs the generator only; ingestion, processing and the\n"
               "  dashboard come with the next releases). Ctrl-C stops.\n",
               flags->rate, o.out_dir);
    InstallSignalHandlers();
    auto r = gen::RunGenerator(o, base::Clock::Real(), ProcessStop());
    if (!r.ok()) {
      fmt::print(stderr, "txpipe up: {}\n", r.status().message());
      return kExitFailure;
    }
    fmt::print(stderr, "txpipe up: stopped after {} events in {} files\n", Thousands(r->events),
               Thousands(r->files));
    return kExitOk;
  };
  return c;
}

}  // namespace txpipe::app
