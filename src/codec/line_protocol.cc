#include "codec/line_protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace txpipe::codec {

namespace {

using base::Status;

// What must be escaped in each part of a line.
constexpr std::string_view kMeasurementSpecial = ", ";
constexpr std::string_view kKeySpecial = ",= ";  // tag keys, tag values, field keys

// Checks that `s` can be written in a part whose special characters are
// `special`; `what` names the part in the error.
Status CheckPart(std::string_view s, std::string_view special, std::string_view what) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\r') {
      return Status::InvalidArgument(fmt::format("{} has a line break", what));
    }
    if (c == '\\' && (i + 1 == s.size() || special.find(s[i + 1]) != std::string_view::npos)) {
      return Status::InvalidArgument(fmt::format(
          "{} has a backslash {}, which line protocol cannot carry", what,
          i + 1 == s.size() ? "at its end" : fmt::format("before '{}'", s[i + 1])));
    }
  }
  return Status::OK();
}

void AppendEscaped(std::string* out, std::string_view s, std::string_view special) {
  for (char c : s) {
    if (special.find(c) != std::string_view::npos) out->push_back('\\');
    out->push_back(c);
  }
}

void AppendStringValue(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

template <typename T>
void AppendNumber(std::string* out, T v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

}  // namespace

Status AppendPoint(std::string* out, std::string_view measurement, std::span<LpTag> tags,
                   std::span<const LpField> fields, int64_t time_ns) {
  if (measurement.empty()) return Status::InvalidArgument("empty measurement name");
  if (measurement[0] == '#') {
    return Status::InvalidArgument(
        fmt::format("measurement '{}' starts with '#' (a comment line)", measurement));
  }
  if (Status s = CheckPart(measurement, kMeasurementSpecial,
                           fmt::format("measurement '{}'", measurement));
      !s.ok()) {
    return s;
  }
  if (fields.empty()) {
    return Status::InvalidArgument(fmt::format("measurement '{}': a point needs a field",
                                               measurement));
  }
  std::sort(tags.begin(), tags.end(),
            [](const LpTag& a, const LpTag& b) { return a.key < b.key; });
  for (size_t i = 0; i < tags.size(); ++i) {
    const LpTag& t = tags[i];
    if (t.key.empty()) return Status::InvalidArgument("empty tag key");
    if (t.key == "time") return Status::InvalidArgument("tag key 'time' is reserved");
    if (i > 0 && tags[i - 1].key == t.key) {
      return Status::InvalidArgument(fmt::format("tag key '{}' twice", t.key));
    }
    TXP_RETURN_IF_ERROR(CheckPart(t.key, kKeySpecial, fmt::format("tag key '{}'", t.key)));
    TXP_RETURN_IF_ERROR(
        CheckPart(t.value, kKeySpecial, fmt::format("tag '{}' value '{}'", t.key, t.value)));
  }
  for (const LpField& f : fields) {
    if (f.key.empty()) return Status::InvalidArgument("empty field key");
    if (f.key == "time") return Status::InvalidArgument("field key 'time' is reserved");
    TXP_RETURN_IF_ERROR(CheckPart(f.key, kKeySpecial, fmt::format("field key '{}'", f.key)));
    if (f.kind == LpField::Kind::kFloat && !std::isfinite(f.f)) {
      return Status::InvalidArgument(
          fmt::format("field '{}': {} is not a number line protocol takes", f.key, f.f));
    }
  }

  AppendEscaped(out, measurement, kMeasurementSpecial);
  for (const LpTag& t : tags) {
    if (t.value.empty()) continue;
    out->push_back(',');
    AppendEscaped(out, t.key, kKeySpecial);
    out->push_back('=');
    AppendEscaped(out, t.value, kKeySpecial);
  }
  char sep = ' ';
  for (const LpField& f : fields) {
    out->push_back(sep);
    sep = ',';
    AppendEscaped(out, f.key, kKeySpecial);
    out->push_back('=');
    switch (f.kind) {
      case LpField::Kind::kFloat:
        AppendNumber(out, f.f);
        break;
      case LpField::Kind::kInt:
        AppendNumber(out, f.i);
        out->push_back('i');
        break;
      case LpField::Kind::kString:
        AppendStringValue(out, f.s);
        break;
      case LpField::Kind::kBool:
        out->push_back(f.b ? 't' : 'f');
        break;
    }
  }
  out->push_back(' ');
  AppendNumber(out, time_ns);
  out->push_back('\n');
  return Status::OK();
}

}  // namespace txpipe::codec
