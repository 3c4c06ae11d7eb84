// RecordParser: the processor's window and alert records (docs/processor.md)
// -> store rows. Pure: no I/O. A record that cannot be stored gets a reason
// code (the `reason` label of txpipe_store_rejected_total) and a message.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sinks/store/store_db.h"

namespace simdjson::dom {
class parser;
}

namespace txpipe::sinks::store {

struct RecordError {
  // not_json | not_object | missing_field | wrong_type | bad_value
  std::string reason;
  std::string message;  // one line: "field 'window_ms': expected an integer > 0"
};

struct WindowRecord {
  WindowRow row;
  std::string schema;                    // "" when absent
  std::string topic;                     // the raw input topic; "" when absent
  std::vector<std::string> field_names;  // keys of `fields`, in record order
};

// Not thread-safe: one per thread.
class RecordParser {
 public:
  RecordParser();
  ~RecordParser();

  // Required: stream, window, window_ms (> 0), start_ms, dimension, value (a
  // string, or a number or boolean, kept as its JSON text), count (>= 0).
  // Optional: schema, topic, end_ms (default start_ms + window_ms), fields (an
  // object of numbers or nulls; default {}). Other keys are ignored.
  bool ParseWindow(std::string_view body, WindowRecord* out, RecordError* error);
  // Required: id, rule, time_ms. Optional (default "" / 0 / {}): kind,
  // severity, stream, window, window_start_ms, key (a string or number),
  // values (an object), message.
  bool ParseAlert(std::string_view body, AlertRow* out, RecordError* error);

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
};

}  // namespace txpipe::sinks::store
