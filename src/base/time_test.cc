#include "base/time.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace txpipe::base {
namespace {

int64_t Parse(std::string_view s) {
  int64_t us = 0;
  std::string why;
  EXPECT_TRUE(ParseIsoTimestamp(s, &us, &why)) << s << ": " << why;
  return us;
}

std::string Why(std::string_view s) {
  int64_t us = 0;
  std::string why;
  EXPECT_FALSE(ParseIsoTimestamp(s, &us, &why)) << s;
  return why;
}

TEST(TimeTest, ParsesPythonIsoformatWithAndWithoutMicroseconds) {
  // 2026-11-23T10:08:33Z = 1795428513 s since the epoch.
  EXPECT_EQ(Parse("2026-11-23T10:08:33Z"), 1795428513LL * 1'000'000);
  EXPECT_EQ(Parse("2026-11-23T10:08:33.881695Z"), 1795428513LL * 1'000'000 + 881695);
  EXPECT_EQ(Parse("1970-01-01T00:00:00Z"), 0);
}

TEST(TimeTest, ParsesFractionsOffsetsAndVariants) {
  int64_t base = Parse("2026-11-23T10:08:33Z");
  EXPECT_EQ(Parse("2026-11-23T10:08:33.5Z"), base + 500000);
  EXPECT_EQ(Parse("2026-11-23T10:08:33.123456789Z"), base + 123456);  // ns truncated
  EXPECT_EQ(Parse("2026-11-23T12:08:33+02:00"), base);
  EXPECT_EQ(Parse("2026-11-23T05:08:33-05:00"), base);
  EXPECT_EQ(Parse("2026-11-23 10:08:33z"), base);
  EXPECT_EQ(Parse("2024-02-29T00:00:00Z"), DaysFromCivil(2024, 2, 29) * kMicrosPerDay);
  EXPECT_EQ(Parse("1969-12-31T23:59:59.999999Z"), -1);
}

TEST(TimeTest, RejectsWithAReason) {
  EXPECT_EQ(Why(""), "expected YYYY-MM-DDTHH:MM:SS");
  EXPECT_EQ(Why("2026-13-01T00:00:00Z"), "month out of range");
  EXPECT_EQ(Why("2026-02-29T00:00:00Z"), "day out of range");  // not a leap year
  EXPECT_EQ(Why("2026-11-23T24:00:00Z"), "hour out of range");
  EXPECT_EQ(Why("2026-11-23T10:08:33"), "missing time zone ('Z' or +HH:MM)");
  EXPECT_EQ(Why("2026-11-23T10:08:33.Z"), "expected digits after '.'");
  EXPECT_EQ(Why("2026-11-23T10:08:33ZZ"), "unexpected characters after the time zone");
  EXPECT_EQ(Why("2026-11-23T10:08:33+2:00"), "bad time zone offset (expected +HH:MM)");
  EXPECT_EQ(Why("2026-11-23T10:08:33.1234567890Z"), "more than 9 fractional digits");
  EXPECT_EQ(Why("yesterday"), "expected YYYY-MM-DDTHH:MM:SS");
  EXPECT_EQ(Why("2026/11/23T10:08:33Z"), "expected '-' after the year");
}

TEST(TimeTest, FormatsAsPythonIsoformatPlusZ) {
  int64_t base = 1795428513LL * 1'000'000;
  EXPECT_EQ(FormatIsoTimestamp(base), "2026-11-23T10:08:33Z");
  EXPECT_EQ(FormatIsoTimestamp(base + 881695), "2026-11-23T10:08:33.881695Z");
  EXPECT_EQ(FormatIsoTimestamp(base + 1000), "2026-11-23T10:08:33.001000Z");
  EXPECT_EQ(FormatIsoTimestamp(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatFileStamp(base + 881695), "20261123_100833");
}

TEST(TimeTest, FormatThenParseRoundTripsAcrossYears) {
  // Every ~37 hours plus odd microseconds, 1900..2100.
  int64_t from = Parse("1900-01-01T00:00:00Z"), to = Parse("2100-01-01T00:00:00Z");
  int64_t step = 37 * 3600 * kMicrosPerSecond + 123457;
  for (int64_t t = from; t < to; t += step) {
    std::string s = FormatIsoTimestamp(t);
    int64_t back = 0;
    ASSERT_TRUE(ParseIsoTimestamp(s, &back)) << s;
    ASSERT_EQ(back, t) << s;
  }
}

// ParseIsoTimestamp reads the layout events carry ("...SS[.f]Z") by a
// shortcut, and everything else with the full parser. The same text with
// "+00:00" in place of the final "Z" always takes the full parser, so both
// spellings must agree on every text: same verdict, same value.
TEST(TimeTest, ShortcutAgreesWithTheFullParser) {
  auto check = [](const std::string& s) {
    if (s.empty() || s.back() != 'Z') return;
    std::string full = s.substr(0, s.size() - 1) + "+00:00";
    int64_t a = 0, b = 0;
    bool ok_a = ParseIsoTimestamp(s, &a);
    bool ok_b = ParseIsoTimestamp(full, &b);
    ASSERT_EQ(ok_a, ok_b) << s;
    if (ok_a) {
      ASSERT_EQ(a, b) << s;
    }
  };
  const std::string seeds[] = {"2026-11-23T10:08:33.881695Z", "2026-11-23T10:08:33Z",
                               "2024-02-29T23:59:60.5Z",      "1999-12-31T00:00:00.123456789Z",
                               "0000-01-01T00:00:00.000001Z", "9999-12-31T23:59:59.999999Z"};
  const char replacements[] = {'0', '1', '2', '3', '5', '6', '9', '/', ':',    ';',
                               '-', '.', 'T', 't', ' ', 'Z', 'z', '+', '\x00', '\xb9'};
  for (const std::string& seed : seeds) {
    check(seed);
    for (size_t i = 0; i + 1 < seed.size(); ++i) {
      check(seed.substr(0, i) + seed.substr(i + 1));    // a byte deleted
      check(seed.substr(0, i) + "7" + seed.substr(i));  // a digit inserted
      for (char c : replacements) {
        std::string m = seed;
        m[i] = c;
        check(m);
      }
      if (HasFatalFailure()) return;
    }
  }
  // Every month's last day and the day after, in leap and common years.
  for (int year : {1900, 2000, 2023, 2024}) {
    for (int month = 1; month <= 12; ++month) {
      for (int day = 28; day <= 32; ++day) {
        check(fmt::format("{:04}-{:02}-{:02}T12:00:00Z", year, month, day));
      }
    }
  }
}

}  // namespace
}  // namespace txpipe::base
