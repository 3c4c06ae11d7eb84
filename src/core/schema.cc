#include "core/schema.h"

#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace txpipe::core {

using base::Result;
using base::Status;

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kString: return "string";
    case FieldType::kInt: return "int";
    case FieldType::kFloat: return "float";
    case FieldType::kTimestamp: return "timestamp";
    case FieldType::kEnum: return "enum";
  }
  return "?";
}

int FieldSpec::EnumIndex(std::string_view value) const {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == value) return static_cast<int>(i);
  }
  return -1;
}

int Schema::FieldIndex(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// Collects the first error with its key path: "<origin>: <path>: <what>".
class Reader {
 public:
  explicit Reader(std::string_view origin) : origin_(origin) {}

  Status Error(std::string_view path, std::string_view what) const {
    return Status::InvalidArgument(fmt::format("{}: {}: {}", origin_, path, what));
  }

  Status CheckKeys(const toml::table& t, std::string_view path,
                   std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, v] : t) {
      bool known = false;
      for (auto a : allowed) known |= (k.str() == a);
      if (!known) {
        std::string p = path.empty() ? std::string(k.str()) : fmt::format("{}.{}", path, k.str());
        return Error(p, "unknown key");
      }
    }
    return Status::OK();
  }

  // Reads an optional string; `out` keeps its value when the key is absent.
  Status String(const toml::table& t, std::string_view path, std::string_view key,
                std::string* out, bool required) const {
    const toml::node* n = t.get(key);
    std::string p = path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
    if (!n) return required ? Error(p, "missing (required)") : Status::OK();
    auto s = n->value<std::string>();
    if (!n->is_string() || !s) return Error(p, "expected a string");
    *out = *s;
    return Status::OK();
  }

  Status StringList(const toml::table& t, std::string_view key, std::vector<std::string>* out,
                    std::string_view path = "") const {
    const toml::node* n = t.get(key);
    std::string p = path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
    if (!n) return Status::OK();
    const toml::array* a = n->as_array();
    if (!a) return Error(p, "expected an array of strings");
    for (size_t i = 0; i < a->size(); ++i) {
      auto s = (*a)[i].value<std::string>();
      if (!(*a)[i].is_string() || !s) return Error(fmt::format("{}[{}]", p, i), "expected a string");
      out->push_back(*s);
    }
    return Status::OK();
  }

 private:
  std::string origin_;
};

}  // namespace

