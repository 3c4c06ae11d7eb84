#include "codec/json_validator.h"

#include <fmt/format.h>

#include <cstring>

#include "base/time.h"

namespace txpipe::codec {

namespace ondemand = simdjson::ondemand;
using core::FieldSpec;
using core::FieldType;
using core::Value;

std::string_view ReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kEmpty: return "empty";
    case RejectReason::kTooLarge: return "too_large";
    case RejectReason::kInvalidUtf8: return "invalid_utf8";
    case RejectReason::kNotJson: return "not_json";
    case RejectReason::kNotObject: return "not_object";
    case RejectReason::kTooDeep: return "too_deep";
    case RejectReason::kTrailingContent: return "trailing_content";
    case RejectReason::kMissingField: return "missing_field";
    case RejectReason::kDuplicateField: return "duplicate_field";
    case RejectReason::kUnknownField: return "unknown_field";
    case RejectReason::kWrongType: return "wrong_type";
    case RejectReason::kNullNotAllowed: return "null_not_allowed";
    case RejectReason::kNotInEnum: return "not_in_enum";
    case RejectReason::kBadTimestamp: return "bad_timestamp";
    case RejectReason::kOutOfRange: return "out_of_range";
  }
  return "unknown";
}

namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Shows a value's JSON text in an error, shortened: "\"abc\"", "1.5", "{...}".
std::string Shown(ondemand::value& v, ondemand::json_type t) {
  if (t == ondemand::json_type::object) return "{...}";
  if (t == ondemand::json_type::array) return "[...]";
  std::string_view raw = v.raw_json_token();
  while (!raw.empty() && IsJsonSpace(raw.back())) raw.remove_suffix(1);
  if (raw.size() > 40) return fmt::format("{}... ({} bytes)", raw.substr(0, 40), raw.size());
  return std::string(raw);
}

// True when `s` follows JSON's number grammar; simdjson reports both "1e400"
// and "01" as NUMBER_ERROR, and only the first is a range problem.
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digit = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  while (i < s.size() && IsJsonSpace(s[i])) ++i;
  return i == s.size();
}

// Nesting depth of the array or object starting at `p` (strings skipped), or
// a number > `limit` as soon as it passes `limit`.
size_t NestingDepth(const char* p, const char* end, size_t limit) {
  size_t depth = 0, max = 0;
  for (; p < end; ++p) {
    char c = *p;
    if (c == '"') {
      for (++p; p < end && *p != '"'; ++p) {
        if (*p == '\\') ++p;
      }
    } else if (c == '[' || c == '{') {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return max;
    }
  }
  return max;
}

const char* JsonTypeName(ondemand::json_type t) {
  switch (t) {
    case ondemand::json_type::array: return "array";
    case ondemand::json_type::object: return "object";
    case ondemand::json_type::number: return "number";
    case ondemand::json_type::string: return "string";
    case ondemand::json_type::boolean: return "boolean";
    case ondemand::json_type::null: return "null";
  }
  return "?";
}

// Whether a document whose first token is not '{' is complete, valid JSON.
bool IsValidNonObject(ondemand::document& doc, ondemand::json_type t) {
  simdjson::error_code e = simdjson::SUCCESS;
  switch (t) {
    case ondemand::json_type::array: e = doc.count_elements().error(); break;
    case ondemand::json_type::number: e = doc.get_double().error(); break;
    case ondemand::json_type::string: e = doc.get_string().error(); break;
    case ondemand::json_type::boolean: e = doc.get_bool().error(); break;
    case ondemand::json_type::null: {
      bool is_null = false;
      e = doc.is_null().get(is_null);
      if (!e && !is_null) e = simdjson::INCORRECT_TYPE;
      break;
    }
    case ondemand::json_type::object: break;
  }
  return e == simdjson::SUCCESS;
}

const char* Expected(FieldType t) {
  switch (t) {
    case FieldType::kString: return "a string";
    case FieldType::kInt: return "an integer";
    case FieldType::kFloat: return "a number";
    case FieldType::kTimestamp: return "a timestamp string";
    case FieldType::kEnum: return "a string";
  }
  return "?";
}

}  // namespace

