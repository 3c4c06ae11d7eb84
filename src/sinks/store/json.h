// Small JSON helpers of the store library: writing strings and numbers, and
// reading the arrays and objects the streams table keeps. Internal to
// src/sinks/store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace txpipe::sinks::store::json {

// Appends `s` as a JSON string literal (codec::AppendJsonString).
void AppendString(std::string* out, std::string_view s);
std::string Quote(std::string_view s);
// Appends a number in its shortest exact form ("3", "0.12"); NaN and
// infinities, which JSON cannot hold, as null.
void AppendNumber(std::string* out, double v);

// ["a","b"]
std::string StringArray(const std::vector<std::string>& v);
// {"10s":10000,"1m":60000}
std::string SizeObject(const std::vector<std::pair<std::string, int64_t>>& v);
// Parse what the two above write; false on anything else.
bool ParseStringArray(std::string_view text, std::vector<std::string>* out);
bool ParseSizeObject(std::string_view text, std::vector<std::pair<std::string, int64_t>>* out);

}  // namespace txpipe::sinks::store::json
