// Shared pieces of the txpipe command line (src/app only).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "base/clock.h"

namespace txpipe::app {

// Exit codes: 0 ok, 1 the work failed, 2 bad usage (flag, value, config).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Validators that name the bad value; CLI11 prefixes the flag.
CLI::Validator NonNegativeInteger();
CLI::Validator RateValue();  // a positive number of events/s, or "max"
CLI::Validator TimeValue();  // RFC 3339 timestamp, or "now"

uint64_t ParseUint(const std::string& text);
// "max" -> 0, else the number.
double ParseRate(const std::string& text);
// "now" -> nullopt-equivalent -1 flag handled by caller; returns µs since epoch.
int64_t ParseTime(const std::string& text, base::Clock* clock);

// The process-wide stop flag, raised by SIGINT/SIGTERM once InstallSignalHandlers
// has run (a second signal exits at once with 130).
base::StopFlag& ProcessStop();
void InstallSignalHandlers();

// "1,234,567"
std::string Thousands(uint64_t n);

// Subcommands: each registers itself on `app` and returns its run function's
// holder; main runs the one that was chosen.
struct Command {
  CLI::App* cli = nullptr;
  std::function<int()> run;
};
Command AddGenerate(CLI::App& app);
Command AddCheck(CLI::App& app);
Command AddUp(CLI::App& app);
Command AddRun(CLI::App& app);
Command AddTopic(CLI::App& app);
Command AddQuery(CLI::App& app);
Command AddVersion(CLI::App& app);
// A subcommand a later release fills: says so and exits 2.
Command AddNotYet(CLI::App& app, const std::string& name, const std::string& what);

}  // namespace txpipe::app
