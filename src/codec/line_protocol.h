// InfluxDB line protocol (1.x, 2.x, Cloud; VictoriaMetrics reads it too): one
// point per line,
//
//   measurement[,tag_key=tag_value...] field_key=field_value[,...] timestamp_ns
//
// Escaping, as InfluxDB's line protocol reference gives it:
//   measurement                        comma, space         -> "\," "\ "
//   tag keys, tag values, field keys   comma, equals, space -> "\," "\=" "\ "
//   string field values                double quote, backslash -> "\"" "\\"
// String field values may hold newlines (they are inside quotes); nothing else
// may: a newline or carriage return in a measurement, tag or field key or tag
// value is refused. Integers are written with the `i` suffix, floats in their
// shortest round-trip form, booleans as t/f. Pure: no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace txpipe::codec {

struct LpTag {
  std::string_view key;
  std::string_view value;
};

struct LpField {
  enum class Kind : uint8_t { kFloat, kInt, kString, kBool };
  std::string_view key;
  Kind kind = Kind::kFloat;
  double f = 0;
  int64_t i = 0;
  std::string_view s;
  bool b = false;

  static LpField Float(std::string_view key, double v) {
    LpField f;
    f.key = key;
    f.f = v;
    return f;
  }
  static LpField Int(std::string_view key, int64_t v) {
    LpField f;
    f.key = key;
    f.kind = Kind::kInt;
    f.i = v;
    return f;
  }
  static LpField String(std::string_view key, std::string_view v) {
    LpField f;
    f.key = key;
    f.kind = Kind::kString;
    f.s = v;
    return f;
  }
  static LpField Bool(std::string_view key, bool v) {
    LpField f;
    f.key = key;
    f.kind = Kind::kBool;
    f.b = v;
    return f;
  }
};

// Appends one point and its '\n' to `out`. `tags` are sorted by key in place
// (InfluxDB's advice: it would sort them itself); tags with an empty value
// are left out (line protocol has no empty tag values). On error appends
// nothing and returns kInvalidArgument naming the part: an empty measurement
// or one that starts with '#' (a comment line),
// no fields, an empty tag or field key, the key "time" (InfluxDB keeps it for
// the timestamp), two tags with one key, a NaN or infinite float, a newline
// where line protocol cannot carry one, or a backslash at the end of a
// measurement, tag or field key or tag value, or just before a character
// that gets escaped there: InfluxDB's parser would read it as the escape of
// the next character, and no escaping says otherwise.
base::Status AppendPoint(std::string* out, std::string_view measurement, std::span<LpTag> tags,
                         std::span<const LpField> fields, int64_t time_ns);

}  // namespace txpipe::codec
