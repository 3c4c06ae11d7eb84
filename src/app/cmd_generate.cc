// txpipe generate finance|cars: the seed's Generator.py, faster and safer.
#include <unistd.h>

#include <fmt/format.h>

#include "app/cli.h"
#include "sources/generator/runner.h"

namespace txpipe::app {

namespace gen = sources::generator;

namespace {

struct GenerateFlags {
  std::string kind;
  std::string out_dir;
  bool to_stdout = false;
  std::string count = "0";
  std::string rate = "1";
  std::string seed;
  std::string start = "now";
  std::string file_seconds = "1";
  std::string ids = "unique";
  bool no_fsync = false;
  bool quiet = false;
};

void PrintProgress(const gen::RunStats& s, bool final) {
  double secs = s.elapsed_us / 1e6;
  double rate = secs > 0 ? s.events / secs : 0;
  std::string r = rate >= 1e6 ? fmt::format("{:.2f} M/s", rate / 1e6)
                              : Thousands(static_cast<uint64_t>(rate)) + "/s";
  fmt::print(stderr, "\r\033[Kgenerated {} events ({:.1f} MB) in {:.1f} s, {}{}{}",
             Thousands(s.events), s.bytes / 1e6, secs, r,
             s.files > 0 ? fmt::format(", {} files", Thousands(s.files)) : "", final ? "\n" : "");
}

int RunGenerate(const GenerateFlags& f) {
  base::Clock* clock = base::Clock::Real();
  gen::RunOptions o;
  o.kind = f.kind;
  o.count = ParseUint(f.count);
  o.rate = ParseRate(f.rate);
  if (f.start != "now") o.start_us = ParseTime(f.start, clock);
  o.seed = f.seed.empty() ? static_cast<uint64_t>(clock->NowMicros()) ^ (static_cast<uint64_t>(getpid()) << 32)
                          : ParseUint(f.seed);
  o.ids = f.ids == "seed" ? gen::IdStyle::kSeed : gen::IdStyle::kUnique;
  o.file_seconds = static_cast<int64_t>(ParseUint(f.file_seconds));
  o.fsync = !f.no_fsync;
  if (f.to_stdout) {
    o.out_fd = STDOUT_FILENO;
  } else {
    o.out_dir = f.out_dir;
  }

  bool tty = isatty(STDERR_FILENO) && !f.quiet;
  if (!f.to_stdout && !f.quiet) {
    fmt::print(stderr, "txpipe generate {}: writing {} into {} (rate {}, Ctrl-C stops)\n", f.kind,
               o.count == 0 ? "events" : Thousands(o.count) + " events", o.out_dir,
               f.rate == "max" ? "max" : f.rate + "/s");
  }
  InstallSignalHandlers();
  auto progress = [](const gen::RunStats& s) { PrintProgress(s, false); };
  auto result = gen::RunGenerator(o, clock, ProcessStop(),
                                  tty ? std::function<void(const gen::RunStats&)>(progress)
                                      : std::function<void(const gen::RunStats&)>());
  if (!result.ok()) {
    if (tty) fmt::print(stderr, "\n");
    fmt::print(stderr, "txpipe generate: {}\n", result.status().message());
    return kExitFailure;
  }
  if (tty || (!f.to_stdout && !f.quiet)) PrintProgress(*result, true);
  return kExitOk;
}

}  // namespace

Command AddGenerate(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  Command c;
  CLI::App* g = app.add_subcommand(
      "generate", "Generate the seed's synthetic events (finance transactions, car logs)");
  g->footer(
      "Examples:\n"
      "  txpipe generate finance --out spool/            # the seed's Generator.py: 1 event/s\n"
      "  txpipe generate cars --stdout --count 10\n"
      "  txpipe generate finance --rate max --count 5000000 --stdout > /dev/null\n"
      "Files are named <prefix>_YYYYmmdd_HHMMSS.json (UTC time of their first event) and\n"
      "appear only when complete: written as .<name>.tmp, synced, then renamed.");
  g->add_option("kind", flags->kind, "What to generate: finance | cars")
      ->required()
      ->check(CLI::IsMember({"finance", "cars"}));
  auto* out = g->add_option("--out", flags->out_dir, "Spool folder to write files into");
  auto* so = g->add_flag("--stdout", flags->to_stdout, "Write events to standard output");
  out->excludes(so);
  g->add_option("--count", flags->count, "Number of events; 0 = until Ctrl-C")
      ->default_str("0")
      ->check(NonNegativeInteger());
  g->add_option("--rate", flags->rate, "Events per second, or 'max'")
      ->default_str("1")
      ->check(RateValue());
  g->add_option("--seed", flags->seed, "Random seed for reproducible output (default: random)")
      ->check(NonNegativeInteger());
  g->add_option("--start", flags->start,
                "Event time of the first event (RFC 3339, or 'now'). With a start or\n"
                "--rate max, event i is at start + i/rate (1 ms apart at max)")
      ->default_str("now")
      ->check(TimeValue());
  g->add_option("--file-seconds", flags->file_seconds,
                "Event-time span of one output file (the seed: 1)")
      ->default_str("1")
      ->check(NonNegativeInteger() & CLI::Validator(
                                         [](std::string& s) -> std::string {
                                           return s == "0" ? "must be at least 1" : "";
                                         },
                                         ""));
  g->add_option("--ids", flags->ids,
                "transaction_id style: unique (T + 16 hex, never repeats in a run) or\n"
                "seed (T + 6 random digits, repeats by chance as in the seed)")
      ->default_str("unique")
      ->check(CLI::IsMember({"unique", "seed"}));
  g->add_flag("--no-fsync", flags->no_fsync, "Do not fsync files before renaming them into view");
  g->add_flag("-q,--quiet", flags->quiet, "No progress or summary on stderr");
  c.cli = g;
  c.run = [flags]() -> int {
    if (!flags->to_stdout && flags->out_dir.empty()) {
      fmt::print(stderr, "txpipe generate: give --out DIR or --stdout\n");
      return kExitUsage;
    }
    return RunGenerate(*flags);
  };
  return c;
}

}  // namespace txpipe::app
