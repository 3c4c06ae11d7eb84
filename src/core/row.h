// Row: one event as typed values, in schema field order.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace txpipe::core {

// One typed field value. Strings are views: into the parser's buffer for
// kString (valid until the producer's next event), into the Schema for kEnum.
struct Value {
  enum class Kind : uint8_t { kNull, kString, kInt, kFloat, kTimestamp, kEnum };
  Kind kind = Kind::kNull;
  int64_t i = 0;        // kInt; kTimestamp (µs since the epoch, UTC); kEnum (value index)
  double f = 0;         // kFloat
  std::string_view s;   // kString, kEnum

  bool is_null() const { return kind == Kind::kNull; }
};

struct Row {
  std::vector<Value> values;  // values[i] is the schema's field i
  int64_t event_time_us = 0;  // copy of the event-time field
};

}  // namespace txpipe::core
