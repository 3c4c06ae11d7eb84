// OptionTable<T>: one table per component config struct that drives parsing,
// rejects unknown keys with their path, checks ranges and enums, and prints
// `txpipe check --describe` (fluent-bit's flb_config_map). Validation is pure:
// nothing here touches the file system.
//
//   struct ArchiveOptions { std::string path = "archive"; uint64_t roll_size_bytes = 128 << 20; };
//   const auto& table = OptionTable<ArchiveOptions>("archive")
//       .String("path", &ArchiveOptions::path, "where files go")
//       .UInt("roll_size_bytes", &ArchiveOptions::roll_size_bytes, "roll past this size", 1);
//   ArchiveOptions o;  TXP_RETURN_IF_ERROR(table.Parse(node, &o));
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "config/node.h"

namespace txpipe::config {

struct OptionInfo {
  std::string name;
  std::string type;  // "string", "integer", "duration", "bytes", "boolean", "list", "one of: a|b"
  std::string help;
  // Extra keys that alias this one (Flume's camelCase spellings).
  std::vector<std::string> aliases;
};

template <typename T>
class OptionTable {
 public:
  explicit OptionTable(std::string component) : component_(std::move(component)) {}

  OptionTable& String(std::string name, std::string T::*m, std::string help) {
    return Add(std::move(name), "string", std::move(help),
               [m](const Node& n, T* o) -> base::Status {
                 if (!n.is_string()) return n.Error(fmt::format("expected a string, got {}", n.type_name()));
                 o->*m = n.as_string();
                 return {};
               },
               [m](const T& o) { return fmt::format("\"{}\"", o.*m); });
  }

  OptionTable& Enum(std::string name, std::string T::*m, std::vector<std::string> values,
                    std::string help) {
    std::string type = "one of: " + fmt::format("{}", fmt::join(values, "|"));
    return Add(std::move(name), type, std::move(help),
               [m, values](const Node& n, T* o) -> base::Status {
                 if (!n.is_string()) return n.Error(fmt::format("expected a string, got {}", n.type_name()));
                 for (const auto& v : values) {
                   if (v == n.as_string()) {
                     o->*m = v;
                     return {};
                   }
                 }
                 return n.Error(fmt::format("'{}' is not one of: {}", n.as_string(),
                                            fmt::join(values, ", ")));
               },
               [m](const T& o) { return fmt::format("\"{}\"", o.*m); });
  }

  // Integers; `min`/`max` bound them (out of range is an error, never clamped).
  template <typename Int>
  OptionTable& Integer(std::string name, Int T::*m, std::string help,
                       Int min = std::numeric_limits<Int>::min(),
                       Int max = std::numeric_limits<Int>::max()) {
    return Add(std::move(name), "integer", std::move(help),
               [m, min, max](const Node& n, T* o) -> base::Status {
                 int64_t v;
                 if (n.is_int()) {
                   v = n.as_int();
                 } else if (n.is_string() && n.untyped() && ParseInt(n.as_string(), &v)) {
                 } else {
                   return n.Error(fmt::format("expected an integer, got {}", Shown(n)));
                 }
                 if (v < static_cast<int64_t>(min) ||
                     (max < std::numeric_limits<Int>::max() && v > static_cast<int64_t>(max)) ||
                     (std::is_unsigned_v<Int> && v < 0)) {
                   return n.Error(RangeText(v, static_cast<int64_t>(min),
                                            max < std::numeric_limits<Int>::max()
                                                ? static_cast<int64_t>(max)
                                                : std::numeric_limits<int64_t>::max()));
                 }
                 o->*m = static_cast<Int>(v);
                 return {};
               },
               [m](const T& o) { return fmt::format("{}", o.*m); });
  }

  // A duration in milliseconds: "30s", "10m", "500ms", or an integer in
  // `bare_unit_ms` units (Flume's roll_interval is seconds: 1000).
  OptionTable& DurationMs(std::string name, int64_t T::*m, std::string help,
                          int64_t bare_unit_ms = 1, int64_t min_ms = 0) {
    return Add(std::move(name), "duration", std::move(help),
               [m, bare_unit_ms, min_ms](const Node& n, T* o) -> base::Status {
                 base::Result<int64_t> r = n.is_int()
                                               ? base::Result<int64_t>(n.as_int() * bare_unit_ms)
                                           : n.is_string()
                                               ? ParseDurationMs(n.as_string(), bare_unit_ms)
                                               : base::Result<int64_t>(base::Status::InvalidArgument(
                                                     fmt::format("got {}", n.type_name())));
                 if (!r.ok()) return n.Error(fmt::format("expected a duration like \"30s\": {}",
                                                         r.status().message()));
                 if (*r < min_ms) return n.Error(fmt::format("must be at least {} ms", min_ms));
                 o->*m = *r;
                 return {};
               },
               [m](const T& o) { return fmt::format("\"{}\"", FormatDurationMs(o.*m)); });
  }