Result<Schema> Schema::FromToml(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(fmt::format("{}:{}:{}: {}", origin, where.line, where.column,
                                               e.description()));
  }
  Reader r(origin);
  Schema s;
  TXP_RETURN_IF_ERROR(r.CheckKeys(root, "",
                                  {"name", "topic", "description", "event_time", "key",
                                   "dimensions", "measures", "unknown_fields", "fields"}));
  TXP_RETURN_IF_ERROR(r.String(root, "", "name", &s.name_, true));
  s.topic_ = s.name_;
  TXP_RETURN_IF_ERROR(r.String(root, "", "topic", &s.topic_, false));
  std::string ignored;
  TXP_RETURN_IF_ERROR(r.String(root, "", "description", &ignored, false));

  std::string policy = "reject";
  TXP_RETURN_IF_ERROR(r.String(root, "", "unknown_fields", &policy, false));
  if (policy == "reject") {
    s.unknown_fields_ = UnknownFieldPolicy::kReject;
  } else if (policy == "ignore") {
    s.unknown_fields_ = UnknownFieldPolicy::kIgnore;
  } else {
    return r.Error("unknown_fields", fmt::format("'{}' is not one of: reject, ignore", policy));
  }

  const toml::node* fields = root.get("fields");
  if (!fields) return r.Error("fields", "missing (required): the list of [[fields]]");
  const toml::array* arr = fields->as_array();
  if (!arr || arr->empty()) return r.Error("fields", "expected a non-empty array of tables");
  std::set<std::string, std::less<>> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string path = fmt::format("fields[{}]", i);
    const toml::table* t = (*arr)[i].as_table();
    if (!t) return r.Error(path, "expected a table");
    TXP_RETURN_IF_ERROR(r.CheckKeys(*t, path, {"name", "type", "nullable", "values", "description"}));
    FieldSpec f;
    TXP_RETURN_IF_ERROR(r.String(*t, path, "name", &f.name, true));
    if (f.name.empty()) return r.Error(path + ".name", "must not be empty");
    if (!names.insert(f.name).second) {
      return r.Error(path + ".name", fmt::format("field '{}' is declared twice", f.name));
    }
    std::string type;
    TXP_RETURN_IF_ERROR(r.String(*t, path, "type", &type, true));
    if (type == "string") f.type = FieldType::kString;
    else if (type == "int") f.type = FieldType::kInt;
    else if (type == "float") f.type = FieldType::kFloat;
    else if (type == "timestamp") f.type = FieldType::kTimestamp;
    else if (type == "enum") f.type = FieldType::kEnum;
    else {
      return r.Error(path + ".type",
                     fmt::format("unknown type '{}' (expected string, int, float, timestamp, enum)",
                                 type));
    }
    if (const toml::node* n = t->get("nullable")) {
      auto b = n->value<bool>();
      if (!n->is_boolean() || !b) return r.Error(path + ".nullable", "expected true or false");
      f.nullable = *b;
    }
    TXP_RETURN_IF_ERROR(r.StringList(*t, "values", &f.values, path));
    if (f.type == FieldType::kEnum) {
      if (f.values.empty()) return r.Error(path + ".values", "an enum needs a non-empty list");
      std::set<std::string, std::less<>> seen;
      for (const auto& v : f.values) {
        if (!seen.insert(v).second) {
          return r.Error(path + ".values", fmt::format("'{}' is listed twice", v));
        }
      }
    } else if (!f.values.empty()) {
      return r.Error(path + ".values", "only an enum field has values");
    }
    TXP_RETURN_IF_ERROR(r.String(*t, path, "description", &f.description, false));
    s.fields_.push_back(std::move(f));
  }

  std::string event_time, key;
  TXP_RETURN_IF_ERROR(r.String(root, "", "event_time", &event_time, true));
  s.event_time_ = s.FieldIndex(event_time);
  if (s.event_time_ < 0) return r.Error("event_time", fmt::format("no field '{}'", event_time));
  if (s.fields_[s.event_time_].type != FieldType::kTimestamp) {
    return r.Error("event_time", fmt::format("field '{}' is not a timestamp", event_time));
  }
  if (s.fields_[s.event_time_].nullable) {
    return r.Error("event_time", fmt::format("field '{}' must not be nullable", event_time));
  }
  TXP_RETURN_IF_ERROR(r.String(root, "", "key", &key, true));
  s.key_ = s.FieldIndex(key);
  if (s.key_ < 0) return r.Error("key", fmt::format("no field '{}'", key));

  std::vector<std::string> dims, measures;
  TXP_RETURN_IF_ERROR(r.StringList(root, "dimensions", &dims));
  TXP_RETURN_IF_ERROR(r.StringList(root, "measures", &measures));
  for (size_t i = 0; i < dims.size(); ++i) {
    int idx = s.FieldIndex(dims[i]);
    std::string path = fmt::format("dimensions[{}]", i);
    if (idx < 0) return r.Error(path, fmt::format("no field '{}'", dims[i]));
    FieldType t = s.fields_[idx].type;
    if (t == FieldType::kFloat || t == FieldType::kTimestamp) {
      return r.Error(path, fmt::format("field '{}' is a {}; a dimension must be an enum, string "
                                       "or int", dims[i], FieldTypeName(t)));
    }
    s.dimensions_.push_back(idx);
  }
  for (size_t i = 0; i < measures.size(); ++i) {
    int idx = s.FieldIndex(measures[i]);
    std::string path = fmt::format("measures[{}]", i);
    if (idx < 0) return r.Error(path, fmt::format("no field '{}'", measures[i]));
    FieldType t = s.fields_[idx].type;
    if (t != FieldType::kFloat && t != FieldType::kInt) {
      return r.Error(path, fmt::format("field '{}' is a {}; a measure must be int or float",
                                       measures[i], FieldTypeName(t)));
    }
    s.measures_.push_back(idx);
  }
  return s;
}

Result<Schema> Schema::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(fmt::format("cannot read schema {}", path), errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  return FromToml(ss.str(), path);
}

Result<Schema> FindSchema(std::string_view name_or_path) {
  bool is_path = name_or_path.find('/') != std::string_view::npos ||
                 (name_or_path.size() > 5 &&
                  name_or_path.substr(name_or_path.size() - 5) == ".toml");
  if (is_path) return Schema::Load(std::string(name_or_path));
  return BuiltinSchema(name_or_path);
}

}  // namespace txpipe::core