JsonValidator::JsonValidator(const core::Schema* schema, Options options)
    : schema_(schema), options_(options), seen_(schema->size()) {
  enum_buckets_.resize(schema->size());
  for (int f = 0; f < schema->size(); ++f) {
    const FieldSpec& spec = schema->field(f);
    if (spec.type != FieldType::kEnum) continue;
    enum_buckets_[f].resize(kEnumBuckets);
    for (size_t i = 0; i < spec.values.size(); ++i) {
      enum_buckets_[f][EnumBucket(spec.values[i])].push_back(static_cast<uint16_t>(i));
    }
  }
}

int JsonValidator::EnumIndex(int field, std::string_view value) const {
  const FieldSpec& spec = schema_->field(field);
  for (uint16_t i : enum_buckets_[field][EnumBucket(value)]) {
    if (spec.values[i] == value) return i;
  }
  return -1;
}

bool JsonValidator::Fail(ValidationError* error, RejectReason reason, std::string_view field,
                         std::string message) {
  error->reason = reason;
  error->field.assign(field);
  error->message = std::move(message);
  return false;
}

// Returns the field index of `field`'s key, -1 for a key not in the schema,
// or -2 when the key is not a valid JSON string (error filled).
int JsonValidator::Lookup(ondemand::field& field, ValidationError* error) {
  const auto& fields = schema_->fields();
  // Fast path: the field the schema lists next, compared on the raw bytes.
  if (next_hint_ < static_cast<int>(fields.size())) {
    const std::string& want = fields[next_hint_].name;
    const char* raw = field.key().raw();
    if (field.key().unsafe_is_equal(static_cast<size_t>(buffer_end_ - raw), want)) {
      key_ = want;
      return next_hint_;
    }
  }
  std::string_view key;
  if (auto e = field.unescaped_key().get(key)) {
    Fail(error, RejectReason::kNotJson, "",
         fmt::format("not JSON: bad field name: {}", simdjson::error_message(e)));
    return -2;
  }
  key_ = key;
  return schema_->FieldIndex(key);
}

