#include "processors/analytics/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/crc32c.h"
#include "base/time.h"
#include "codec/json_writer.h"

namespace txpipe::processors::analytics {

using base::Status;

namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// "-12.5" from -12500000 µ-units: exact, no trailing zeros.
void AppendMicros(std::string* out, __int128 v) {
  bool neg = v < 0;
  unsigned __int128 u = neg ? static_cast<unsigned __int128>(-v) : static_cast<unsigned __int128>(v);
  unsigned __int128 whole = u / kMicro;
  unsigned frac = static_cast<unsigned>(u % kMicro);
  char buf[48];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + static_cast<int>(whole % 10));
    whole /= 10;
  } while (whole != 0);
  if (neg) out->push_back('-');
  while (n > 0) out->push_back(buf[--n]);
  if (frac != 0) {
    char f[7];
    for (int i = 5; i >= 0; --i) {
      f[i] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    int len = 6;
    while (f[len - 1] == '0') --len;
    out->push_back('.');
    out->append(f, len);
  }
}

__int128 RoundedDiv(__int128 a, int64_t b) {
  __int128 q = a / b, r = a % b;
  if (2 * (r < 0 ? -r : r) >= b) q += (a < 0) ? -1 : 1;
  return q;
}

std::string DurationName(int64_t ms) {
  if (ms % 86'400'000 == 0) return fmt::format("{}d", ms / 86'400'000);
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// Sums are int64 µ-units; a sum that would overflow moves into the window's
// 128-bit `spill` (rare: 9.2e12 units), so the hot loop adds 64-bit values.
struct MeasureAgg {
  int64_t sum = 0;
  int64_t n = 0;
  int64_t min = kMax;
  int64_t max = kMin;
};

// Little-endian fixed-width encoding for snapshots.
class Writer {
 public:
  void U8(uint8_t v) { s_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I64(int64_t v) { Raw(&v, 8); }
  void I128(__int128 v) { Raw(&v, 16); }
  void Str(std::string_view v) {
    U32(static_cast<uint32_t>(v.size()));
    s_.append(v);
  }
  std::string& str() { return s_; }

 private:
  void Raw(const void* p, size_t n) { s_.append(static_cast<const char*>(p), n); }
  std::string s_;
};

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool U8(uint8_t* v) { return Raw(v, 1); }
  bool U32(uint32_t* v) { return Raw(v, 4); }
  bool U64(uint64_t* v) { return Raw(v, 8); }
  bool I32(int32_t* v) { return Raw(v, 4); }
  bool I64(int64_t* v) { return Raw(v, 8); }
  bool I128(__int128* v) { return Raw(v, 16); }
  bool Str(std::string* v) {
    uint32_t n;
    if (!U32(&n) || n > s_.size() - pos_) return false;
    v->assign(s_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  // A count of items of at least `item_bytes` each that fits what is left.
  bool Count(uint32_t* n, size_t item_bytes) {
    return U32(n) && static_cast<uint64_t>(*n) * item_bytes <= s_.size() - pos_;
  }
  bool done() const { return pos_ == s_.size(); }

 private:
  bool Raw(void* p, size_t n) {
    if (s_.size() - pos_ < n) return false;
    std::memcpy(p, s_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view s_;
  size_t pos_ = 0;
};

constexpr uint32_t kSnapshotMagic = 0x41505854;  // "TXPA"
constexpr uint32_t kSnapshotVersion = 1;

}  // namespace

struct Engine::Window {
  int64_t start_us = 0;
  bool emitted = false;
  bool any_dirty = false;
  std::vector<int64_t> counts;     // per slot
  std::vector<MeasureAgg> meas;    // slot * measures + m
  std::vector<__int128> spill;     // same layout; empty until a sum overflows int64
  std::vector<int64_t> hits;       // slot * ratios + r
  std::vector<uint8_t> dirty;      // per slot, after emission
  std::vector<std::pair<int32_t, std::string>> dyn;  // slots >= fixed: (dimension, value)
  std::unordered_map<std::string, int32_t> dyn_index;  // "<dim>\0<value>" -> slot

  // The exact sum of measure entry `i` (slot * measures + m).
  __int128 Sum(size_t i) const { return (spill.empty() ? 0 : spill[i]) + meas[i].sum; }

  void Resize(size_t slots, size_t m, size_t r) {
    counts.resize(slots, 0);
    meas.resize(slots * m);
    if (!spill.empty()) spill.resize(slots * m, 0);
    hits.resize(slots * r, 0);
    dirty.resize(slots, 0);
  }
};

struct Engine::WindowSet {
  int64_t size_us = 0;
  int64_t erased_end_us = kMin;  // windows ending at or before this are forgotten
  std::map<int64_t, Window> windows;  // by start
};

Engine::Engine(std::shared_ptr<const Plan> plan, Output* out, int64_t start_us)
    : plan_(std::move(plan)),
      out_(out),
      start_us_(start_us),
      watermark_us_(kMin),
      dedup_(std::max<int64_t>(plan_->dedup_horizon_us / 16, 1'000'000)) {
  for (int64_t ms : plan_->windows_ms) {
    auto s = std::make_unique<WindowSet>();
    s->size_us = ms * 1000;
    sets_.push_back(std::move(s));
  }
  velocity_.resize(plan_->velocity_alerts.size(), VelocityRule{kMin, {}});
}

Engine::~Engine() = default;

size_t Engine::open_windows() const {
  size_t n = 0;
  for (const auto& s : sets_) n += s->windows.size();
  return n;
}

void Engine::AssignPartitions(const std::vector<int32_t>& partitions) {
  for (int32_t p : partitions) partitions_.try_emplace(p, Partition{kMin, start_us_});
}

void Engine::Apply(const ParsedBatch& b, int64_t now_us) {
  size_t alert = 0;
  std::vector<int> unused;
  constexpr size_t kPrefetch = 8;
  for (size_t i = 0; i < std::min(kPrefetch, b.events.size()); ++i) {
    if (b.events[i].dedup_hash) dedup_.Prefetch(b.events[i].dedup_hash);
  }
  for (const ParsedEvent& e : b.events) {
    const size_t ahead = static_cast<size_t>(&e - b.events.data()) + kPrefetch;
    if (ahead < b.events.size() && b.events[ahead].dedup_hash) dedup_.Prefetch(b.events[ahead].dedup_hash);
    auto [it, inserted] = partitions_.try_emplace(e.partition, Partition{kMin, now_us});
    Partition& part = it->second;
    bool duplicate = e.dedup_hash != 0 && !dedup_.Insert(e.dedup_hash, e.time_us);
    ++stats_.events;
    if (duplicate) {
      ++stats_.duplicates;
    } else {
      ApplyEvent(b, e, part, &unused);
    }
    // Event alerts of this event (the parser lists them in event order).
    uint32_t index = static_cast<uint32_t>(&e - b.events.data());
    for (; alert < b.alerts.size() && b.alerts[alert].event == index; ++alert) {
      if (duplicate) continue;
      const FiredAlert& a = b.alerts[alert];
      const AlertRule& r = plan_->alerts[a.rule];
      std::string id = fmt::format("{}|{}", r.name, a.key);
      scratch_.clear();
      std::string& s = scratch_;
      s.append("{\"id\":");
      codec::AppendJsonString(&s, id);
      s.append(",\"rule\":");
      codec::AppendJsonString(&s, r.name);
      s.append(",\"kind\":\"event\",\"severity\":");
      codec::AppendJsonString(&s, r.severity);
      s.append(",\"stream\":");
      codec::AppendJsonString(&s, plan_->name);
      fmt::format_to(std::back_inserter(s), ",\"time\":\"{}\",\"time_ms\":{},\"window\":\"\",\"window_start_ms\":0,\"key\":",
                     base::FormatIsoTimestamp(e.time_us), FloorDiv(e.time_us, 1000));
      codec::AppendJsonString(&s, a.key);
      s.append(",\"values\":");
      s.append(a.values);
      s.append(",\"message\":");
      codec::AppendJsonString(&s, r.rule);
      s.push_back('}');
      out_->Alert(id, s);
      ++stats_.alerts;
    }
    if (e.time_us > part.max_time_us) part.max_time_us = e.time_us;
    part.last_arrival_us = now_us;
  }
  for (const auto& [p, next] : b.next_offsets) {
    next_offsets_[p] = next;
    auto [it, inserted] = partitions_.try_emplace(p, Partition{kMin, now_us});
    it->second.last_arrival_us = now_us;
  }
  AdvanceWatermark(now_us);
  EmitDue();
}

void Engine::Tick(int64_t now_us) {
  AdvanceWatermark(now_us);
  EmitDue();
}

void Engine::ApplyEvent(const ParsedBatch& b, const ParsedEvent& e, Partition& part,
                        std::vector<int>*) {
  const Plan& p = *plan_;
  int64_t wm = part.max_time_us == kMin ? kMin : part.max_time_us - p.lateness_us;
  for (size_t wi = 0; wi < sets_.size(); ++wi) {
    WindowSet& set = *sets_[wi];
    int64_t start = FloorDiv(e.time_us, set.size_us) * set.size_us;
    int64_t end = start + set.size_us;
    if (end <= set.erased_end_us) {
      ++stats_.too_late;
      continue;
    }
    bool late = wm != kMin && end <= wm;
    if (late && !p.late_update) {
      ++stats_.late_dropped;
      continue;
    }
    if (late) ++stats_.late_updated;
    auto [it, inserted] = set.windows.try_emplace(start);
    Window& w = it->second;
    if (inserted) {
      w.start_us = start;
      w.Resize(p.fixed_slots, p.measures.size(), p.ratios.size());
    }
    AddToWindow(w, b, e);
  }
  for (size_t vi = 0; vi < velocity_.size(); ++vi) {
    const AlertRule& r = p.alerts[p.velocity_alerts[vi]];
    uint32_t key = b.velocity[static_cast<size_t>(e.first) * velocity_.size() + vi];
    if (key == UINT32_MAX) continue;
    VelocityRule& v = velocity_[vi];
    int64_t size = r.per_ms * 1000;
    int64_t start = FloorDiv(e.time_us, size) * size;
    int64_t end = start + size;
    if (end <= v.erased_end_us) continue;
    if (wm != kMin && end <= wm && !p.late_update) continue;
    std::string_view key_text = b.string(key);
    uint32_t n = ++v.counts[start][HashId(key_text)];
    if (n != static_cast<uint64_t>(r.threshold) + 1) continue;
    std::string id = fmt::format("{}|{}|{}", r.name, start / 1000, key_text);
    std::string& s = scratch_;
    s.clear();
    s.append("{\"id\":");
    codec::AppendJsonString(&s, id);
    s.append(",\"rule\":");
    codec::AppendJsonString(&s, r.name);
    s.append(",\"kind\":\"velocity\",\"severity\":");
    codec::AppendJsonString(&s, r.severity);
    s.append(",\"stream\":");
    codec::AppendJsonString(&s, p.name);
    fmt::format_to(std::back_inserter(s),
                   ",\"time\":\"{}\",\"time_ms\":{},\"window\":\"{}\",\"window_start_ms\":{},\"key\":",
                   base::FormatIsoTimestamp(e.time_us), FloorDiv(e.time_us, 1000),
                   DurationName(r.per_ms), start / 1000);
    codec::AppendJsonString(&s, key_text);
    s.append(",\"values\":{");
    codec::AppendJsonString(&s, p.schema->field(r.by_field).name);
    s.push_back(':');
    codec::AppendJsonString(&s, key_text);
    fmt::format_to(std::back_inserter(s), ",\"count\":{}}},\"message\":", n);
    codec::AppendJsonString(&s, r.rule);
    s.push_back('}');
    out_->Alert(id, s);
    ++stats_.alerts;
  }
}

void Engine::AddToWindow(Window& w, const ParsedBatch& b, const ParsedEvent& e) {
  const Plan& p = *plan_;
  const size_t nd = p.dims.size(), nm = p.measures.size(), nr = p.ratios.size();
  const int32_t* slots = &b.slots[static_cast<size_t>(e.first) * nd];
  const int64_t* meas = nm ? &b.measures[static_cast<size_t>(e.first) * nm] : nullptr;
  for (size_t d = 0; d < nd; ++d) {
    int32_t slot = slots[d];
    if (slot == kNoSlot) continue;
    if (slot < 0) {  // a string dimension's value: find or add its slot
      std::string_view value = b.string(static_cast<uint32_t>(-slot - 1));
      std::string k;
      k.reserve(value.size() + 4);
      k.append(reinterpret_cast<const char*>(&d), sizeof(uint32_t));
      k.append(value);
      auto [it, inserted] = w.dyn_index.try_emplace(std::move(k), 0);
      if (inserted) {
        it->second = static_cast<int32_t>(w.counts.size());
        w.dyn.emplace_back(static_cast<int32_t>(d), std::string(value));
        w.Resize(w.counts.size() + 1, nm, nr);
      }
      slot = it->second;
    }
    ++w.counts[slot];
    MeasureAgg* agg = nm ? &w.meas[static_cast<size_t>(slot) * nm] : nullptr;
    for (size_t m = 0; m < nm; ++m) {
      int64_t v = meas[m];
      if (v == kNullMeasure) continue;
      int64_t sum;
      if (__builtin_add_overflow(agg[m].sum, v, &sum)) [[unlikely]] {
        if (w.spill.empty()) w.spill.assign(w.meas.size(), 0);
        w.spill[static_cast<size_t>(slot) * nm + m] += agg[m].sum;  // the old sum moves over
        sum = v;
      }
      agg[m].sum = sum;
      ++agg[m].n;
      agg[m].min = std::min(agg[m].min, v);
      agg[m].max = std::max(agg[m].max, v);
    }
    if (e.ratio_bits) {
      int64_t* h = &w.hits[static_cast<size_t>(slot) * nr];
      for (size_t r = 0; r < nr; ++r) h[r] += (e.ratio_bits >> r) & 1;
    }
    if (w.emitted) {
      w.dirty[slot] = 1;
      w.any_dirty = true;
    }
  }
}

void Engine::AdvanceWatermark(int64_t now_us) {
  if (partitions_.empty()) return;
  const Plan& p = *plan_;
  bool any_active = false;
  int64_t min_active = kMax, max_time = kMin, last_arrival = kMin;
  for (const auto& [id, part] : partitions_) {
    if (now_us - part.last_arrival_us < p.idle_timeout_us) {
      any_active = true;
      int64_t wm = part.max_time_us == kMin ? kMin : part.max_time_us - p.lateness_us;
      min_active = std::min(min_active, wm);
    }
    max_time = std::max(max_time, part.max_time_us);
    last_arrival = std::max(last_arrival, part.last_arrival_us);
  }
  int64_t candidate;
  if (any_active) {
    candidate = min_active;
  } else {
    candidate = max_time == kMin ? kMin : max_time - p.lateness_us + (now_us - last_arrival);
  }
  if (candidate > watermark_us_) watermark_us_ = candidate;
}

void Engine::EmitDue() {
  if (watermark_us_ == kMin) return;
  const Plan& p = *plan_;
  const int64_t horizon = p.late_update ? p.late_horizon_us : 0;
  for (size_t wi = 0; wi < sets_.size(); ++wi) {
    WindowSet& set = *sets_[wi];
    for (auto it = set.windows.begin(); it != set.windows.end();) {
      Window& w = it->second;
      int64_t end = w.start_us + set.size_us;
      if (end > watermark_us_) break;
      if (!w.emitted) {
        w.emitted = true;
        EmitWindow(static_cast<int>(wi), w, false);
      } else if (w.any_dirty) {
        EmitWindow(static_cast<int>(wi), w, true);
      }
      if (end <= watermark_us_ - horizon) {
        set.erased_end_us = std::max(set.erased_end_us, end);
        it = set.windows.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (size_t vi = 0; vi < velocity_.size(); ++vi) {
    VelocityRule& v = velocity_[vi];
    int64_t size = p.alerts[p.velocity_alerts[vi]].per_ms * 1000;
    while (!v.counts.empty() && v.counts.begin()->first + size <= watermark_us_ - horizon) {
      v.erased_end_us = std::max(v.erased_end_us, v.counts.begin()->first + size);
      v.counts.erase(v.counts.begin());
    }
  }
  if (p.dedup_field >= 0) {
    if (watermark_us_ > kMin + p.dedup_horizon_us) dedup_.ExpireBefore(watermark_us_ - p.dedup_horizon_us);
    if (dedup_.size() > p.options.dedup_max_entries) {
      stats_.dedup_evicted += dedup_.Shrink(p.options.dedup_max_entries);
    }
  }
}

void Engine::WindowFieldValues(const Window& w, int slot, std::vector<double>* out) const {
  const Plan& p = *plan_;
  const size_t nm = p.measures.size(), nr = p.ratios.size();
  out->clear();
  int64_t count = w.counts[slot];
  out->push_back(static_cast<double>(count));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (size_t m = 0; m < nm; ++m) {
    const size_t i = static_cast<size_t>(slot) * nm + m;
    const MeasureAgg& a = w.meas[i];
    const __int128 sum = w.Sum(i);
    out->push_back(static_cast<double>(sum) / kMicro);
    out->push_back(a.n ? static_cast<double>(a.min) / kMicro : nan);
    out->push_back(a.n ? static_cast<double>(a.max) / kMicro : nan);
    out->push_back(a.n ? static_cast<double>(RoundedDiv(sum, a.n)) / kMicro : nan);
  }
  for (size_t r = 0; r < nr; ++r) {
    out->push_back(count ? static_cast<double>(w.hits[static_cast<size_t>(slot) * nr + r]) /
                               static_cast<double>(count)
                         : nan);
  }
}

void Engine::EmitWindow(int wi, Window& w, bool only_dirty) {
  const Plan& p = *plan_;
  const size_t nm = p.measures.size(), nr = p.ratios.size();
  const int64_t size_us = sets_[wi]->size_us;
  const std::string start_text = base::FormatIsoTimestamp(w.start_us);
  const int64_t start_ms = w.start_us / 1000;
  std::string key;
  // Fixed slots: (dimension, label) by walking the dimensions.
  auto label_of = [&](int32_t slot, int* dim) -> std::string_view {
    if (slot >= p.fixed_slots) {
      const auto& d = w.dyn[slot - p.fixed_slots];
      *dim = d.first;
      return d.second;
    }
    for (size_t d = 0; d < p.dims.size(); ++d) {
      const Dimension& dd = p.dims[d];
      if (dd.kind == Dimension::Kind::kString) continue;
      if (slot >= dd.slot_base && slot < dd.slot_base + static_cast<int32_t>(dd.labels.size())) {
        *dim = static_cast<int>(d);
        return dd.labels[slot - dd.slot_base];
      }
    }
    *dim = -1;
    return {};
  };
  for (int32_t slot = 0; slot < static_cast<int32_t>(w.counts.size()); ++slot) {
    if (w.counts[slot] == 0) continue;
    if (only_dirty && !w.dirty[slot]) continue;
    w.dirty[slot] = 0;
    int dim;
    std::string_view value = label_of(slot, &dim);
    const std::string& dim_name = p.dims[dim].name;
    key = fmt::format("{}|{}|{}|{}|{}", p.name, p.window_names[wi], start_ms, dim_name, value);
    std::string& s = scratch_;
    s.clear();
    s.append("{\"stream\":");
    codec::AppendJsonString(&s, p.name);
    s.append(",\"schema\":");
    codec::AppendJsonString(&s, p.schema->name());
    s.append(",\"topic\":");
    codec::AppendJsonString(&s, p.options.topic);
    fmt::format_to(std::back_inserter(s),
                   ",\"window\":\"{}\",\"window_ms\":{},\"start\":\"{}\",\"start_ms\":{},\"end_ms\":{},"
                   "\"dimension\":",
                   p.window_names[wi], size_us / 1000, start_text, start_ms,
                   (w.start_us + size_us) / 1000);
    codec::AppendJsonString(&s, dim_name);
    s.append(",\"value\":");
    codec::AppendJsonString(&s, value);
    int64_t count = w.counts[slot];
    fmt::format_to(std::back_inserter(s), ",\"count\":{},\"fields\":{{", count);
    bool first = true;
    for (size_t m = 0; m < nm; ++m) {
      const size_t i = static_cast<size_t>(slot) * nm + m;
      const MeasureAgg& a = w.meas[i];
      const __int128 sum = w.Sum(i);
      const std::string& name = p.measures[m].name;
      s.append(first ? "\"" : ",\"");
      first = false;
      s.append(name);
      s.append("_sum\":");
      AppendMicros(&s, sum);
      for (const char* agg : {"_min", "_max", "_avg"}) {
        s.append(",\"");
        s.append(name);
        s.append(agg);
        s.append("\":");
        if (a.n == 0) {
          s.append("null");
        } else if (agg[1] == 'm' && agg[2] == 'i') {
          AppendMicros(&s, a.min);
        } else if (agg[1] == 'm') {
          AppendMicros(&s, a.max);
        } else {
          AppendMicros(&s, RoundedDiv(sum, a.n));
        }
      }
    }
    for (size_t r = 0; r < nr; ++r) {
      s.append(first ? "\"" : ",\"");
      first = false;
      s.append(p.ratios[r].name);
      fmt::format_to(std::back_inserter(s), "\":{}",
                     static_cast<double>(w.hits[static_cast<size_t>(slot) * nr + r]) /
                         static_cast<double>(count));
    }
    s.append("}}");
    out_->Window(key, s);
    ++stats_.windows_emitted;
    CheckThresholds(wi, w, slot, dim_name, value);
  }
  w.any_dirty = false;
}

void Engine::CheckThresholds(int wi, Window& w, int slot, std::string_view dim,
                             std::string_view value) {
  const Plan& p = *plan_;
  bool computed = false;
  for (int ri : p.threshold_alerts) {
    const AlertRule& r = p.alerts[ri];
    if (r.window != wi) continue;
    std::string_view want = r.by_dimension < 0 ? std::string_view("total")
                                               : std::string_view(p.dims[r.by_dimension].name);
    if (dim != want) continue;
    if (!computed) {
      WindowFieldValues(w, slot, &values_);
      computed = true;
    }
    auto get = [this](int id) {
      Operand o;
      o.number = values_[id];
      o.null = std::isnan(o.number);
      return o;
    };
    if (!r.predicate.Eval(get)) continue;
    const int64_t size_us = sets_[wi]->size_us;
    const int64_t start_ms = w.start_us / 1000;
    std::string id = fmt::format("{}|{}|{}|{}|{}", r.name, p.window_names[wi], start_ms, dim, value);
    std::string s = "{\"id\":";
    codec::AppendJsonString(&s, id);
    s.append(",\"rule\":");
    codec::AppendJsonString(&s, r.name);
    s.append(",\"kind\":\"threshold\",\"severity\":");
    codec::AppendJsonString(&s, r.severity);
    s.append(",\"stream\":");
    codec::AppendJsonString(&s, p.name);
    fmt::format_to(std::back_inserter(s),
                   ",\"time\":\"{}\",\"time_ms\":{},\"window\":\"{}\",\"window_start_ms\":{},\"key\":",
                   base::FormatIsoTimestamp(w.start_us + size_us), (w.start_us + size_us) / 1000,
                   p.window_names[wi], start_ms);
    codec::AppendJsonString(&s, value);
    fmt::format_to(std::back_inserter(s), ",\"values\":{{\"count\":{}", w.counts[slot]);
    for (int id_ : r.predicate.idents()) {
      if (id_ == 0) continue;
      s.push_back(',');
      codec::AppendJsonString(&s, p.field_names[id_ - 1]);
      if (std::isnan(values_[id_])) {
        s.append(":null");
      } else {
        fmt::format_to(std::back_inserter(s), ":{}", values_[id_]);
      }
    }
    s.append("},\"message\":");
    codec::AppendJsonString(&s, r.rule);
    s.push_back('}');
    out_->Alert(id, s);
    ++stats_.alerts;
  }
}

std::string Engine::Snapshot() const {
  const Plan& p = *plan_;
  const size_t nm = p.measures.size(), nr = p.ratios.size();
  Writer w;
  w.U32(kSnapshotMagic);
  w.U32(kSnapshotVersion);
  w.U64(p.fingerprint);
  w.I64(watermark_us_);
  w.U32(static_cast<uint32_t>(partitions_.size()));
  for (const auto& [id, part] : partitions_) {
    w.I64(id);
    w.I64(part.max_time_us);
  }
  w.U32(static_cast<uint32_t>(next_offsets_.size()));
  for (const auto& [id, next] : next_offsets_) {
    w.I64(id);
    w.U64(next);
  }
  w.U32(static_cast<uint32_t>(sets_.size()));
  for (const auto& set : sets_) {
    w.I64(set->size_us);
    w.I64(set->erased_end_us);
    w.U32(static_cast<uint32_t>(set->windows.size()));
    for (const auto& [start, win] : set->windows) {
      w.I64(start);
      w.U8(win.emitted);
      w.U32(static_cast<uint32_t>(win.dyn.size()));
      for (const auto& [d, v] : win.dyn) {
        w.U32(static_cast<uint32_t>(d));
        w.Str(v);
      }
      for (size_t slot = 0; slot < win.counts.size(); ++slot) {
        w.I64(win.counts[slot]);
        if (win.counts[slot] == 0) continue;
        for (size_t m = 0; m < nm; ++m) {
          const MeasureAgg& a = win.meas[slot * nm + m];
          w.I128(win.Sum(slot * nm + m));
          w.I64(a.n);
          w.I64(a.min);
          w.I64(a.max);
        }
        for (size_t r = 0; r < nr; ++r) w.I64(win.hits[slot * nr + r]);
      }
    }
  }
  w.U32(static_cast<uint32_t>(velocity_.size()));
  for (const auto& v : velocity_) {
    w.I64(v.erased_end_us);
    w.U32(static_cast<uint32_t>(v.counts.size()));
    for (const auto& [start, keys] : v.counts) {
      w.I64(start);
      w.U32(static_cast<uint32_t>(keys.size()));
      for (const auto& [k, n] : keys) {
        w.U64(k);
        w.U32(n);
      }
    }
  }
  w.U32(static_cast<uint32_t>(dedup_.buckets().size()));
  for (const auto& [bucket, hashes] : dedup_.buckets()) {
    w.I64(bucket);
    w.U32(static_cast<uint32_t>(hashes.size()));
    for (uint64_t h : hashes) w.U64(h);
  }
  std::string& out = w.str();
  uint32_t crc = base::crc32c::Mask(base::crc32c::Value(out));
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return std::move(out);
}

Status Engine::Restore(std::string_view bytes) {
  const Plan& p = *plan_;
  const size_t nm = p.measures.size(), nr = p.ratios.size();
  auto corrupt = [](std::string_view what) {
    return Status::Corruption(fmt::format("processor checkpoint: {}", what));
  };
  if (bytes.size() < 20) return corrupt("too short");
  uint32_t crc;
  std::memcpy(&crc, bytes.data() + bytes.size() - 4, 4);
  bytes.remove_suffix(4);
  if (base::crc32c::Unmask(crc) != base::crc32c::Value(bytes)) return corrupt("checksum mismatch");
  Reader r(bytes);
  uint32_t magic, version, n;
  uint64_t fingerprint;
  if (!r.U32(&magic) || magic != kSnapshotMagic) return corrupt("not a processor checkpoint");
  if (!r.U32(&version) || version != kSnapshotVersion) {
    return corrupt(fmt::format("version {} (this txpipe reads {})", version, kSnapshotVersion));
  }
  if (!r.U64(&fingerprint)) return corrupt("truncated");
  if (fingerprint != p.fingerprint) {
    return Status::InvalidArgument(
        "the checkpoint was written by a processor with other windows, dimensions, measures, "
        "ratios, velocity rules or dedup field");
  }
  partitions_.clear();
  next_offsets_.clear();
  if (!r.I64(&watermark_us_) || !r.Count(&n, 16)) return corrupt("truncated");
  for (uint32_t i = 0; i < n; ++i) {
    int64_t id, max_time;
    if (!r.I64(&id) || !r.I64(&max_time)) return corrupt("truncated partitions");
    partitions_[static_cast<int32_t>(id)] = Partition{max_time, start_us_};
  }
  if (!r.Count(&n, 16)) return corrupt("truncated");
  for (uint32_t i = 0; i < n; ++i) {
    int64_t id;
    uint64_t next;
    if (!r.I64(&id) || !r.U64(&next)) return corrupt("truncated offsets");
    next_offsets_[static_cast<int32_t>(id)] = next;
  }
  if (!r.U32(&n) || n != sets_.size()) return corrupt("window sizes differ");
  for (auto& set : sets_) {
    set->windows.clear();
    int64_t size;
    uint32_t nw;
    if (!r.I64(&size) || size != set->size_us || !r.I64(&set->erased_end_us) || !r.Count(&nw, 13)) {
      return corrupt("truncated windows");
    }
    for (uint32_t i = 0; i < nw; ++i) {
      int64_t start;
      uint8_t emitted;
      uint32_t ndyn;
      if (!r.I64(&start) || !r.U8(&emitted) || !r.Count(&ndyn, 8)) return corrupt("truncated window");
      Window& win = set->windows[start];
      win.start_us = start;
      win.emitted = emitted != 0;
      for (uint32_t k = 0; k < ndyn; ++k) {
        uint32_t d;
        std::string v;
        if (!r.U32(&d) || d >= p.dims.size() || !r.Str(&v)) return corrupt("bad window value");
        std::string key(reinterpret_cast<const char*>(&d), sizeof(uint32_t));
        key.append(v);
        win.dyn_index[key] = p.fixed_slots + static_cast<int32_t>(k);
        win.dyn.emplace_back(static_cast<int32_t>(d), std::move(v));
      }
      win.Resize(p.fixed_slots + ndyn, nm, nr);
      for (size_t slot = 0; slot < win.counts.size(); ++slot) {
        if (!r.I64(&win.counts[slot])) return corrupt("truncated slot");
        if (win.counts[slot] == 0) continue;
        for (size_t m = 0; m < nm; ++m) {
          MeasureAgg& a = win.meas[slot * nm + m];
          __int128 sum;
          if (!r.I128(&sum) || !r.I64(&a.n) || !r.I64(&a.min) || !r.I64(&a.max)) {
            return corrupt("truncated measure");
          }
          if (sum >= INT64_MIN && sum <= INT64_MAX) {
            a.sum = static_cast<int64_t>(sum);
          } else {
            if (win.spill.empty()) win.spill.assign(win.meas.size(), 0);
            win.spill[slot * nm + m] = sum;
          }
        }
        for (size_t k = 0; k < nr; ++k) {
          if (!r.I64(&win.hits[slot * nr + k])) return corrupt("truncated ratio");
        }
      }
    }
  }
  if (!r.U32(&n) || n != velocity_.size()) return corrupt("velocity rules differ");
  for (auto& v : velocity_) {
    v.counts.clear();
    uint32_t nw;
    if (!r.I64(&v.erased_end_us) || !r.Count(&nw, 12)) return corrupt("truncated velocity");
    for (uint32_t i = 0; i < nw; ++i) {
      int64_t start;
      uint32_t nk;
      if (!r.I64(&start) || !r.Count(&nk, 12)) return corrupt("truncated velocity window");
      auto& keys = v.counts[start];
      keys.reserve(nk);
      for (uint32_t k = 0; k < nk; ++k) {
        uint64_t key;
        uint32_t c;
        if (!r.U64(&key) || !r.U32(&c)) return corrupt("truncated velocity key");
        keys[key] = c;
      }
    }
  }
  dedup_.Clear();
  if (!r.Count(&n, 12)) return corrupt("truncated dedup");
  std::vector<uint64_t> hashes;
  for (uint32_t i = 0; i < n; ++i) {
    int64_t bucket;
    uint32_t nh;
    if (!r.I64(&bucket) || !r.Count(&nh, 8)) return corrupt("truncated dedup bucket");
    hashes.resize(nh);
    for (uint32_t k = 0; k < nh; ++k) {
      if (!r.U64(&hashes[k])) return corrupt("truncated dedup ids");
    }
    dedup_.Restore(bucket, hashes);
  }
  if (!r.done()) return corrupt("trailing bytes");
  return Status::OK();
}

}  // namespace txpipe::processors::analytics
