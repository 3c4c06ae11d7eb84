// txpipe run -c pipeline.toml: run a topology from a native config.
#include <fmt/format.h>

#include "app/cli.h"
#include "app/pipeline.h"
#include "runtime/metrics.h"

namespace txpipe::app {

Command AddRun(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  Command c;
  CLI::App* cmd = app.add_subcommand("run", "Run a pipeline from a TOML config");
  cmd->footer(
      "The config: data_dir, [broker], [sources.NAME], [sinks.NAME]; 'txpipe check --describe'\n"
      "lists every option. Ctrl-C stops sources, lets sinks finish and commit, exits 0.");
  cmd->add_option("-c,--config", *config, "Pipeline config file (TOML)")->required();
  c.cli = cmd;
  c.run = [config]() -> int {
    auto p = LoadPipeline(*config);
    if (!p.ok()) {
      fmt::print(stderr, "txpipe run: {}\n", p.status().message());
      return kExitUsage;
    }
    InstallSignalHandlers();
    runtime::Metrics metrics;
    base::Status s = RunPipeline(*p, ProcessStop(), &metrics);
    if (!s.ok()) {
      fmt::print(stderr, "txpipe run: {}\n", s.message());
      return kExitFailure;
    }
    return kExitOk;
  };
  return c;
}

}  // namespace txpipe::app
