// EventParser: the stateless half of the processor, run by each worker
// thread: body -> validated typed row -> a compact ParsedEvent (event time,
// dimension slots, fixed-point measures, predicate bits, dedup hash). The
// stateful half (Engine) only ever sees ParsedBatches, so parsing scales with
// workers while windows, dedup and alerts stay in one place and do not depend
// on how many workers there are.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codec/json_validator.h"
#include "core/event.h"
#include "processors/analytics/options.h"

namespace txpipe::processors::analytics {

// Measures are kept in fixed point, millionths (µ-units), so sums are exact
// and do not depend on the order events arrive in (double sums would).
inline constexpr int64_t kMicro = 1'000'000;
inline constexpr int64_t kNullMeasure = std::numeric_limits<int64_t>::min();
// Dimension slot of a null value (the event counts in no slot of that dimension).
inline constexpr int32_t kNoSlot = std::numeric_limits<int32_t>::min();
// Largest |measure| kept exactly (µ-units must fit int64 with room for sums).
inline constexpr double kMaxMeasure = 9e12;

struct ParsedEvent {
  int32_t partition = 0;
  uint64_t offset = 0;
  int64_t time_us = 0;       // event time
  uint64_t dedup_hash = 0;   // 0 = no dedup value
  uint32_t ratio_bits = 0;   // bit i: Plan::ratios[i] holds
  uint32_t first = 0;        // index of its dims / measures / velocity keys in the batch
};

// An event alert that fired in the parser; the engine publishes it unless
// the event turns out to be a duplicate.
struct FiredAlert {
  uint32_t event = 0;   // index into ParsedBatch::events
  int rule = 0;         // index into Plan::alerts
  std::string key;      // the dedup field's value (or "<partition>:<offset>")
  std::string values;   // JSON object of the fields the rule reads
};

struct RejectedEvent {
  int32_t partition = 0;
  uint64_t offset = 0;
  core::Event event;      // the original, copied
  codec::RejectReason reason = codec::RejectReason::kNotJson;
  std::string message;
};

// What one worker read in one poll: events of its partitions, each
// partition's in offset order.
struct ParsedBatch {
  std::vector<ParsedEvent> events;
  std::vector<int32_t> slots;       // events.size() * dims: fixed slot, kNoSlot, or -(string+1)
  std::vector<int64_t> measures;    // events.size() * measures, µ-units or kNullMeasure
  std::vector<uint32_t> velocity;   // events.size() * velocity rules: string index
  std::string arena;                // bytes of the strings below
  std::vector<std::pair<uint32_t, uint32_t>> strings;  // (offset, length) in arena
  std::vector<FiredAlert> alerts;
  std::vector<RejectedEvent> rejected;
  // Per partition read: last offset in the batch + 1 (a few entries).
  std::vector<std::pair<int32_t, uint64_t>> next_offsets;

  std::string_view string(uint32_t i) const {
    return std::string_view(arena).substr(strings[i].first, strings[i].second);
  }
  void Clear();
  void SetNextOffset(int32_t partition, uint64_t next) {
    if (!next_offsets.empty() && next_offsets.back().first == partition) {
      next_offsets.back().second = next;
      return;
    }
    for (auto& [p, n] : next_offsets) {
      if (p == partition) {
        n = next;
        return;
      }
    }
    next_offsets.emplace_back(partition, next);
  }
  bool empty() const { return next_offsets.empty(); }
};

// Stable 64-bit hash of an id (XXH3), never 0 (0 means "no value").
uint64_t HashId(std::string_view id);

class EventParser {
 public:
  explicit EventParser(std::shared_ptr<const Plan> plan);
  // Parses one event read at (partition, offset) into `batch`.
  void Add(int32_t partition, uint64_t offset, const core::EventView& event, ParsedBatch* batch);

 private:
  uint32_t AddString(ParsedBatch* b, std::string_view s);
  std::string ValuesJson(const AlertRule& rule, const core::Row& row) const;
  void Reject(int32_t partition, uint64_t offset, const core::EventView& event,
              codec::RejectReason reason, std::string message, ParsedBatch* batch);

  std::shared_ptr<const Plan> plan_;
  codec::JsonValidator validator_;
  core::Row row_;
  codec::ValidationError error_;
};

}  // namespace txpipe::processors::analytics
