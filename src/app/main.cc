// txpipe: the seed's real-time transaction pipeline in one program.
#include <fmt/format.h>
#include <simdjson.h>

#include <vector>

#include "app/cli.h"

#define TXP_STR2(x) #x
#define TXP_STR(x) TXP_STR2(x)

#ifndef TXPIPE_VERSION
#define TXPIPE_VERSION "0.0.0"
#endif
#ifndef TXPIPE_GIT_COMMIT
#define TXPIPE_GIT_COMMIT "unknown"
#endif

namespace txpipe::app {

Command AddVersion(CLI::App& app) {
  Command c;
  c.cli = app.add_subcommand("version", "Print the version and how this binary was built");
  c.run = [] {
    fmt::print("txpipe {} (commit {})\n", TXPIPE_VERSION, TXPIPE_GIT_COMMIT);
    fmt::print("built with {} {}, C++{}; simdjson {}, fmt {}, CLI11 {}\n",
#if defined(__clang__)
               "clang", __clang_version__,
#else
               "gcc", __VERSION__,
#endif
               __cplusplus / 100 % 100, TXP_STR(SIMDJSON_VERSION), FMT_VERSION, CLI11_VERSION);
    return kExitOk;
  };
  return c;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "txpipe: the real-time transaction pipeline of the seed projects (generator, Flume,\n"
      "Kafka, HDFS, Spark, InfluxDB, Grafana, Flask API) in one program."};
  app.name("txpipe");
  app.require_subcommand(1);
  app.footer("Run 'txpipe COMMAND --help' for the options of a command.");
  std::vector<Command> commands;
  commands.push_back(AddUp(app));
  commands.push_back(AddRun(app));
  commands.push_back(AddGenerate(app));
  commands.push_back(AddTopic(app));
  commands.push_back(AddQuery(app));
  commands.push_back(AddCheck(app));
  commands.push_back(AddNotYet(app, "flume", "Run an Apache Flume agent config"));
  commands.push_back(AddVersion(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // One line that names the flag, then where to look.
    std::string cmd = "txpipe";
    for (const CLI::App* a = &app; a;) {
      const CLI::App* next = nullptr;
      for (const CLI::App* s : a->get_subcommands()) {
        if (s->parsed()) next = s;
      }
      if (next) cmd += " " + next->get_name();
      a = next;
    }
    fmt::print(stderr, "{}: error: {} (see '{} --help')\n", cmd, e.what(), cmd);
    return kExitUsage;
  }
  for (const auto& c : commands) {
    if (c.cli->parsed()) return c.run();
  }
  return kExitUsage;
}

}  // namespace txpipe::app

int main(int argc, char** argv) { return txpipe::app::Main(argc, argv); }
