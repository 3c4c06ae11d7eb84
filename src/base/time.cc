#include "base/time.h"

#include <bit>
#include <cstdio>
#include <cstring>

namespace txpipe::base {
namespace {

// Floor division that also works for times before the epoch.
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at text[*pos].
bool Digits(std::string_view text, size_t* pos, int n, unsigned* out) {
  if (*pos + n > text.size()) return false;
  unsigned v = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Fail(std::string* why, const char* what) {
  if (why) *why = what;
  return false;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

void Put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Checks the 8 bytes of `w` (little-endian: byte i is p[i]) against a layout:
// `digits` marks bytes that must be '0'..'9', `sep_mask`/`sep` the bytes that
// must equal given characters. Returns the digits paired: byte i of the
// result is 10 * digit i + digit i+1 (meaningful where a pair starts), or
// ~0 when the layout does not match.
uint64_t DigitPairs(uint64_t w, uint64_t digits, uint64_t sep_mask, uint64_t sep) {
  constexpr uint64_t kZeros = 0x3030303030303030ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  uint64_t x = w ^ kZeros;  // a digit byte becomes 0..9
  // A byte above 9 sets its high bit here (adding 0x76 carries only out of
  // bytes already above 0x89, which are caught by `| x`).
  uint64_t bad = ((x + 0x7676767676767676ull) | x) & kHighs & digits;
  if (bad != 0 || (w & sep_mask) != sep) return ~uint64_t{0};
  x &= digits;
  return x * 10 + (x >> 8);
}

unsigned PairAt(uint64_t pairs, int byte) {
  return static_cast<unsigned>(pairs >> (8 * byte)) & 0xFF;
}

// The layout events carry, "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z", with all of
// ParseIsoTimestamp's range checks but no messages: false for anything else,
// valid or not, and ParseIsoTimestamp's full parser then decides. So it must
// never accept what the full parser rejects, nor give another value
// (time_test.cc checks both against each other).
bool ParseCommonLayout(std::string_view s, int64_t* micros) {
  if constexpr (std::endian::native != std::endian::little) {
    return false;
  } else {
    const size_t n = s.size();
    if (n < 20) return false;
    const char* p = s.data();
    // "YYYY-MM-", "DDTHH:MM", "HH:MM:SS" (the last two overlap).
    const uint64_t date =
        DigitPairs(Load64(p), 0x00FFFF00FFFFFFFFull, 0xFF0000FF00000000ull, 0x2D00002D00000000ull);
    const uint64_t day_time = DigitPairs(Load64(p + 8), 0xFFFF00FFFF00FFFFull,
                                         0x0000FF0000FF0000ull, 0x00003A0000540000ull);
    const uint64_t time = DigitPairs(Load64(p + 11), 0xFFFF00FFFF00FFFFull, 0x0000FF0000FF0000ull,
                                     0x00003A00003A0000ull);
    if (date == ~uint64_t{0} || day_time == ~uint64_t{0} || time == ~uint64_t{0}) return false;
    const unsigned year = PairAt(date, 0) * 100 + PairAt(date, 2);
    const unsigned month = PairAt(date, 5);
    const unsigned day = PairAt(day_time, 0);
    const unsigned hour = PairAt(day_time, 3);
    const unsigned minute = PairAt(day_time, 6);
    unsigned second = PairAt(time, 6);
    if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
        minute > 59 || second > 60) {
      return false;
    }
    if (second == 60) second = 59;  // as the full parser does
    size_t i = 19;
    int64_t frac = 0;
    if (p[i] == '.') {
      if (n == 27 && p[26] == 'Z') {  // six digits, the generators' and Python's
        const uint64_t f = DigitPairs(Load64(p + 19), 0x00FFFFFFFFFFFF00ull, 0xFF, '.');
        if (f == ~uint64_t{0}) return false;
        frac = PairAt(f, 1) * 10000 + PairAt(f, 3) * 100 + PairAt(f, 5);
        i = 26;
      } else {
        const size_t first = ++i;
        while (i < n && IsDigit(p[i])) {
          if (i - first < 6) frac = frac * 10 + (p[i] - '0');
          ++i;
        }
        const size_t digits = i - first;
        if (digits == 0 || digits > 9) return false;
        static constexpr int64_t kScale[] = {1, 100000, 10000, 1000, 100, 10, 1};
        if (digits < 6) frac *= kScale[digits];
      }
    }
    if (i + 1 != n || p[i] != 'Z') return false;
    int64_t secs = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    *micros = secs * kMicrosPerSecond + frac;
    return true;
  }
}

}  // namespace

CivilTime ToCivil(int64_t micros) {
  int64_t days = FloorDiv(micros, kMicrosPerDay);
  int64_t in_day = micros - days * kMicrosPerDay;
  // Hinnant's civil_from_days.
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  CivilTime t;
  t.day = doy - (153 * mp + 2) / 5 + 1;
  t.month = mp < 10 ? mp + 3 : mp - 9;
  t.year = static_cast<int64_t>(yoe) + era * 400 + (t.month <= 2);
  int64_t secs = in_day / kMicrosPerSecond;
  t.micros = static_cast<unsigned>(in_day % kMicrosPerSecond);
  t.hour = static_cast<unsigned>(secs / 3600);
  t.minute = static_cast<unsigned>(secs / 60 % 60);
  t.second = static_cast<unsigned>(secs % 60);
  return t;
}

bool ParseIsoTimestamp(std::string_view s, int64_t* micros, std::string* why) {
  if (ParseCommonLayout(s, micros)) return true;
  size_t p = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(s, &p, 4, &year)) return Fail(why, "expected YYYY-MM-DDTHH:MM:SS");
  if (p >= s.size() || s[p++] != '-') return Fail(why, "expected '-' after the year");
  if (!Digits(s, &p, 2, &month)) return Fail(why, "expected a two-digit month");
  if (p >= s.size() || s[p++] != '-') return Fail(why, "expected '-' after the month");
  if (!Digits(s, &p, 2, &day)) return Fail(why, "expected a two-digit day");
  if (p >= s.size() || (s[p] != 'T' && s[p] != 't' && s[p] != ' ')) {
    return Fail(why, "expected 'T' between date and time");
  }
  ++p;
  if (!Digits(s, &p, 2, &hour)) return Fail(why, "expected a two-digit hour");
  if (p >= s.size() || s[p++] != ':') return Fail(why, "expected ':' after the hour");
  if (!Digits(s, &p, 2, &minute)) return Fail(why, "expected two-digit minutes");
  if (p >= s.size() || s[p++] != ':') return Fail(why, "expected ':' after the minutes");
  if (!Digits(s, &p, 2, &second)) return Fail(why, "expected two-digit seconds");
  if (month < 1 || month > 12) return Fail(why, "month out of range");
  if (day < 1 || day > DaysInMonth(year, month)) return Fail(why, "day out of range");
  if (hour > 23) return Fail(why, "hour out of range");
  if (minute > 59) return Fail(why, "minute out of range");
  if (second > 60) return Fail(why, "second out of range");
  if (second == 60) second = 59;  // a leap second maps onto the second before it
  int64_t frac = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int n = 0;
    while (p < s.size() && IsDigit(s[p])) {
      if (n < 6) frac = frac * 10 + (s[p] - '0');
      ++n;
      ++p;
    }
    if (n == 0) return Fail(why, "expected digits after '.'");
    if (n > 9) return Fail(why, "more than 9 fractional digits");
    for (int i = n; i < 6; ++i) frac *= 10;
  }
  int64_t offset_s = 0;
  if (p >= s.size()) return Fail(why, "missing time zone ('Z' or +HH:MM)");
  if (s[p] == 'Z' || s[p] == 'z') {
    ++p;
  } else if (s[p] == '+' || s[p] == '-') {
    int sign = s[p++] == '-' ? -1 : 1;
    unsigned oh = 0, om = 0;
    if (!Digits(s, &p, 2, &oh) || p >= s.size() || s[p++] != ':' || !Digits(s, &p, 2, &om) ||
        oh > 23 || om > 59) {
      return Fail(why, "bad time zone offset (expected +HH:MM)");
    }
    offset_s = sign * static_cast<int64_t>(oh * 3600 + om * 60);
  } else {
    return Fail(why, "missing time zone ('Z' or +HH:MM)");
  }
  if (p != s.size()) return Fail(why, "unexpected characters after the time zone");
  int64_t secs = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                 offset_s;
  *micros = secs * kMicrosPerSecond + frac;
  return true;
}

