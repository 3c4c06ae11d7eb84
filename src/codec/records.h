// The analytics processor's output records (docs/processor.md, "Output
// topics"): window records of `<topic>.windows` and alert records of
// `alerts`, read back by the sinks that store them (the store, InfluxDB).
// Pure: no I/O. A record that cannot be read gets a reason code (for the
// `reason` label of a sink's rejected counter) and a one-line message.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace simdjson::dom {
class parser;
}

namespace txpipe::codec {

struct RecordError {
  // not_json | not_object | missing_field | wrong_type | bad_value
  std::string reason;
  std::string message;  // one line: "field 'window_ms': expected an integer > 0"
};

struct WindowRecord {
  std::string stream;     // the processor's name ("finance")
  std::string schema;     // "" when absent
  std::string topic;      // the raw input topic; "" when absent
  std::string window;     // the window size as configured ("10s")
  int64_t window_ms = 0;  // > 0
  int64_t start_ms = 0;   // window start, epoch ms
  int64_t end_ms = 0;
  std::string dimension;  // "transaction_type", or "total"
  std::string value;      // "deposit", or "all" for total; numbers as their JSON text
  int64_t count = 0;
  // `fields` in record order: name and value (nullopt for a JSON null).
  std::vector<std::pair<std::string, std::optional<double>>> fields;
  std::string fields_json = "{}";  // the same object, minified
};

struct AlertRecord {
  std::string id;  // deterministic: re-emits of one alert share it
  std::string rule;
  std::string kind;      // event | threshold | velocity
  std::string severity;  // warning, critical, ...
  std::string stream;
  int64_t time_ms = 0;
  std::string window;  // "" for per-event alerts
  int64_t window_start_ms = 0;
  std::string key;                 // a string, or a number's JSON text
  std::string values_json = "{}";  // JSON object
  std::string message;
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
  bool ParseAlert(std::string_view body, AlertRecord* out, RecordError* error);

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
};

}  // namespace txpipe::codec
