// Metrics: counters and gauges with labels, rendered in Prometheus text
// format for GET /metrics. Names are prefixed txpipe_ by convention and
// counters end in _total. Getting a metric takes a lock; updating one is a
// relaxed atomic add, so components keep the pointer and bump it in hot loops.
// The registry also holds what components say of their health (for /readyz):
// it travels wherever metrics do.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace txpipe::runtime {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// A distribution of durations (or sizes): counts per bucket with upper
// bounds `bounds` (ascending; +Inf is implied), their sum and count. Observe
// is a few relaxed atomic adds, for hot paths.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative count of observations <= bounds()[i] (i == bounds().size(): all).
  uint64_t CumulativeCount(size_t i) const;
  uint64_t count() const { return CumulativeCount(bounds_.size()); }
  double sum() const { return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<uint64_t> sum_micro_{0};                // sum in millionths
};

// Bucket bounds for latencies in seconds: 1 ms .. 60 s.
const std::vector<double>& LatencyBuckets();

// One metric's value at the time of a Metrics::Snapshot.
struct MetricSample {
  std::string name;
  Labels labels;
  bool is_counter = true;
  double value = 0;
};

class Metrics {
 public:
  // Returns the counter `name{labels}`, creating it. The pointer lives as long
  // as the Metrics. `help` is kept from the first call for a name.
  Counter* counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // Histograms render as NAME_bucket{le=..}, NAME_sum, NAME_count (not in
  // Snapshot). `bounds` are kept from the first call for a name.
  Histogram* histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& bounds, const Labels& labels = {});
  // Current value, 0 when the metric does not exist (for tests and status lines).
  uint64_t CounterValue(const std::string& name, const Labels& labels = {}) const;
  int64_t GaugeValue(const std::string& name, const Labels& labels = {}) const;
  // Every counter and gauge with its current value, ordered by name, then
  // labels (the store's stats table keeps these).
  std::vector<MetricSample> Snapshot() const;
  // Prometheus text exposition format, version 0.0.4.
  std::string Prometheus() const;

  // Health: a component that cannot do its work (its peer refuses the
  // credentials, say) reports a problem; "" clears it. /readyz answers 503
  // and names the problems while there are any.
  void SetProblem(const std::string& component, std::string problem);
  // component -> problem, for those that have one.
  std::map<std::string, std::string> Problems() const;

 private:
  struct Family {
    std::string help;
    bool is_counter = true;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::map<std::string, std::string> problems_;
};

}  // namespace txpipe::runtime
