#include "sinks/common/retry.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "base/time.h"

namespace txpipe::sinks::common {

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kDelivered:
      return "delivered";
    case Outcome::kRetry:
      return "retry";
    case Outcome::kFail:
      return "fail";
  }
  return "?";
}

Outcome ClassifyHttpStatus(int status) {
  if (status >= 200 && status < 300) return Outcome::kDelivered;
  if (status == 408 || status == 429) return Outcome::kRetry;
  if (status >= 500 && status < 600 && status != 501) return Outcome::kRetry;
  return Outcome::kFail;
}

Outcome ClassifyError(const base::Status& error) {
  if (error.ok()) return Outcome::kDelivered;
  return error.retryable() ? Outcome::kRetry : Outcome::kFail;
}

int64_t BackoffDelayMs(const BackoffPolicy& p, int attempt, double unit) {
  const int64_t max_ms = std::max<int64_t>(p.max_ms, 1);
  int64_t d = std::clamp<int64_t>(p.initial_ms, 1, max_ms);
  for (int i = 1; i < attempt && d < max_ms; ++i) d = d > max_ms / 2 ? max_ms : d * 2;
  unit = std::clamp(unit, 0.0, 1.0);
  const int64_t jitter = static_cast<int64_t>(static_cast<double>(d / 2) * unit);
  return std::max<int64_t>(d - jitter, 1);
}

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int64_t ToInt(std::string_view s) {
  int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// 1..12 for "Jan".."Dec" (exact case, as HTTP dates spell them), else 0.
unsigned MonthNumber(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (s == kMonths[i]) return i + 1;
  }
  return 0;
}

bool IsDayName(std::string_view s) {
  static constexpr std::array<std::string_view, 14> kDays = {
      "Mon",    "Tue",     "Wed",       "Thu",      "Fri",    "Sat",      "Sun",
      "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
  return std::find(kDays.begin(), kDays.end(), s) != kDays.end();
}

// The three HTTP date forms, by their tokens (split at spaces, commas, dashes):
//   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT   -> Sun 06 Nov 1994 08:49:37 GMT
//   RFC 850      Sunday, 06-Nov-94 08:49:37 GMT  -> Sunday 06 Nov 94 08:49:37 GMT
//   asctime      Sun Nov  6 08:49:37 1994        -> Sun Nov 6 08:49:37 1994
// Returns ms since the epoch, or nullopt.
std::optional<int64_t> ParseHttpDateMs(std::string_view text) {
  std::vector<std::string_view> t;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',' || text[i] == '-')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != ',' && text[j] != '-') ++j;
    if (j > i) t.push_back(text.substr(i, j - i));
    i = j;
  }
  std::string_view day, month, year, clock;
  if (t.size() == 6 && t[5] == "GMT") {  // IMF-fixdate or RFC 850
    day = t[1], month = t[2], year = t[3], clock = t[4];
    if (!(year.size() == 4 || (year.size() == 2 && t[0].size() > 3))) return std::nullopt;
  } else if (t.size() == 5) {  // asctime
    month = t[1], day = t[2], clock = t[3], year = t[4];
    if (year.size() != 4) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!IsDayName(t[0]) || !AllDigits(day) || day.size() > 2 || !AllDigits(year)) {
    return std::nullopt;
  }
  const unsigned m = MonthNumber(month);
  if (m == 0 || clock.size() != 8 || clock[2] != ':' || clock[5] != ':') return std::nullopt;
  const std::string_view hh = clock.substr(0, 2), mm = clock.substr(3, 2), ss = clock.substr(6, 2);
  if (!AllDigits(hh) || !AllDigits(mm) || !AllDigits(ss)) return std::nullopt;
  int64_t y = ToInt(year);
  if (year.size() == 2) y += y < 70 ? 2000 : 1900;  // RFC 850's two-digit years
  const int64_t d = ToInt(day), h = ToInt(hh), mi = ToInt(mm), s = ToInt(ss);
  if (d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  const int64_t days = base::DaysFromCivil(y, m, static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60'000 + s * 1000;
}

}  // namespace

std::optional<int64_t> ParseRetryAfterMs(std::string_view value, int64_t now_unix_ms) {
  value = Trim(value);
  if (AllDigits(value)) {
    // delay-seconds; anything past a day is a day (and cannot overflow).
    constexpr int64_t kMaxSeconds = 86'400;
    if (value.size() > 9) return kMaxSeconds * 1000;
    return std::min(ToInt(value), kMaxSeconds) * 1000;
  }
  auto at = ParseHttpDateMs(value);
  if (!at) return std::nullopt;
  return std::max<int64_t>(*at - now_unix_ms, 0);
}

int64_t RetryDelayMs(const BackoffPolicy& p, int attempt, std::optional<int64_t> retry_after_ms,
                     double unit) {
  if (retry_after_ms) {
    const int64_t max_ms = std::max<int64_t>(p.max_ms, 1);
    return std::clamp<int64_t>(*retry_after_ms,
                               std::min(std::max<int64_t>(p.initial_ms, 1), max_ms), max_ms);
  }
  return BackoffDelayMs(p, attempt, unit);
}

Backoff::Backoff(BackoffPolicy policy, uint64_t seed) : policy_(policy), rng_(seed) {}

int64_t Backoff::Next(std::optional<int64_t> retry_after_ms) {
  ++attempts_;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  return RetryDelayMs(policy_, attempts_, retry_after_ms, unit(rng_));
}

}  // namespace txpipe::sinks::common
