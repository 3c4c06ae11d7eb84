// JsonValidator: one JSON event body -> a typed Row, or a precise error.
//
// The one place event bodies are parsed (simdjson: flat events straight off
// its structural index, anything else through its on-demand API; see
// json_validator.cc). An error names the field and what was wrong, and carries
// a short reason code that metrics and dead-letter headers use
// ("missing_field", "not_in_enum", ...).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/row.h"
#include "core/schema.h"

namespace txpipe::codec {

enum class RejectReason : uint8_t {
  kEmpty,            // empty or all-whitespace line
  kTooLarge,         // body over max_event_bytes
  kInvalidUtf8,      // bytes that are not UTF-8
  kNotJson,          // a JSON syntax error
  kNotObject,        // valid JSON, but not an object
  kTooDeep,          // nesting beyond max_depth
  kTrailingContent,  // more after the object ("{...} {...}")
  kMissingField,     // a required field is absent
  kDuplicateField,   // a field appears twice
  kUnknownField,     // a field the schema does not list (policy "reject")
  kWrongType,        // e.g. a string where a number belongs
  kNullNotAllowed,   // null in a field that is not nullable
  kNotInEnum,        // a string outside the enum's values
  kBadTimestamp,     // not an RFC 3339 timestamp
  kOutOfRange,       // a number that does not fit (int64, double)
};
inline constexpr int kRejectReasonCount = 15;

// The reason's stable snake_case name: "missing_field".
std::string_view ReasonName(RejectReason reason);

struct ValidationError {
  RejectReason reason = RejectReason::kNotJson;
  std::string field;    // the field at fault, or empty
  std::string message;  // one line for people: "field 'amount': expected a number, got string"
};

class JsonValidator {
 public:
  struct Options {
    size_t max_event_bytes = 1 << 20;  // bodies longer than this are rejected (1 MiB)
    size_t max_depth = 64;             // deeper nesting is rejected
    // true: flat events are first read straight off simdjson's structural
    // index, and anything unusual is handed to the general path. false: every
    // event takes the general path (simdjson on-demand). Both give the same
    // Row and the same error for every body; tests compare them.
    bool fast_path = true;
  };

  // `schema` must outlive the validator.
  explicit JsonValidator(const core::Schema* schema) : JsonValidator(schema, Options{}) {}
  JsonValidator(const core::Schema* schema, Options options);
  ~JsonValidator();
  JsonValidator(JsonValidator&&) noexcept;
  JsonValidator& operator=(JsonValidator&&) noexcept;

  // Parses and checks `body` (one JSON object; a trailing '\n' or '\r' is
  // whitespace). On success fills `row` and returns true; its string views
  // stay valid until the next call. On failure fills `error` and returns false.
  // Not thread-safe: one validator per thread.
  bool Validate(std::string_view body, core::Row* row, ValidationError* error);

  const core::Schema& schema() const { return *schema_; }

 private:
  class Impl;  // json_validator.cc; keeps simdjson out of this header

  const core::Schema* schema_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace txpipe::codec
