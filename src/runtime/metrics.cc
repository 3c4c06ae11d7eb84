#include "runtime/metrics.h"

#include <fmt/format.h>

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

}  // namespace txpipe::runtime