bool JsonValidator::Validate(std::string_view body, core::Row* row, ValidationError* error) {
  size_t start = 0;
  while (start < body.size() && IsJsonSpace(body[start])) ++start;
  if (start == body.size()) return Fail(error, RejectReason::kEmpty, "", "empty event");
  if (body.size() > options_.max_event_bytes) {
    return Fail(error, RejectReason::kTooLarge, "",
                fmt::format("event of {} bytes is over the limit of {} bytes", body.size(),
                            options_.max_event_bytes));
  }
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
  size_t need = body.size() + simdjson::SIMDJSON_PADDING;
  if (need > buffer_capacity_) {
    buffer_capacity_ = std::max(need, buffer_capacity_ * 2);
    buffer_.reset(new char[buffer_capacity_]);
  }
  std::memcpy(buffer_.get(), body.data(), body.size());
  std::memset(buffer_.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
  const char* end = buffer_.get() + body.size();
  buffer_end_ = end + simdjson::SIMDJSON_PADDING;

  ondemand::document doc;
  if (auto e = parser_.iterate(buffer_.get(), body.size(), need).get(doc)) {
    if (e == simdjson::UTF8_ERROR) {
      return Fail(error, RejectReason::kInvalidUtf8, "", "event is not valid UTF-8");
    }
    return Fail(error, RejectReason::kNotJson, "",
                fmt::format("not JSON: {}", simdjson::error_message(e)));
  }
  ondemand::json_type type;
  if (auto e = doc.type().get(type)) {
    return Fail(error, RejectReason::kNotJson, "",
                fmt::format("not JSON: {}", simdjson::error_message(e)));
  }
  if (type != ondemand::json_type::object) {
    // Only a valid JSON text counts as "not an object"; "nope" is not JSON at all.
    if (!IsValidNonObject(doc, type)) {
      return Fail(error, RejectReason::kNotJson, "", "not JSON");
    }
    return Fail(error, RejectReason::kNotObject, "",
                fmt::format("expected a JSON object, got {}", JsonTypeName(type)));
  }
  ondemand::object object;
  if (auto e = doc.get_object().get(object)) {
    return Fail(error, RejectReason::kNotJson, "",
                fmt::format("not JSON: {}", simdjson::error_message(e)));
  }

  const int n = schema_->size();
  row->values.assign(n, Value{});
  std::memset(seen_.data(), 0, seen_.size());
  next_hint_ = 0;
  for (auto item : object) {
    ondemand::field field;
    if (auto e = std::move(item).get(field)) {
      return Fail(error, RejectReason::kNotJson, "",
                  fmt::format("not JSON: {}", simdjson::error_message(e)));
    }
    int index = Lookup(field, error);
    if (index == -2) return false;
    std::string_view key = key_;
    if (index < 0) {
      if (schema_->unknown_fields() == core::UnknownFieldPolicy::kReject) {
        return Fail(error, RejectReason::kUnknownField, key,
                    fmt::format("field '{}': not in schema '{}'", key, schema_->name()));
      }
      // Ignored: simdjson skips the value, but bound its nesting first.
      ondemand::value v = field.value();
      ondemand::json_type vt;
      if (auto e = v.type().get(vt)) {
        return Fail(error, RejectReason::kNotJson, key,
                    fmt::format("field '{}': not JSON: {}", key, simdjson::error_message(e)));
      }
      if (vt == ondemand::json_type::array || vt == ondemand::json_type::object) {
        const char* p = v.raw_json_token().data();
        if (NestingDepth(p, end, options_.max_depth) + 1 > options_.max_depth) {
          return Fail(error, RejectReason::kTooDeep, key,
                      fmt::format("field '{}': nested deeper than {} levels", key,
                                  options_.max_depth));
        }
      }
      continue;
    }
    if (seen_[index]) {
      return Fail(error, RejectReason::kDuplicateField, key,
                  fmt::format("field '{}': appears twice", key));
    }
    seen_[index] = 1;
    next_hint_ = index + 1;
    if (!CheckValue(index, field.value(), &row->values[index], error)) return false;
  }

  auto location = doc.current_location();
  if (location.error() == simdjson::SUCCESS) {
    return Fail(error, RejectReason::kTrailingContent, "",
                "unexpected content after the JSON object (one object per event)");
  }
  for (int i = 0; i < n; ++i) {
    if (seen_[i]) continue;
    const FieldSpec& f = schema_->field(i);
    if (!f.nullable) {
      return Fail(error, RejectReason::kMissingField, f.name,
                  fmt::format("field '{}': missing (required {})", f.name, FieldTypeName(f.type)));
    }
  }
  row->event_time_us = row->values[schema_->event_time_index()].i;
  return true;
}

bool JsonValidator::CheckValue(int index, ondemand::value v, Value* out, ValidationError* error) {
  // Fast path: ask simdjson for the type the schema expects. A miss (null, a
  // wrong type, a bad number) takes the slow path, which explains it.
  const FieldSpec& f = schema_->field(index);
  switch (f.type) {
    case FieldType::kString: {
      if (v.get_string().get(out->s) != simdjson::SUCCESS) break;
      out->kind = Value::Kind::kString;
      return true;
    }
    case FieldType::kEnum: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) break;
      int e = EnumIndex(index, s);
      if (e < 0) {
        return Fail(error, RejectReason::kNotInEnum, f.name,
                    fmt::format("field '{}': \"{}\" is not one of: {}", f.name,
                                s.size() > 40 ? std::string(s.substr(0, 40)) + "..." : s,
                                fmt::join(f.values, ", ")));
      }
      out->kind = Value::Kind::kEnum;
      out->i = e;
      out->s = f.values[e];
      return true;
    }
    case FieldType::kTimestamp: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) break;
      std::string why;
      if (!base::ParseIsoTimestamp(s, &out->i, &why)) {
        return Fail(error, RejectReason::kBadTimestamp, f.name,
                    fmt::format("field '{}': \"{}\" is not an RFC 3339 timestamp: {}", f.name,
                                s.size() > 40 ? std::string(s.substr(0, 40)) + "..." : s, why));
      }
      out->kind = Value::Kind::kTimestamp;
      return true;
    }
    case FieldType::kInt: {
      if (v.get_int64().get(out->i) != simdjson::SUCCESS) break;
      out->kind = Value::Kind::kInt;
      return true;
    }
    case FieldType::kFloat: {
      if (v.get_double().get(out->f) != simdjson::SUCCESS) break;
      out->kind = Value::Kind::kFloat;
      return true;
    }
  }
  return CheckValueSlow(index, v, out, error);
}

