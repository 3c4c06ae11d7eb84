// Calendar arithmetic and the ISO-8601 timestamps events carry.
//
// Event times are microseconds since the Unix epoch, UTC (int64). The seed's
// generator writes Python's `datetime.utcnow().isoformat() + "Z"`, which has
// six fractional digits, or none when the microseconds are zero; both parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace txpipe::base {

inline constexpr int64_t kMicrosPerSecond = 1'000'000;
inline constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct CivilTime {
  int64_t year;
  unsigned month, day, hour, minute, second, micros;
};

// Breaks microseconds since the epoch into UTC calendar fields.
CivilTime ToCivil(int64_t micros);

// Parses an RFC 3339 timestamp: YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM).
// 'T' may also be 't' or ' ', 'Z' may be 'z'. Digits past microseconds are
// truncated. On failure returns false and, when `why` is given, says what was
// wrong in a few words ("month 13 out of range").
bool ParseIsoTimestamp(std::string_view text, int64_t* micros, std::string* why = nullptr);

// Longest text FormatIsoTimestamp writes: "YYYY-MM-DDTHH:MM:SS.ffffffZ".
inline constexpr int kIsoTimestampMaxLen = 27;

// Writes Python's isoformat()+"Z" of `micros` (years 0..9999) into `out`:
// "2026-11-23T10:08:33.881695Z", or "2026-11-23T10:08:33Z" when the
// microseconds are zero. Returns the number of characters written.
int FormatIsoTimestamp(int64_t micros, char* out);
std::string FormatIsoTimestamp(int64_t micros);

// "20261123_100833": the seed's file-name stamp (strftime "%Y%m%d_%H%M%S"), UTC.
std::string FormatFileStamp(int64_t micros);

}  // namespace txpipe::base
