// Raw-pointer writers shared by the generators (internal).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/time.h"

namespace txpipe::sources::generator {

inline char* Write(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Decimal digits of v (no sign).
inline char* WriteUint(char* p, uint64_t v) {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *p++ = tmp[--n];
  return p;
}

inline char* WriteHex16(char* p, uint64_t v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int i = 15; i >= 0; --i) {
    p[i] = kHex[v & 15];
    v >>= 4;
  }
  return p + 16;
}

// Formats event times as Python's isoformat()+"Z", recomputing the calendar
// part only when the second changes.
class TimestampWriter {
 public:
  char* Write(char* p, int64_t micros) {
    int64_t sec = micros >= 0 ? micros / base::kMicrosPerSecond
                              : (micros - base::kMicrosPerSecond + 1) / base::kMicrosPerSecond;
    if (sec != second_) {
      second_ = sec;
      base::FormatIsoTimestamp(sec * base::kMicrosPerSecond, prefix_);  // "....:SSZ"
    }
    std::memcpy(p, prefix_, 19);
    p += 19;
    unsigned frac = static_cast<unsigned>(micros - sec * base::kMicrosPerSecond);
    if (frac != 0) {
      *p++ = '.';
      for (int i = 5; i >= 0; --i) {
        p[i] = static_cast<char>('0' + frac % 10);
        frac /= 10;
      }
      p += 6;
    }
    *p++ = 'Z';
    return p;
  }

 private:
  int64_t second_ = INT64_MIN;
  char prefix_[base::kIsoTimestampMaxLen];
};

}  // namespace txpipe::sources::generator
