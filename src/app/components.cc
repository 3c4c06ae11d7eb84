// The one explicit list of built-in components (no static self-registration:
// the linker would drop it). Add a component here and in src/app/CMakeLists.txt.
#include "app/pipeline.h"

namespace txpipe::app {

const std::vector<ComponentType>& BuiltinComponents() {
  static const std::vector<ComponentType> kComponents = {};
  return kComponents;
}

}  // namespace txpipe::app
