// JsonValidator: one JSON event body -> a typed Row, or a precise error.
//
// The one place event bodies are parsed (simdjson on-demand). An error names
// the field and what was wrong, and carries a short reason code that metrics
// and dead-letter headers use ("missing_field", "not_in_enum", ...).
#pragma once

#include <simdjson.h>

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
  };

  // `schema` must outlive the validator.
  explicit JsonValidator(const core::Schema* schema) : JsonValidator(schema, Options{}) {}
  JsonValidator(const core::Schema* schema, Options options);

  // Parses and checks `body` (one JSON object; a trailing '\n' or '\r' is
  // whitespace). On success fills `row` and returns true; its string views
  // stay valid until the next call. On failure fills `error` and returns false.
  // Not thread-safe: one validator per thread.
  bool Validate(std::string_view body, core::Row* row, ValidationError* error);

  const core::Schema& schema() const { return *schema_; }

 private:
  bool Fail(ValidationError* error, RejectReason reason, std::string_view field,
            std::string message);
  bool CheckValue(int index, simdjson::ondemand::value value, core::Value* out,
                  ValidationError* error);
  bool CheckValueSlow(int index, simdjson::ondemand::value& value, core::Value* out,
                      ValidationError* error);
  int Lookup(simdjson::ondemand::field& field, ValidationError* error);
  int EnumIndex(int field, std::string_view value) const;

  // Enum values of each field, bucketed by a cheap hash of (length, first and
  // last byte): a lookup compares against one candidate, not every value.
  static constexpr int kEnumBuckets = 64;
  static int EnumBucket(std::string_view s) {
    return s.empty() ? 0
                     : static_cast<int>((s.size() * 7 + static_cast<unsigned char>(s[0]) * 3 +
                                         static_cast<unsigned char>(s.back())) &
                                        (kEnumBuckets - 1));
  }
  std::vector<std::vector<std::vector<uint16_t>>> enum_buckets_;  // [field][bucket] -> indexes

  const core::Schema* schema_;
  Options options_;
  simdjson::ondemand::parser parser_;
  std::unique_ptr<char[]> buffer_;  // body + simdjson padding
  size_t buffer_capacity_ = 0;
  const char* buffer_end_ = nullptr;  // end of the readable (padded) bytes
  std::vector<uint8_t> seen_;
  int next_hint_ = 0;      // fields usually arrive in schema order
  std::string_view key_;  // the key Lookup last matched (for messages)
};

}  // namespace txpipe::codec
