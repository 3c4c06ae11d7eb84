#include "sinks/common/retry.h"

#include <gtest/gtest.h>

#include "base/time.h"

namespace txpipe::sinks::common {
namespace {

TEST(ClassifyTest, HttpStatuses) {
  for (int s : {200, 201, 202, 204, 299})
    EXPECT_EQ(ClassifyHttpStatus(s), Outcome::kDelivered) << s;
  for (int s : {408, 429, 500, 502, 503, 504, 599})
    EXPECT_EQ(ClassifyHttpStatus(s), Outcome::kRetry) << s;
  for (int s :
       {0, 100, 101, 301, 302, 304, 400, 401, 403, 404, 405, 409, 410, 413, 422, 501, 600}) {
    EXPECT_EQ(ClassifyHttpStatus(s), Outcome::kFail) << s;
  }
}

TEST(ClassifyTest, TransportErrors) {
  EXPECT_EQ(ClassifyError(base::Status::Unavailable("connection refused")), Outcome::kRetry);
  EXPECT_EQ(ClassifyError(base::Status::ResourceExhausted("later")), Outcome::kRetry);
  EXPECT_EQ(ClassifyError(base::Status::InvalidArgument("bad url")), Outcome::kFail);
  EXPECT_EQ(ClassifyError(base::Status::Internal("bug")), Outcome::kFail);
  EXPECT_EQ(ClassifyError(base::Status::OK()), Outcome::kDelivered);
  EXPECT_EQ(OutcomeName(Outcome::kRetry), "retry");
}

TEST(BackoffTest, DoublesUpToTheCapWithoutJitter) {
  BackoffPolicy p{500, 30'000};
  EXPECT_EQ(BackoffDelayMs(p, 1, 0), 500);
  EXPECT_EQ(BackoffDelayMs(p, 2, 0), 1000);
  EXPECT_EQ(BackoffDelayMs(p, 3, 0), 2000);
  EXPECT_EQ(BackoffDelayMs(p, 7, 0), 30'000);  // 32 s capped
  EXPECT_EQ(BackoffDelayMs(p, 1000, 0), 30'000);
  EXPECT_EQ(BackoffDelayMs(p, 0, 0), 500);  // before the first: as the first
  // An initial wait past the cap is the cap.
  EXPECT_EQ(BackoffDelayMs({60'000, 30'000}, 1, 0), 30'000);
  EXPECT_EQ(BackoffDelayMs({0, 0}, 3, 0), 1);  // never 0: no busy loop
}

TEST(BackoffTest, JitterTakesAtMostHalf) {
  BackoffPolicy p{1000, 30'000};
  EXPECT_EQ(BackoffDelayMs(p, 1, 0.5), 750);
  EXPECT_EQ(BackoffDelayMs(p, 1, 0.999999), 501);
  EXPECT_EQ(BackoffDelayMs(p, 10, 0.999999), 15'001);
  Backoff b(p, 42);
  for (int i = 1; i <= 40; ++i) {
    const int64_t d = b.Next();
    const int64_t full = BackoffDelayMs(p, i, 0);
    EXPECT_GE(d, full / 2) << i;
    EXPECT_LE(d, full) << i;
  }
  EXPECT_EQ(b.attempts(), 40);
  b.Reset();
  EXPECT_EQ(b.attempts(), 0);
  EXPECT_LE(b.Next(), 1000);
}

TEST(BackoffTest, SameSeedSameWaits) {
  Backoff a({500, 30'000}, 7), b({500, 30'000}, 7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.Next(), b.Next());
}

TEST(RetryAfterTest, Seconds) {
  EXPECT_EQ(ParseRetryAfterMs("120", 0), 120'000);
  EXPECT_EQ(ParseRetryAfterMs(" 1 ", 0), 1000);
  EXPECT_EQ(ParseRetryAfterMs("0", 0), 0);
  EXPECT_EQ(ParseRetryAfterMs("99999999999999999999", 0), 86'400'000);  // capped, no overflow
  EXPECT_FALSE(ParseRetryAfterMs("", 0));
  EXPECT_FALSE(ParseRetryAfterMs("-1", 0));
  EXPECT_FALSE(ParseRetryAfterMs("1.5", 0));
  EXPECT_FALSE(ParseRetryAfterMs("soon", 0));
}

TEST(RetryAfterTest, HttpDates) {
  const int64_t at = (base::DaysFromCivil(1994, 11, 6) * 86'400 + 8 * 3600 + 49 * 60 + 37) * 1000;
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", at - 5000), 5000);
  EXPECT_EQ(ParseRetryAfterMs("Sunday, 06-Nov-94 08:49:37 GMT", at - 5000), 5000);
  EXPECT_EQ(ParseRetryAfterMs("Sun Nov  6 08:49:37 1994", at - 5000), 5000);
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", at + 60'000), 0);  // past
  const int64_t y2k = base::DaysFromCivil(2026, 11, 23) * 86'400'000;
  EXPECT_EQ(ParseRetryAfterMs("Mon, 23 Nov 2026 00:00:30 GMT", y2k), 30'000);
  for (const char* bad : {"Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Sun, 06 Nov 1994 8:49:37 GMT", "06 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 94 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT"}) {
    EXPECT_FALSE(ParseRetryAfterMs(bad, 0)) << bad;
  }
}

TEST(RetryDelayTest, RetryAfterWinsWithinBounds) {
  BackoffPolicy p{500, 30'000};
  EXPECT_EQ(RetryDelayMs(p, 1, 1000, 0.9), 1000);        // the peer's wait, no jitter
  EXPECT_EQ(RetryDelayMs(p, 9, 1000, 0.9), 1000);        // even after many retries
  EXPECT_EQ(RetryDelayMs(p, 1, 0, 0.9), 500);            // at least initial: no busy loop
  EXPECT_EQ(RetryDelayMs(p, 1, 3'600'000, 0), 30'000);   // at most max
  EXPECT_EQ(RetryDelayMs(p, 2, std::nullopt, 0), 1000);  // else the backoff
}

}  // namespace
}  // namespace txpipe::sinks::common
