#include "base/clock.h"

#include <time.h>

#include <chrono>

namespace txpipe::base {

void StopFlag::Request() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    requested_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

class RealClock : public Clock {
 public:
  int64_t NowMicros() const override { return Read(CLOCK_REALTIME); }
  int64_t MonotonicMicros() const override { return Read(CLOCK_MONOTONIC); }

  bool SleepUntil(int64_t deadline, const StopFlag& stop) override {
    std::unique_lock<std::mutex> lock(stop.mu_);
    while (!stop.requested()) {
      int64_t now = MonotonicMicros();
      if (now >= deadline) return true;
      stop.cv_.wait_for(lock, std::chrono::microseconds(deadline - now));
    }
    return false;
  }

 private:
  static int64_t Read(clockid_t id) {
    timespec ts;
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
  }
};

Clock* Clock::Real() {
  static RealClock clock;
  return &clock;
}

}  // namespace txpipe::base
