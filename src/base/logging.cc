#include "base/logging.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "base/clock.h"
#include "base/time.h"

namespace txpipe::base {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level); }
LogLevel GetLogLevel() { return g_level.load(); }

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  if (text == "debug") *level = LogLevel::kDebug;
  else if (text == "info") *level = LogLevel::kInfo;
  else if (text == "warn") *level = LogLevel::kWarn;
  else if (text == "error") *level = LogLevel::kError;
  else return false;
  return true;
}

void LogLine(LogLevel level, std::string_view message) {
  static constexpr std::string_view kNames[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
  CivilTime t = ToCivil(Clock::Real()->NowMicros());
  std::string line =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {}\n", t.year, t.month, t.day,
                  t.hour, t.minute, t.second, t.micros / 1000, kNames[static_cast<int>(level)],
                  message);
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace txpipe::base
