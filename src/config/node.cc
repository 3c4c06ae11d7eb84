#include "config/node.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace txpipe::config {

using base::Result;
using base::Status;

Node Node::String(std::string v, std::string path) {
  Node n;
  n.v_ = std::move(v);
  n.path_ = std::move(path);
  return n;
}
Node Node::Int(int64_t v, std::string path) {
  Node n;
  n.v_ = v;
  n.path_ = std::move(path);
  return n;
}
Node Node::Float(double v, std::string path) {
  Node n;
  n.v_ = v;
  n.path_ = std::move(path);
  return n;
}
Node Node::Bool(bool v, std::string path) {
  Node n;
  n.v_ = v;
  n.path_ = std::move(path);
  return n;
}
Node Node::MakeTable(std::string path) {
  Node n;
  n.v_ = Table{};
  n.path_ = std::move(path);
  return n;
}
Node Node::MakeArray(std::string path) {
  Node n;
  n.v_ = Array{};
  n.path_ = std::move(path);
  return n;
}

std::string_view Node::type_name() const {
  switch (v_.index()) {
    case 1: return "string";
    case 2: return "integer";
    case 3: return "float";
    case 4: return "boolean";
    case 5: return "table";
    case 6: return "array";
  }
  return "nothing";
}

const Node* Node::Get(std::string_view key) const {
  if (!is_table()) return nullptr;
  auto it = as_table().find(std::string(key));
  return it == as_table().end() ? nullptr : &it->second;
}

std::string Node::ChildPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

Status Node::Error(std::string_view what) const {
  std::string where = path_.empty() ? "(top level)" : path_;
  if (origin_->empty()) return Status::InvalidArgument(fmt::format("{}: {}", where, what));
  return Status::InvalidArgument(fmt::format("{}: {}: {}", *origin_, where, what));
}

Node& Node::Set(std::string key, Node child) {
  auto& t = as_table();
  child.origin_ = origin_;
  child.untyped_ = untyped_;
  return t[std::move(key)] = std::move(child);
}

Node& Node::Push(Node child) {
  auto& a = as_array();
  child.origin_ = origin_;
  child.untyped_ = untyped_;
  a.push_back(std::move(child));
  return a.back();
}

void Node::SetOrigin(std::shared_ptr<const std::string> origin, bool untyped) {
  origin_ = origin;
  untyped_ = untyped;
  if (is_table()) {
    for (auto& [k, c] : as_table()) c.SetOrigin(origin, untyped);
  } else if (is_array()) {
    for (auto& c : as_array()) c.SetOrigin(origin, untyped);
  }
}

namespace {

Result<Node> Convert(const toml::node& t, const std::string& path) {
  if (const auto* s = t.as_string()) return Node::String(s->get(), path);
  if (const auto* i = t.as_integer()) return Node::Int(i->get(), path);
  if (const auto* f = t.as_floating_point()) return Node::Float(f->get(), path);
  if (const auto* b = t.as_boolean()) return Node::Bool(b->get(), path);
  if (const auto* tab = t.as_table()) {
    Node n = Node::MakeTable(path);
    for (const auto& [k, v] : *tab) {
      std::string key(k.str());
      auto c = Convert(v, path.empty() ? key : path + "." + key);
      if (!c.ok()) return c.status();
      n.Set(key, std::move(c).value());
    }
    return n;
  }
  if (const auto* arr = t.as_array()) {
    Node n = Node::MakeArray(path);
    for (size_t i = 0; i < arr->size(); ++i) {
      auto c = Convert((*arr)[i], fmt::format("{}[{}]", path, i));
      if (!c.ok()) return c.status();
      n.Push(std::move(c).value());
    }
    return n;
  }
  return Status::InvalidArgument(fmt::format("{}: dates and times are not supported here", path));
}

}  // namespace

Result<Node> ParseToml(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(
        fmt::format("{}:{}:{}: {}", origin, where.line, where.column, e.description()));
  }
  auto n = Convert(root, "");
  if (!n.ok()) return Status::InvalidArgument(fmt::format("{}: {}", origin, n.status().message()));
  n->SetOrigin(std::make_shared<const std::string>(origin), false);
  return n;
}

Result<Node> LoadTomlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(fmt::format("cannot read {}", path), errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseToml(ss.str(), path);
}

Result<int64_t> ParseDurationMs(std::string_view text, int64_t bare_unit_ms) {
  std::string_view s = text;
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data() || v < 0) {
    return Status::InvalidArgument(fmt::format("'{}' is not a duration", text));
  }
  std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  int64_t mult;
  if (unit.empty()) mult = bare_unit_ms;
  else if (unit == "ms") mult = 1;
  else if (unit == "s") mult = 1000;
  else if (unit == "m") mult = 60'000;
  else if (unit == "h") mult = 3'600'000;
  else if (unit == "d") mult = 86'400'000;
  else return Status::InvalidArgument(fmt::format("unknown unit '{}' in '{}' (ms, s, m, h, d)", unit, text));
  if (v > INT64_MAX / mult) return Status::InvalidArgument(fmt::format("'{}' is too long", text));
  return v * mult;
}

std::string FormatDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  for (auto [unit, mult] : {std::pair<const char*, int64_t>{"d", 86'400'000}, {"h", 3'600'000},
                            {"m", 60'000}, {"s", 1000}}) {
    if (ms % mult == 0) return fmt::format("{}{}", ms / mult, unit);
  }
  return fmt::format("{}ms", ms);
}

Result<uint64_t> ParseBytes(std::string_view text) {
  std::string_view s = text;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) {
    return Status::InvalidArgument(fmt::format("'{}' is not a size", text));
  }
  std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  uint64_t mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KB" || unit == "kB") mult = 1000;
  else if (unit == "MB") mult = 1000 * 1000;
  else if (unit == "GB") mult = 1000ull * 1000 * 1000;
  else if (unit == "KiB") mult = 1024;
  else if (unit == "MiB") mult = 1024 * 1024;
  else if (unit == "GiB") mult = 1024ull * 1024 * 1024;
  else return Status::InvalidArgument(fmt::format("unknown unit '{}' in '{}' (B, KB, MB, GB, KiB, MiB, GiB)", unit, text));
  if (v > UINT64_MAX / mult) return Status::InvalidArgument(fmt::format("'{}' is too large", text));
  return v * mult;
}

}  // namespace txpipe::config