int FormatIsoTimestamp(int64_t micros, char* out) {
  CivilTime t = ToCivil(micros);
  unsigned y = static_cast<unsigned>(t.year);
  out[0] = static_cast<char>('0' + y / 1000 % 10);
  out[1] = static_cast<char>('0' + y / 100 % 10);
  Put2(out + 2, y % 100);
  out[4] = '-';
  Put2(out + 5, t.month);
  out[7] = '-';
  Put2(out + 8, t.day);
  out[10] = 'T';
  Put2(out + 11, t.hour);
  out[13] = ':';
  Put2(out + 14, t.minute);
  out[16] = ':';
  Put2(out + 17, t.second);
  int n = 19;
  if (t.micros != 0) {
    out[n++] = '.';
    unsigned f = t.micros;
    for (int i = 5; i >= 0; --i) {
      out[n + i] = static_cast<char>('0' + f % 10);
      f /= 10;
    }
    n += 6;
  }
  out[n++] = 'Z';
  return n;
}

std::string FormatIsoTimestamp(int64_t micros) {
  char buf[kIsoTimestampMaxLen];
  return std::string(buf, FormatIsoTimestamp(micros, buf));
}

std::string FormatFileStamp(int64_t micros) {
  CivilTime t = ToCivil(micros);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02u_%02u%02u%02u", static_cast<long long>(t.year),
                t.month, t.day, t.hour, t.minute, t.second);
  return buf;
}

}  // namespace txpipe::base
