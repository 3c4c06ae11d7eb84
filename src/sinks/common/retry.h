// Retry rules shared by the sinks that talk to a peer (webhook; InfluxDB
// next): which outcomes are retried, how long to wait before the next try
// (capped exponential backoff with jitter, or the peer's Retry-After).
// Everything here is pure except Backoff's random draw, which takes a seed.
//
// Classification (vector's src/sinks/util/http.rs): a 2xx is delivered;
// 408 Request Timeout, 429 Too Many Requests and every 5xx but
// 501 Not Implemented are retried; everything else (other 4xx, 501, 1xx, 3xx)
// will not get better by sending the same request again. A request that got
// no response is retried when its error is retryable (Status::retryable()).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include "base/status.h"

namespace txpipe::sinks::common {

enum class Outcome {
  kDelivered,  // the peer took it
  kRetry,      // send the same thing again after a backoff
  kFail,       // the same request will not succeed: give up on it
};

std::string_view OutcomeName(Outcome o);

// What an HTTP status means for the request that got it.
Outcome ClassifyHttpStatus(int status);
// What a request that got no response (connect, timeout, TLS) means.
Outcome ClassifyError(const base::Status& error);

struct BackoffPolicy {
  int64_t initial_ms = 500;  // the wait before the first retry (before jitter)
  int64_t max_ms = 30'000;   // no wait is longer than this
};

// The wait before retry number `attempt` (1 = the first retry):
// d = min(initial_ms * 2^(attempt-1), max_ms), less up to half of it for
// jitter ("equal jitter": the result is in [d/2, d]); `unit` in [0, 1) picks
// where (0 gives d). Never below 1 ms, never above max_ms.
int64_t BackoffDelayMs(const BackoffPolicy& policy, int attempt, double unit);

// Parses a Retry-After header value (RFC 9110 10.2.3): delay-seconds ("120")
// or an HTTP date (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", or the
// obsolete RFC 850 and asctime forms), as a delay in ms from
// `now_unix_ms`. A date in the past gives 0. nullopt when the value is none
// of these.
std::optional<int64_t> ParseRetryAfterMs(std::string_view value, int64_t now_unix_ms);

// The wait before retry number `attempt`: the peer's Retry-After when it sent
// one, held to [initial_ms, max_ms] (so "Retry-After: 0" does not become a
// busy loop, and a peer cannot stall the sink past max_ms), else
// BackoffDelayMs.
int64_t RetryDelayMs(const BackoffPolicy& policy, int attempt,
                     std::optional<int64_t> retry_after_ms, double unit);

// Counts the retries of one request and draws the jitter. Not thread-safe.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy, uint64_t seed = std::random_device{}());
  // Counts one more retry and returns the wait before it (RetryDelayMs).
  int64_t Next(std::optional<int64_t> retry_after_ms = std::nullopt);
  // After a success (or giving up): the next failure waits initial_ms again.
  void Reset() { attempts_ = 0; }
  // Retries counted since the last Reset.
  int attempts() const { return attempts_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int attempts_ = 0;
};

}  // namespace txpipe::sinks::common
