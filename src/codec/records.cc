#include "codec/records.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>

namespace txpipe::codec {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

bool Fail(RecordError* e, const char* reason, std::string message) {
  e->reason = reason;
  e->message = std::move(message);
  return false;
}

// The value of `key` in `o`, or nullptr-like: returns false when absent.
bool Find(const object& o, std::string_view key, element* out) {
  return o.at_key(key).get(*out) == simdjson::SUCCESS;
}

bool GetString(const object& o, std::string_view key, bool required, std::string* out,
               RecordError* e) {
  element v;
  if (!Find(o, key, &v)) {
    if (required) return Fail(e, "missing_field", fmt::format("no '{}'", key));
    return true;
  }
  std::string_view s;
  if (v.get_string().get(s)) {
    return Fail(e, "wrong_type", fmt::format("field '{}': expected a string", key));
  }
  if (required && s.empty()) return Fail(e, "bad_value", fmt::format("field '{}' is empty", key));
  out->assign(s);
  return true;
}

// An integer field; also accepts a double with no fraction (1.795e12).
bool GetInt(const object& o, std::string_view key, bool required, int64_t* out, RecordError* e) {
  element v;
  if (!Find(o, key, &v)) {
    if (required) return Fail(e, "missing_field", fmt::format("no '{}'", key));
    return true;
  }
  int64_t i = 0;
  if (v.get_int64().get(i) == simdjson::SUCCESS) {
    *out = i;
    return true;
  }
  double d = 0;
  if (v.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9.0e15) {
    *out = static_cast<int64_t>(d);
    return true;
  }
  return Fail(e, "wrong_type", fmt::format("field '{}': expected an integer", key));
}

// A string, or a number or boolean kept as its JSON text.
bool GetScalarText(const object& o, std::string_view key, bool required, std::string* out,
                   RecordError* e) {
  element v;
  if (!Find(o, key, &v)) {
    if (required) return Fail(e, "missing_field", fmt::format("no '{}'", key));
    return true;
  }
  switch (v.type()) {
    case element_type::STRING:
      out->assign(std::string_view(v.get_string().value_unsafe()));
      return true;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
    case element_type::BOOL:
      *out = simdjson::minify(v);
      return true;
    default:
      return Fail(e, "wrong_type", fmt::format("field '{}': expected a string", key));
  }
}

bool Parse(simdjson::dom::parser* parser, std::string_view body, object* o, RecordError* e) {
  element doc;
  if (auto err = parser->parse(body.data(), body.size()).get(doc)) {
    return Fail(e, "not_json", fmt::format("not JSON: {}", simdjson::error_message(err)));
  }
  if (doc.get_object().get(*o)) return Fail(e, "not_object", "not a JSON object");
  return true;
}

}  // namespace

RecordParser::RecordParser() : parser_(std::make_unique<simdjson::dom::parser>()) {}
RecordParser::~RecordParser() = default;

bool RecordParser::ParseWindow(std::string_view body, WindowRecord* out, RecordError* e) {
  object o;
  if (!Parse(parser_.get(), body, &o, e)) return false;
  WindowRecord w;
  if (!GetString(o, "stream", true, &w.stream, e) || !GetString(o, "window", true, &w.window, e) ||
      !GetInt(o, "window_ms", true, &w.window_ms, e) ||
      !GetInt(o, "start_ms", true, &w.start_ms, e) ||
      !GetString(o, "dimension", true, &w.dimension, e) ||
      !GetScalarText(o, "value", true, &w.value, e) || !GetInt(o, "count", true, &w.count, e) ||
      !GetString(o, "schema", false, &w.schema, e) || !GetString(o, "topic", false, &w.topic, e)) {
    return false;
  }
  if (w.window_ms <= 0) {
    return Fail(e, "bad_value",
                fmt::format("field 'window_ms': expected > 0, got {}", w.window_ms));
  }
  if (w.count < 0) {
    return Fail(e, "bad_value", fmt::format("field 'count': expected >= 0, got {}", w.count));
  }
  w.end_ms = w.start_ms + w.window_ms;
  if (!GetInt(o, "end_ms", false, &w.end_ms, e)) return false;
  element fields;
  if (Find(o, "fields", &fields)) {
    object f;
    if (fields.get_object().get(f)) {
      return Fail(e, "wrong_type", "field 'fields': expected an object");
    }
    for (auto [key, value] : f) {
      double d = 0;
      if (value.is_null()) {
        w.fields.emplace_back(std::string(key), std::nullopt);
      } else if (value.get_double().get(d) == simdjson::SUCCESS) {
        w.fields.emplace_back(std::string(key), d);
      } else {
        return Fail(e, "wrong_type",
                    fmt::format("field 'fields.{}': expected a number or null", key));
      }
    }
    w.fields_json = simdjson::minify(fields);
  }
  *out = std::move(w);
  return true;
}

bool RecordParser::ParseAlert(std::string_view body, AlertRecord* out, RecordError* e) {
  object o;
  if (!Parse(parser_.get(), body, &o, e)) return false;
  AlertRecord a;
  if (!GetString(o, "id", true, &a.id, e) || !GetString(o, "rule", true, &a.rule, e) ||
      !GetInt(o, "time_ms", true, &a.time_ms, e) || !GetString(o, "kind", false, &a.kind, e) ||
      !GetString(o, "severity", false, &a.severity, e) ||
      !GetString(o, "stream", false, &a.stream, e) ||
      !GetString(o, "window", false, &a.window, e) ||
      !GetInt(o, "window_start_ms", false, &a.window_start_ms, e) ||
      !GetScalarText(o, "key", false, &a.key, e) ||
      !GetString(o, "message", false, &a.message, e)) {
    return false;
  }
  element values;
  if (Find(o, "values", &values)) {
    if (!values.is_object()) return Fail(e, "wrong_type", "field 'values': expected an object");
    a.values_json = simdjson::minify(values);
  }
  *out = std::move(a);
  return true;
}

}  // namespace txpipe::codec
