// Engine: the stateful half of the analytics processor: dedup, event-time
// tumbling windows, watermarks, late events, velocity and threshold alerts.
// Pure (no I/O, no threads, no clock of its own): it is fed ParsedBatches and
// the processing time, and hands records to an Output. Tests drive it by hand.
//
// Semantics (docs/processor.md):
//  - Each input partition has a watermark: the max event time read from it
//    minus allowed_lateness. An event is late for a window size when its
//    window ended at or before its own partition's watermark (as Kafka
//    Streams' grace period). So whether an event is late depends only on the
//    order within its partition, never on how partitions interleave or on
//    how many workers parse them.
//  - The global watermark is the minimum over partitions that are not idle;
//    a window is emitted once the global watermark reaches its end, when
//    every partition would call any further event of it late.
//  - A partition idle for idle_timeout (processing time) stops holding the
//    watermark back; when all are idle the watermark moves on with the clock
//    from the last event, so a quiet stream still shows its last window.
//  - Sums are fixed point (µ-units), so window values do not depend on the
//    order events are added in either.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "processors/analytics/dedup.h"
#include "processors/analytics/options.h"
#include "processors/analytics/parser.h"

namespace txpipe::processors::analytics {

class Output {
 public:
  virtual ~Output() = default;
  virtual void Window(std::string_view key, std::string_view body) = 0;
  virtual void Alert(std::string_view key, std::string_view body) = 0;
};

struct EngineStats {
  uint64_t events = 0;          // valid events applied (incl. duplicates and late)
  uint64_t duplicates = 0;      // dropped by dedup
  uint64_t late_updated = 0;    // late (per window size) and added, re-emitting the window
  uint64_t late_dropped = 0;    // late (per window size) and dropped (late_policy = drop)
  uint64_t too_late = 0;        // (per window size) their window was already forgotten
  uint64_t windows_emitted = 0; // window records written (incl. re-emits)
  uint64_t alerts = 0;          // alert records written
  uint64_t dedup_evicted = 0;   // ids forgotten early (dedup_max_entries)
};

class Engine {
 public:
  // `start_us`: processing time now (partitions count as idle from here).
  Engine(std::shared_ptr<const Plan> plan, Output* out, int64_t start_us);
  ~Engine();

  // The input partitions this engine reads (all of the topic's): each holds
  // the watermark back until it delivers or goes idle.
  void AssignPartitions(const std::vector<int32_t>& partitions);

  // Applies a batch read at processing time `now_us`, then emits what the
  // watermark allows.
  void Apply(const ParsedBatch& batch, int64_t now_us);
  // Lets processing time advance the watermark of idle partitions and emits
  // what that allows. Call it every few hundred ms when no batch arrives.
  void Tick(int64_t now_us);

  // Per partition: the offset of the next event to read (everything before is
  // in the state).
  const std::map<int32_t, uint64_t>& next_offsets() const { return next_offsets_; }
  int64_t watermark_us() const { return watermark_us_; }
  const EngineStats& stats() const { return stats_; }
  size_t open_windows() const;
  uint64_t dedup_size() const { return dedup_.size(); }

  // The whole state (windows, dedup ids, velocity counts, watermarks, next
  // offsets) as bytes, and back. Restore fails (kCorruption) on bytes that do
  // not parse and (kInvalidArgument) on a checkpoint of another plan.
  std::string Snapshot() const;
  base::Status Restore(std::string_view bytes);

 private:
  struct Window;
  struct WindowSet;
  struct Partition {
    int64_t max_time_us;  // INT64_MIN until the first event
    int64_t last_arrival_us;
  };
  struct VelocityRule {
    int64_t erased_end_us;
    std::map<int64_t, std::unordered_map<uint64_t, uint32_t>> counts;  // window start -> key -> n
  };

  void ApplyEvent(const ParsedBatch& b, const ParsedEvent& e, Partition& part,
                  std::vector<int>* dirty_alerts);
  void AddToWindow(Window& w, const ParsedBatch& b, const ParsedEvent& e);
  void AdvanceWatermark(int64_t now_us);
  void EmitDue();
  void EmitWindow(int wi, Window& w, bool only_dirty);
  void CheckThresholds(int wi, Window& w, int slot, std::string_view dim, std::string_view value);
  void WindowFieldValues(const Window& w, int slot, std::vector<double>* out) const;

  std::shared_ptr<const Plan> plan_;
  Output* out_;
  int64_t start_us_;
  std::map<int32_t, Partition> partitions_;
  std::map<int32_t, uint64_t> next_offsets_;
  int64_t watermark_us_;
  std::vector<std::unique_ptr<WindowSet>> sets_;  // per window size
  std::vector<VelocityRule> velocity_;            // per Plan::velocity_alerts
  DedupSet dedup_;
  EngineStats stats_;
  std::string scratch_;
  std::vector<double> values_;
};

}  // namespace txpipe::processors::analytics
