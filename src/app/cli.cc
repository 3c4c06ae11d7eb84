#include "app/cli.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <thread>

#include <fmt/format.h>

#include "base/time.h"

namespace txpipe::app {

CLI::Validator NonNegativeInteger() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        uint64_t v;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
          return "expected a non-negative integer, got '" + s + "'";
        }
        return {};
      },
      "N");
}

CLI::Validator RateValue() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s == "max") return {};
        double v;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) ||
            v <= 0 || v > 1e9) {
          return "expected events per second (a number > 0 and <= 1e9) or 'max', got '" + s + "'";
        }
        return {};
      },
      "RATE");
}

CLI::Validator TimeValue() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s == "now") return {};
        int64_t us;
        std::string why;
        if (!base::ParseIsoTimestamp(s, &us, &why)) {
          return "expected 'now' or a timestamp like 2026-11-23T10:00:00Z, got '" + s + "' (" +
                 why + ")";
        }
        return {};
      },
      "TIME");
}

uint64_t ParseUint(const std::string& text) {
  uint64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

double ParseRate(const std::string& text) {
  if (text == "max") return 0;
  double v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

int64_t ParseTime(const std::string& text, base::Clock* clock) {
  if (text == "now") return clock->NowMicros();
  int64_t us = 0;
  base::ParseIsoTimestamp(text, &us);
  return us;
}

base::StopFlag& ProcessStop() {
  static base::StopFlag stop;
  return stop;
}

void InstallSignalHandlers() {
  // Block the signals in every thread and take them on one thread with
  // sigwait: the stop flag is then raised outside a signal handler.
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([] {
    int sig = 0;
    sigwait(&set, &sig);
    ProcessStop().Request();
    sigwait(&set, &sig);
    static const char kMsg[] = "\ntxpipe: second signal, exiting now\n";
    ssize_t ignored = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    (void)ignored;
    _exit(130);
  }).detach();
}

std::string Thousands(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

Command AddNotYet(CLI::App& app, const std::string& name, const std::string& what) {
  Command c;
  c.cli = app.add_subcommand(name, what + " (not yet available)");
  c.cli->allow_extras();
  c.run = [name] {
    fmt::print(stderr, "txpipe {}: not yet available in this version\n", name);
    return kExitUsage;
  };
  return c;
}

}  // namespace txpipe::app
