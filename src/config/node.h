// Node: a parsed configuration value (from TOML, or from a Flume properties
// file), with the dotted path it came from so errors can name it.
// toml++ stays inside src/config; components see only Node and OptionTable.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"

namespace txpipe::config {

class Node {
 public:
  using Table = std::map<std::string, Node>;
  using Array = std::vector<Node>;

  Node() = default;
  static Node String(std::string v, std::string path);
  static Node Int(int64_t v, std::string path);
  static Node Float(double v, std::string path);
  static Node Bool(bool v, std::string path);
  static Node MakeTable(std::string path);
  static Node MakeArray(std::string path);

  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_table() const { return std::holds_alternative<Table>(v_); }
  bool is_array() const { return std::holds_alternative<Array>(v_); }
  // "string", "integer", "float", "boolean", "table", "array".
  std::string_view type_name() const;

  const std::string& as_string() const { return std::get<std::string>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  bool as_bool() const { return std::get<bool>(v_); }
  const Table& as_table() const { return std::get<Table>(v_); }
  Table& as_table() { return std::get<Table>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }

  // For tables: the child `key`, or nullptr.
  const Node* Get(std::string_view key) const;
  // Dotted path of this node ("sinks.archive.roll_size_bytes"); "" for the root.
  const std::string& path() const { return path_; }
  // Path of a child key of this table.
  std::string ChildPath(std::string_view key) const;
  // A one-line error about this node: "<path>: <what>".
  base::Status Error(std::string_view what) const;
  // Where the configuration came from ("pipeline.toml"), for messages.
  const std::string& origin() const { return *origin_; }

  // True when values came from text without types (Flume properties): then
  // numbers and booleans are accepted from strings.
  bool untyped() const { return untyped_; }

 private:
  std::variant<std::monostate, std::string, int64_t, double, bool, Table, Array> v_;
  std::string path_;
  std::shared_ptr<const std::string> origin_ = std::make_shared<const std::string>();
  bool untyped_ = false;

 public:
  // Builders (for parsers and tests).
  Node& Set(std::string key, Node child);  // tables
  Node& Push(Node child);                  // arrays
  void SetOrigin(std::shared_ptr<const std::string> origin, bool untyped);
};

// Parses TOML text. Syntax errors read "<origin>:<line>:<column>: <what>".
base::Result<Node> ParseToml(std::string_view text, std::string_view origin);
base::Result<Node> LoadTomlFile(const std::string& path);

// Parses a duration: "500ms", "10s", "1m", "2h", "1d", or a bare integer in
// `bare_unit_ms` units. Returns milliseconds.
base::Result<int64_t> ParseDurationMs(std::string_view text, int64_t bare_unit_ms = 1);
// The shortest exact spelling of a duration: 86400000 -> "1d", 90000 -> "90s",
// 1500 -> "1500ms", 0 -> "0s".
std::string FormatDurationMs(int64_t ms);
// Parses a size: "128MB", "64KiB", "1GB", or bytes.
base::Result<uint64_t> ParseBytes(std::string_view text);

}  // namespace txpipe::config
