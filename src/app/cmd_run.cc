// txpipe run -c pipeline.toml: run a topology from a native config.
#include <fmt/format.h>

#include "app/cli.h"
#include "app/http_service.h"
#include "app/pipeline.h"
#include "runtime/metrics.h"

namespace txpipe::app {

Command AddRun(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  Command c;
  CLI::App* cmd = app.add_subcommand("run", "Run a pipeline from a TOML config");
  cmd->footer(
      "The config: data_dir, [broker], [http], [sources.NAME], [processors.NAME], [sinks.NAME];\n"
      "'txpipe check --describe' lists every option. With [http], serves the API and dashboard.\n"
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
    // With an [http] section: the API, POST /api/logs and the dashboard.
    std::unique_ptr<HttpService> http;
    PipelineHooks hooks;
    if (p->http.present && !p->http.listen.empty()) {
      hooks.on_start = [&](runtime::Broker* broker) -> base::Status {
        auto started = HttpService::Start(*p, broker, &metrics);
        if (!started.ok()) return started.status();
        http = std::move(started).value();
        fmt::print(stderr, "txpipe run: serving {}\n", http->url());
        return base::Status::OK();
      };
      hooks.on_stop = [&] {
        if (http) http->Stop();
      };
    }
    base::Status s = RunPipeline(*p, ProcessStop(), &metrics, hooks);
    if (!s.ok()) {
      fmt::print(stderr, "txpipe run: {}\n", s.message());
      return kExitFailure;
    }
    return kExitOk;
  };
  return c;
}

}  // namespace txpipe::app