  // A table whose keys and values are both durations, in milliseconds:
  // `retention = {"10s" = "24h", "1m" = "30d"}`. A bare integer value is in
  // `bare_unit_ms` units. The table replaces the default map as a whole.
  OptionTable& DurationMap(std::string name, std::map<int64_t, int64_t> T::*m, std::string help,
                           int64_t bare_unit_ms = 1) {
    return Add(std::move(name), "table", std::move(help),
               [m, bare_unit_ms](const Node& n, T* o) -> base::Status {
                 if (!n.is_table()) {
                   return n.Error(fmt::format("expected a table like {{\"10s\" = \"24h\"}}, got {}",
                                              n.type_name()));
                 }
                 std::map<int64_t, int64_t> out;
                 for (const auto& [key, v] : n.as_table()) {
                   auto k = ParseDurationMs(key, bare_unit_ms);
                   if (!k.ok()) {
                     return v.Error(fmt::format("key: expected a duration like \"10s\": {}",
                                                k.status().message()));
                   }
                   base::Result<int64_t> r =
                       v.is_int() ? base::Result<int64_t>(v.as_int() * bare_unit_ms)
                       : v.is_string()
                           ? ParseDurationMs(v.as_string(), bare_unit_ms)
                           : base::Result<int64_t>(base::Status::InvalidArgument(
                                 fmt::format("got {}", v.type_name())));
                   if (!r.ok() || *r < 0) {
                     return v.Error(fmt::format("expected a duration like \"24h\": {}",
                                                r.ok() ? "negative" : r.status().message()));
                   }
                   out[*k] = *r;
                 }
                 o->*m = std::move(out);
                 return {};
               },
               [m](const T& o) {
                 std::string s = "{";
                 for (const auto& [k, v] : o.*m) {
                   s += fmt::format("{}\"{}\" = \"{}\"", s.size() > 1 ? ", " : "",
                                    FormatDurationMs(k), FormatDurationMs(v));
                 }
                 return s + "}";
               });
  }

  // A table of string values: `headers = {Authorization = "Bearer x"}`. The
  // table replaces the default map as a whole. Describe shows the default's
  // keys only (values may be secrets).
  OptionTable& StringMap(std::string name, std::map<std::string, std::string> T::*m,
                         std::string help) {
    return Add(std::move(name), "table", std::move(help),
               [m](const Node& n, T* o) -> base::Status {
                 if (!n.is_table()) {
                   return n.Error(fmt::format("expected a table like {{Name = \"value\"}}, got {}",
                                              n.type_name()));
                 }
                 std::map<std::string, std::string> out;
                 for (const auto& [key, v] : n.as_table()) {
                   if (!v.is_string()) {
                     return v.Error(fmt::format("expected a string, got {}", v.type_name()));
                   }
                   out[key] = v.as_string();
                 }
                 o->*m = std::move(out);
                 return {};
               },
               [m](const T& o) {
                 std::string s = "{";
                 for (const auto& [k, v] : o.*m) {
                   s += fmt::format("{}\"{}\" = ...", s.size() > 1 ? ", " : "", k);
                 }
                 return s + "}";
               });
  }

  OptionTable& Bytes(std::string name, uint64_t T::*m, std::string help, uint64_t min = 0) {
    return Add(std::move(name), "bytes", std::move(help),
               [m, min](const Node& n, T* o) -> base::Status {
                 base::Result<uint64_t> r =
                     n.is_int() ? (n.as_int() < 0 ? base::Result<uint64_t>(base::Status::InvalidArgument("negative"))
                                                  : base::Result<uint64_t>(static_cast<uint64_t>(n.as_int())))
                     : n.is_string() ? ParseBytes(n.as_string())
                                     : base::Result<uint64_t>(base::Status::InvalidArgument(
                                           fmt::format("got {}", n.type_name())));
                 if (!r.ok()) return n.Error(fmt::format("expected a size like \"128MB\": {}",
                                                         r.status().message()));
                 if (*r < min) return n.Error(fmt::format("must be >= {}", min));
                 o->*m = *r;
                 return {};
               },
               [m](const T& o) { return fmt::format("{}", o.*m); });
  }

