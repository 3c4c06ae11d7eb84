// Schema: what one event of a stream looks like (schemas/*.toml).
//
// A schema lists typed fields and says which field is the event time, which
// is the key, which fields are dimensions (things to group by) and which are
// measures (numbers to sum). The file format is documented in
// docs/schemas.md; schemas/finance.toml is the seed generator's 16 fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace txpipe::core {

enum class FieldType { kString, kInt, kFloat, kTimestamp, kEnum };

// "string", "int", "float", "timestamp", "enum".
std::string_view FieldTypeName(FieldType type);

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kString;
  bool nullable = false;            // may be JSON null or absent
  std::vector<std::string> values;  // kEnum: the allowed values, in order
  std::string description;          // for people; not checked

  // Index of `value` in `values`, or -1.
  int EnumIndex(std::string_view value) const;
};

// What the validator does with a field the schema does not list.
enum class UnknownFieldPolicy {
  kReject,  // the event is rejected (reason unknown_field)
  kIgnore,  // the field is skipped; the body keeps it
};

class Schema {
 public:
  // Parses a schema from TOML text. `origin` names the text in errors
  // ("schemas/finance.toml"). Every problem names its key path.
  static base::Result<Schema> FromToml(std::string_view text, std::string_view origin);
  // Reads and parses a schema file.
  static base::Result<Schema> Load(const std::string& path);

  const std::string& name() const { return name_; }
  // The topic a stream of this schema lands in by default.
  const std::string& topic() const { return topic_; }
  const std::vector<FieldSpec>& fields() const { return fields_; }
  const FieldSpec& field(int index) const { return fields_[index]; }
  int size() const { return static_cast<int>(fields_.size()); }
  // Index of the field called `name`, or -1.
  int FieldIndex(std::string_view name) const;

  int event_time_index() const { return event_time_; }
  int key_index() const { return key_; }
  const std::vector<int>& dimensions() const { return dimensions_; }
  const std::vector<int>& measures() const { return measures_; }
  UnknownFieldPolicy unknown_fields() const { return unknown_fields_; }

 private:
  std::string name_;
  std::string topic_;
  std::vector<FieldSpec> fields_;
  int event_time_ = -1;
  int key_ = -1;
  std::vector<int> dimensions_;
  std::vector<int> measures_;
  UnknownFieldPolicy unknown_fields_ = UnknownFieldPolicy::kReject;
};

// The schemas compiled into the binary (the files of schemas/), by name:
// "finance", "cars".
std::vector<std::string> BuiltinSchemaNames();
base::Result<Schema> BuiltinSchema(std::string_view name);

// Resolves a --schema argument: a path to a .toml file (when it contains '/'
// or ends in ".toml"), else the name of a built-in schema.
base::Result<Schema> FindSchema(std::string_view name_or_path);

}  // namespace txpipe::core
