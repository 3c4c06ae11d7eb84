// PathTemplate: Flume's bucket path escapes (BucketPath), compiled once and
// expanded per event. Pure: no I/O.
//
// Escapes (all in UTC): %Y year, %y year % 100, %m month 01-12, %n month 1-12,
// %d day 01-31, %e day 1-31, %j day of year 001-366, %H hour 00-23, %k hour
// 0-23, %I hour 01-12, %l hour 1-12, %p AM|PM, %M minute, %S second, %s
// seconds since the epoch, %t milliseconds since the epoch, %a %A weekday
// (Mon, Monday), %b %B month (Jan, January), %z +0000, %% a '%',
// %{name} the event header `name` ("" when missing), %{topic} and
// %{partition} where the event came from.
//
// The leading directories without escapes are the archive root ("archive" in
// "archive/%{topic}/%Y"); Expand returns the rest, normalised, and refuses
// values that would leave the root.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "core/event.h"

namespace txpipe::sinks::archive {

enum class RoundUnit { kSecond, kMinute, kHour };

// Milliseconds since the epoch rounded down to a multiple of `value` units
// (Flume's hdfs.round). value >= 1.
int64_t RoundDownMs(int64_t ms, int value, RoundUnit unit);

// What one event expands against.
struct ExpandInput {
  const core::EventView* event = nullptr;
  std::string_view topic;
  int partition = 0;
  int64_t timestamp_ms = 0;  // already rounded
};

class PathTemplate {
 public:
  // Fails (kInvalidArgument) on an unknown escape, an unclosed %{, or a path
  // without a fixed leading directory.
  static base::Result<PathTemplate> Compile(std::string_view text);

  // The fixed leading directories, without a trailing '/': "archive".
  const std::string& root() const { return root_; }

  // The bucket directory relative to root(): "finance/2026-11-23/10", or ""
  // for the root itself. Empty components and "." are dropped. Fails with
  // kInvalidArgument, saying why, when a substituted value is an absolute
  // path, holds a control character, or a ".." component appears, or when a
  // component is over 200 bytes or the whole over 2048.
  base::Result<std::string> Expand(const ExpandInput& in) const;

  // True when Expand depends on the time (for callers that cache buckets).
  bool uses_time() const { return uses_time_; }

 private:
  struct Segment {
    enum Kind { kLiteral, kTime, kHeader, kTopic, kPartition } kind = kLiteral;
    std::string text;  // literal text or header name
    char escape = 0;   // for kTime
  };
  std::string root_;
  std::vector<Segment> segments_;  // of the part after the root
  bool uses_time_ = false;
};

}  // namespace txpipe::sinks::archive
