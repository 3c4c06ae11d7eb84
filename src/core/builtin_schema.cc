#include <fmt/format.h>

#include "core/schema.h"

namespace txpipe::core {

// Defined in the generated builtin_schemas.cc: {name, TOML text} per file of schemas/.
extern const std::pair<std::string_view, std::string_view> kBuiltinSchemaTexts[];
extern const int kBuiltinSchemaCount;

std::vector<std::string> BuiltinSchemaNames() {
  std::vector<std::string> names;
  for (int i = 0; i < kBuiltinSchemaCount; ++i) names.emplace_back(kBuiltinSchemaTexts[i].first);
  return names;
}

base::Result<Schema> BuiltinSchema(std::string_view name) {
  for (int i = 0; i < kBuiltinSchemaCount; ++i) {
    if (kBuiltinSchemaTexts[i].first == name) {
      return Schema::FromToml(kBuiltinSchemaTexts[i].second,
                              fmt::format("schemas/{}.toml", name));
    }
  }
  return base::Status::NotFound(fmt::format(
      "no schema '{}' (built-in: {}; or give a path to a .toml file)", name,
      fmt::join(BuiltinSchemaNames(), ", ")));
}

}  // namespace txpipe::core
