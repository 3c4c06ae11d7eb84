// Clock: where components read time and wait, so tests can drive time by hand.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace txpipe::base {

// A one-way "please stop" flag that sleepers can wait on. Thread-safe.
class StopFlag {
 public:
  void Request();
  bool requested() const { return requested_.load(std::memory_order_acquire); }

 private:
  friend class RealClock;
  std::atomic<bool> requested_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
};

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: microseconds since the Unix epoch, UTC.
  virtual int64_t NowMicros() const = 0;
  // A clock that never goes backwards, for deadlines and rates (microseconds).
  virtual int64_t MonotonicMicros() const = 0;
  // Blocks until MonotonicMicros() >= deadline or `stop` is requested.
  // Returns false when woken by `stop`.
  virtual bool SleepUntil(int64_t deadline_monotonic_us, const StopFlag& stop) = 0;

  // The process-wide real clock.
  static Clock* Real();
};

// A clock that only moves when told to; SleepUntil jumps straight to the
// deadline. Both readings move together. Not thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_micros = 0) : now_(now_micros) {}
  int64_t NowMicros() const override { return now_; }
  int64_t MonotonicMicros() const override { return now_; }
  bool SleepUntil(int64_t deadline, const StopFlag& stop) override {
    if (stop.requested()) return false;
    if (deadline > now_) now_ = deadline;
    return true;
  }
  void Advance(int64_t micros) { now_ += micros; }

 private:
  int64_t now_;
};

}  // namespace txpipe::base