bool JsonValidator::CheckValueSlow(int index, ondemand::value& v, Value* out,
                                   ValidationError* error) {
  const FieldSpec& f = schema_->field(index);
  ondemand::json_type t;
  if (auto e = v.type().get(t)) {
    return Fail(error, RejectReason::kNotJson, f.name,
                fmt::format("field '{}': not JSON: {}", f.name, simdjson::error_message(e)));
  }
  if (t == ondemand::json_type::null) {
    bool is_null = false;
    if (v.is_null().get(is_null) || !is_null) {
      return Fail(error, RejectReason::kNotJson, f.name,
                  fmt::format("field '{}': not JSON: bad literal {}", f.name, Shown(v, t)));
    }
    if (!f.nullable) {
      return Fail(error, RejectReason::kNullNotAllowed, f.name,
                  fmt::format("field '{}': null, but the field is not nullable", f.name));
    }
    out->kind = Value::Kind::kNull;
    return true;
  }
  auto wrong_type = [&] {
    if (t == ondemand::json_type::boolean) {
      bool b;
      if (v.get_bool().get(b)) {
        return Fail(error, RejectReason::kNotJson, f.name,
                    fmt::format("field '{}': not JSON: bad literal {}", f.name, Shown(v, t)));
      }
    }
    return Fail(error, RejectReason::kWrongType, f.name,
                fmt::format("field '{}': expected {}, got {} {}", f.name, Expected(f.type),
                            JsonTypeName(t), Shown(v, t)));
  };
  switch (f.type) {
    case FieldType::kString:
    case FieldType::kEnum:
    case FieldType::kTimestamp: {
      // The fast path's get_string failed: a wrong type or a bad string.
      if (t != ondemand::json_type::string) return wrong_type();
      std::string_view ignored;
      simdjson::error_code e = v.get_string().get(ignored);
      return Fail(error, RejectReason::kNotJson, f.name,
                  fmt::format("field '{}': bad string: {}", f.name,
                              simdjson::error_message(e ? e : simdjson::STRING_ERROR)));
    }
    case FieldType::kInt: {
      if (t != ondemand::json_type::number) return wrong_type();
      if (v.get_int64().get(out->i) == simdjson::SUCCESS) {
        out->kind = Value::Kind::kInt;
        return true;
      }
      std::string raw = Shown(v, t);
      if (!IsJsonNumber(raw)) {
        return Fail(error, RejectReason::kNotJson, f.name,
                    fmt::format("field '{}': not JSON: bad number {}", f.name, raw));
      }
      if (raw.find_first_of(".eE") != std::string::npos) {
        return Fail(error, RejectReason::kWrongType, f.name,
                    fmt::format("field '{}': expected an integer, got {}", f.name, raw));
      }
      return Fail(error, RejectReason::kOutOfRange, f.name,
                  fmt::format("field '{}': {} does not fit a 64-bit integer", f.name, raw));
    }
    case FieldType::kFloat: {
      if (t != ondemand::json_type::number) return wrong_type();
      if (v.get_double().get(out->f) == simdjson::SUCCESS) {
        out->kind = Value::Kind::kFloat;
        return true;
      }
      std::string raw = Shown(v, t);
      if (!IsJsonNumber(raw)) {
        return Fail(error, RejectReason::kNotJson, f.name,
                    fmt::format("field '{}': not JSON: bad number {}", f.name, raw));
      }
      return Fail(error, RejectReason::kOutOfRange, f.name,
                  fmt::format("field '{}': {} is out of range for a double", f.name, raw));
    }
  }
  return wrong_type();
}

}  // namespace txpipe::codec
