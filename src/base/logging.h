// Logging to stderr: "2026-11-23T10:08:33.881Z WARN  spooldir: file quarantined: ...".
// Thread-safe; one write(2) per line so lines from threads never interleave.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace txpipe::base {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug" | "info" | "warn" | "error".
bool ParseLogLevel(std::string_view text, LogLevel* level);
void LogLine(LogLevel level, std::string_view message);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (level < GetLogLevel()) return;
  LogLine(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace txpipe::base

#define TXP_LOG_DEBUG(...) ::txpipe::base::Log(::txpipe::base::LogLevel::kDebug, __VA_ARGS__)
#define TXP_LOG_INFO(...) ::txpipe::base::Log(::txpipe::base::LogLevel::kInfo, __VA_ARGS__)
#define TXP_LOG_WARN(...) ::txpipe::base::Log(::txpipe::base::LogLevel::kWarn, __VA_ARGS__)
#define TXP_LOG_ERROR(...) ::txpipe::base::Log(::txpipe::base::LogLevel::kError, __VA_ARGS__)
