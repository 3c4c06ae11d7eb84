#include "sinks/store/json.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>

#include "codec/json_writer.h"

namespace txpipe::sinks::store::json {

void AppendString(std::string* out, std::string_view s) { codec::AppendJsonString(out, s); }

std::string Quote(std::string_view s) {
  std::string out;
  AppendString(&out, s);
  return out;
}

void AppendNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  fmt::format_to(std::back_inserter(*out), "{}", v);
}

std::string StringArray(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    AppendString(&out, v[i]);
  }
  return out + "]";
}

std::string SizeObject(const std::vector<std::pair<std::string, int64_t>>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    AppendString(&out, v[i].first);
    fmt::format_to(std::back_inserter(out), ":{}", v[i].second);
  }
  return out + "}";
}

bool ParseStringArray(std::string_view text, std::vector<std::string>* out) {
  out->clear();
  simdjson::dom::parser parser;
  simdjson::dom::array a;
  if (parser.parse(text.data(), text.size()).get_array().get(a)) return false;
  for (simdjson::dom::element e : a) {
    std::string_view s;
    if (e.get_string().get(s)) return false;
    out->emplace_back(s);
  }
  return true;
}

bool ParseSizeObject(std::string_view text, std::vector<std::pair<std::string, int64_t>>* out) {
  out->clear();
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(text.data(), text.size()).get_object().get(o)) return false;
  for (auto [key, value] : o) {
    int64_t ms = 0;
    if (value.get_int64().get(ms)) return false;
    out->emplace_back(std::string(key), ms);
  }
  return true;
}

}  // namespace txpipe::sinks::store::json
