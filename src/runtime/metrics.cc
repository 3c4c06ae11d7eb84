#include "runtime/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace txpipe::runtime {

Counter* Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Family& f = families_[name];
  if (f.help.empty()) f.help = help;
  f.is_counter = true;
  auto& c = f.counters[labels];
  if (!c) c = std::make_unique<Counter>();
  return c.get();
}

Gauge* Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Family& f = families_[name];
  if (f.help.empty()) f.help = help;
  f.is_counter = false;
  auto& g = f.gauges[labels];
  if (!g) g = std::make_unique<Gauge>();
  return g.get();
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

uint64_t Histogram::CumulativeCount(size_t i) const {
  uint64_t n = 0;
  for (size_t b = 0; b <= i && b <= bounds_.size(); ++b) n += buckets_[b].load(std::memory_order_relaxed);
  return n;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
  return kBounds;
}

Histogram* Metrics::histogram(const std::string& name, const std::string& help,
                              const std::vector<double>& bounds, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Family& f = families_[name];
  if (f.help.empty()) f.help = help;
  f.is_counter = false;
  auto it = f.histograms.find(labels);
  if (it != f.histograms.end()) return it->second.get();
  // Every histogram of a name has the bounds of the first.
  const std::vector<double>& b = f.histograms.empty() ? bounds : f.histograms.begin()->second->bounds();
  auto h = std::make_unique<Histogram>(b);
  Histogram* out = h.get();
  f.histograms.emplace(labels, std::move(h));
  return out;
}

uint64_t Metrics::CounterValue(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto c = f->second.counters.find(labels);
  return c == f->second.counters.end() ? 0 : c->second->value();
}

int64_t Metrics::GaugeValue(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> l(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto g = f->second.gauges.find(labels);
  return g == f->second.gauges.end() ? 0 : g->second->value();
}

std::vector<MetricSample> Metrics::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<MetricSample> out;
  for (const auto& [name, f] : families_) {
    for (const auto& [labels, c] : f.counters) {
      out.push_back({name, labels, true, static_cast<double>(c->value())});
    }
    for (const auto& [labels, g] : f.gauges) {
      out.push_back({name, labels, false, static_cast<double>(g->value())});
    }
  }
  return out;
}

namespace {
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
std::string LabelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string s = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) s += ',';
    s += fmt::format("{}=\"{}\"", labels[i].first, Escape(labels[i].second));
  }
  return s + "}";
}
}  // namespace

std::string Metrics::Prometheus() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (!f.histograms.empty()) {
      out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, f.help, name);
      for (const auto& [labels, h] : f.histograms) {
        for (size_t i = 0; i <= h->bounds().size(); ++i) {
          Labels with_le = labels;
          with_le.emplace_back("le", i < h->bounds().size() ? fmt::format("{}", h->bounds()[i]) : "+Inf");
          out += fmt::format("{}_bucket{} {}\n", name, LabelText(with_le), h->CumulativeCount(i));
        }
        out += fmt::format("{}_sum{} {}\n", name, LabelText(labels), h->sum());
        out += fmt::format("{}_count{} {}\n", name, LabelText(labels), h->count());
      }
      continue;
    }
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name,
                       f.is_counter ? "counter" : "gauge");
    for (const auto& [labels, c] : f.counters) {
      out += fmt::format("{}{} {}\n", name, LabelText(labels), c->value());
    }
    for (const auto& [labels, g] : f.gauges) {
      out += fmt::format("{}{} {}\n", name, LabelText(labels), g->value());
    }
  }
  return out;
}

void Metrics::SetProblem(const std::string& component, std::string problem) {
  std::lock_guard<std::mutex> l(mu_);
  if (problem.empty()) {
    problems_.erase(component);
  } else {
    problems_[component] = std::move(problem);
  }
}

std::map<std::string, std::string> Metrics::Problems() const {
  std::lock_guard<std::mutex> l(mu_);
  return problems_;
}

}  // namespace txpipe::runtime