  OptionTable& Bool(std::string name, bool T::*m, std::string help) {
    return Add(std::move(name), "boolean", std::move(help),
               [m](const Node& n, T* o) -> base::Status {
                 if (n.is_bool()) {
                   o->*m = n.as_bool();
                 } else if (n.is_string() && n.untyped() &&
                            (n.as_string() == "true" || n.as_string() == "false")) {
                   o->*m = n.as_string() == "true";
                 } else {
                   return n.Error(fmt::format("expected true or false, got {}", Shown(n)));
                 }
                 return {};
               },
               [m](const T& o) { return std::string(o.*m ? "true" : "false"); });
  }

  // A list of strings; from untyped (Flume) text, a space-separated string.
  OptionTable& StringList(std::string name, std::vector<std::string> T::*m, std::string help) {
    return Add(std::move(name), "list", std::move(help),
               [m](const Node& n, T* o) -> base::Status {
                 std::vector<std::string> out;
                 if (n.is_array()) {
                   for (const Node& e : n.as_array()) {
                     if (!e.is_string()) return e.Error(fmt::format("expected a string, got {}", e.type_name()));
                     out.push_back(e.as_string());
                   }
                 } else if (n.is_string()) {
                   std::string_view s = n.as_string();
                   size_t i = 0;
                   while (i < s.size()) {
                     while (i < s.size() && s[i] == ' ') ++i;
                     size_t j = s.find(' ', i);
                     if (j == std::string_view::npos) j = s.size();
                     if (j > i) out.emplace_back(s.substr(i, j - i));
                     i = j;
                   }
                 } else {
                   return n.Error(fmt::format("expected a list of strings, got {}", n.type_name()));
                 }
                 o->*m = std::move(out);
                 return {};
               },
               [m](const T& o) { return fmt::format("[{}]", fmt::join(o.*m, ", ")); });
  }

  // Adds other spellings for the last option added (Flume's camelCase keys).
  OptionTable& Alias(std::string alias) {
    options_.back().info.aliases.push_back(std::move(alias));
    return *this;
  }

  // Reads every key of `table` into `out` (which holds the defaults). Keys in
  // `ignore` are skipped (e.g. "type"). Unknown keys are errors naming the path.
  base::Status Parse(const Node& table, T* out, std::vector<std::string> ignore = {"type"}) const {
    if (!table.is_table()) return table.Error(fmt::format("expected a table, got {}", table.type_name()));
    for (const auto& [key, node] : table.as_table()) {
      bool skip = false;
      for (const auto& i : ignore) skip |= (i == key);
      if (skip) continue;
      const Entry* e = Find(key);
      if (!e) {
        return node.Error(fmt::format("unknown option for {} (run 'txpipe check --describe')",
                                      component_));
      }
      TXP_RETURN_IF_ERROR(e->parse(node, out));
    }
    return {};
  }

  // One line per option: name, type, default, help.
  std::string Describe(const T& defaults = T{}) const {
    std::string s = fmt::format("[{}]\n", component_);
    for (const auto& e : options_) {
      s += fmt::format("  {:<26} {:<10} default {:<16} {}\n", e.info.name, e.info.type,
                       e.show(defaults), e.info.help);
    }
    return s;
  }

  const std::string& component() const { return component_; }

 private:
  struct Entry {
    OptionInfo info;
    std::function<base::Status(const Node&, T*)> parse;
    std::function<std::string(const T&)> show;
  };

  OptionTable& Add(std::string name, std::string type, std::string help,
                   std::function<base::Status(const Node&, T*)> parse,
                   std::function<std::string(const T&)> show) {
    options_.push_back({{std::move(name), std::move(type), std::move(help), {}}, std::move(parse),
                        std::move(show)});
    return *this;
  }
  const Entry* Find(const std::string& key) const {
    for (const auto& e : options_) {
      if (e.info.name == key) return &e;
      for (const auto& a : e.info.aliases) {
        if (a == key) return &e;
      }
    }
    return nullptr;
  }
  static bool ParseInt(const std::string& s, int64_t* v) {
    try {
      size_t used = 0;
      long long x = std::stoll(s, &used);
      if (used != s.size()) return false;
      *v = x;
      return true;
    } catch (...) {
      return false;
    }
  }
  static std::string Shown(const Node& n) {
    if (n.is_string()) return fmt::format("\"{}\"", n.as_string());
    return std::string(n.type_name());
  }
  static std::string RangeText(int64_t v, int64_t min, int64_t max) {
    if (max == std::numeric_limits<int64_t>::max()) return fmt::format("must be >= {}, got {}", min, v);
    return fmt::format("must be between {} and {}, got {}", min, max, v);
  }

  std::string component_;
  std::vector<Entry> options_;
};

}  // namespace txpipe::config
