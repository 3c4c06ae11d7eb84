// txpipe check --schema NAME [FILE...]: validate NDJSON events against a schema.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <map>

#include "app/cli.h"
#include "app/pipeline.h"
#include "codec/json_validator.h"
#include "core/schema.h"

namespace txpipe::app {

namespace {

struct CheckFlags {
  std::string schema;
  std::string config;
  bool describe = false;
  std::vector<std::string> files;
  std::string max_errors = "10";
  bool quiet = false;
};

struct Totals {
  uint64_t events = 0;
  uint64_t rejected = 0;
  std::map<std::string_view, uint64_t> by_reason;
};

// Validates each line of `in`; prints the first `max_errors` rejects.
bool CheckStream(std::FILE* in, const std::string& name, codec::JsonValidator* v,
                 uint64_t max_errors, Totals* t) {
  std::vector<char> buf(1 << 20);
  std::string carry;
  core::Row row;
  codec::ValidationError err;
  uint64_t line_no = 0;
  auto one = [&](std::string_view line) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++t->events;
    if (!v->Validate(line, &row, &err)) {
      ++t->rejected;
      ++t->by_reason[codec::ReasonName(err.reason)];
      if (t->rejected <= max_errors) {
        fmt::print(stderr, "{}:{}: {}: {}\n", name, line_no, codec::ReasonName(err.reason),
                   err.message);
      }
    }
  };
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), in)) > 0) {
    std::string_view chunk(buf.data(), n);
    while (!chunk.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(chunk.data(), '\n', chunk.size()));
      if (!nl) {
        carry.append(chunk);
        break;
      }
      std::string_view part = chunk.substr(0, static_cast<size_t>(nl - chunk.data()));
      if (!carry.empty()) {
        carry.append(part);
        one(carry);
        carry.clear();
      } else {
        one(part);
      }
      chunk.remove_prefix(part.size() + 1);
    }
  }
  if (std::ferror(in)) {
    fmt::print(stderr, "txpipe check: read {}: {}\n", name, std::strerror(errno));
    return false;
  }
  if (!carry.empty()) one(carry);  // last line without '\n'
  return true;
}

int RunCheck(const CheckFlags& f) {
  if (f.describe) {
    fmt::print("{}", DescribeAll());
    return kExitOk;
  }
  if (!f.config.empty()) {
    auto p = LoadPipeline(f.config);
    if (!p.ok()) {
      fmt::print(stderr, "txpipe check: {}\n", p.status().message());
      return kExitUsage;
    }
    for (const auto& c : p->components) {
      for (const auto& w : c.warnings) {
        fmt::print(stderr, "{}: warning: {}s.{}: {}\n", f.config, c.kind, c.name, w);
      }
    }
    if (!f.quiet) {
      fmt::print("{}: ok: data_dir {}, broker {}, {} components\n", f.config, p->data_dir,
                 p->broker.type, p->components.size());
    }
    return kExitOk;
  }
  if (f.schema.empty()) {
    fmt::print(stderr, "txpipe check: give --schema NAME (events), -c FILE (a pipeline config) "
                       "or --describe\n");
    return kExitUsage;
  }
  auto schema = core::FindSchema(f.schema);
  if (!schema.ok()) {
    fmt::print(stderr, "txpipe check: --schema: {}\n", schema.status().message());
    return kExitUsage;
  }
  codec::JsonValidator validator(&*schema);
  Totals t;
  uint64_t max_errors = ParseUint(f.max_errors);
  std::vector<std::string> files = f.files.empty() ? std::vector<std::string>{"-"} : f.files;
  for (const auto& path : files) {
    std::FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (!in) {
      fmt::print(stderr, "txpipe check: cannot open {}: {}\n", path, std::strerror(errno));
      return kExitFailure;
    }
    bool ok = CheckStream(in, path == "-" ? "<stdin>" : path, &validator, max_errors, &t);
    if (in != stdin) std::fclose(in);
    if (!ok) return kExitFailure;
  }
  if (!f.quiet) {
    fmt::print("{}: {} events, {} valid, {} rejected\n", schema->name(), Thousands(t.events),
               Thousands(t.events - t.rejected), Thousands(t.rejected));
    for (const auto& [reason, count] : t.by_reason) {
      fmt::print("  {}: {}\n", reason, Thousands(count));
    }
  }
  return t.rejected == 0 ? kExitOk : kExitFailure;
}

}  // namespace

Command AddCheck(CLI::App& app) {
  auto flags = std::make_shared<CheckFlags>();
  Command c;
  CLI::App* cmd = app.add_subcommand(
      "check", "Validate a pipeline config, or NDJSON events against a schema");
  cmd->footer(
      "  txpipe check -c pipeline.toml     validate a config without running it\n"
      "  txpipe check --describe           every component's options with defaults\n"
      "  txpipe check --schema S [FILE..]  validate events (exit 1 if any is rejected)\n"
      "Exit status: 0 valid, 1 some events rejected (listed on stderr), 2 bad usage or config.\n"
      "Example: txpipe generate finance --count 1000 --rate max --stdout | txpipe check "
      "--schema finance");
  auto* schema = cmd->add_option("--schema", flags->schema,
                                 "Built-in schema name (finance, cars) or path to a schema .toml");
  auto* config = cmd->add_option("-c,--config", flags->config, "A pipeline config to validate");
  auto* describe = cmd->add_flag("--describe", flags->describe,
                                 "Print every component's options with defaults");
  schema->excludes(config)->excludes(describe);
  config->excludes(describe);
  cmd->add_option("files", flags->files, "NDJSON files ('-' or none: standard input)");
  cmd->add_option("--max-errors", flags->max_errors, "Rejected events to print")
      ->default_str("10")
      ->check(NonNegativeInteger());
  cmd->add_flag("-q,--quiet", flags->quiet, "Print no summary; only the exit status tells");
  c.cli = cmd;
  c.run = [flags] { return RunCheck(*flags); };
  return c;
}

}  // namespace txpipe::app
