// The one explicit list of built-in components (no static self-registration:
// the linker would drop it). Add a component here and in src/app/CMakeLists.txt.
#include <fmt/format.h>

#include "app/pipeline.h"
#include "processors/analytics/options.h"
#include "processors/analytics/processor.h"
#include "sinks/archive/archive_sink.h"
#include "sinks/archive/options.h"
#include "sinks/influxdb/influxdb_sink.h"
#include "sinks/influxdb/options.h"
#include "sinks/store/options.h"
#include "sinks/store/store_sink.h"
#include "sinks/webhook/options.h"
#include "sinks/webhook/webhook_sink.h"
#include "sources/spooldir/spooldir.h"

namespace txpipe::app {

namespace {

// A component type whose options are a struct parsed by an OptionTable and
// checked by a pure Validate function.
template <typename Options, typename ComponentT>
ComponentType Make(std::string kind, std::string type,
                   const config::OptionTable<Options>& (*table)(),
                   base::Status (*validate)(const Options&),
                   std::vector<std::string> (*warnings)(const Options&) = nullptr) {
  ComponentType c;
  c.kind = std::move(kind);
  c.type = std::move(type);
  c.describe = [table] { return table().Describe(); };
  if (warnings) {
    c.warnings = [table, warnings](const config::Node& node) {
      Options o;
      return table().Parse(node, &o).ok() ? warnings(o) : std::vector<std::string>{};
    };
  }
  c.parse = [table, validate](const config::Node& node) -> base::Result<ComponentFactory> {
    Options o;
    TXP_RETURN_IF_ERROR(table().Parse(node, &o));
    base::Status s = validate(o);
    if (!s.ok()) return node.Error(s.message());
    return ComponentFactory(
        [o](const runtime::Context& ctx) -> base::Result<std::unique_ptr<runtime::Component>> {
          return std::unique_ptr<runtime::Component>(new ComponentT(o, ctx));
        });
  };
  return c;
}

// The analytics processor: its options hold tables (alerts, rates, bands),
// and its plan is compiled against the schema while the config is checked.
ComponentType Analytics() {
  namespace pa = processors::analytics;
  ComponentType c;
  c.kind = "processor";
  c.type = "analytics";
  c.describe = &pa::DescribeAnalyticsOptions;
  c.parse = [](const config::Node& node) -> base::Result<ComponentFactory> {
    pa::AnalyticsOptions o;
    TXP_RETURN_IF_ERROR(pa::ParseAnalyticsOptions(node, &o));
    auto checked = pa::CompilePlan("check", o);
    if (!checked.ok()) return node.Error(checked.status().message());
    return ComponentFactory(
        [o](const runtime::Context& ctx) -> base::Result<std::unique_ptr<runtime::Component>> {
          auto plan = pa::CompilePlan(ctx.name, o);
          if (!plan.ok()) return plan.status();
          return std::unique_ptr<runtime::Component>(
              new pa::AnalyticsProcessor(std::move(plan).value(), ctx));
        });
  };
  return c;
}

}  // namespace

const std::vector<ComponentType>& BuiltinComponents() {
  static const std::vector<ComponentType> kComponents = {
      Make<sources::spooldir::SpoolDirOptions, sources::spooldir::SpoolDirSource>(
          "source", "spooldir", &sources::spooldir::SpoolDirOptionTable,
          &sources::spooldir::ValidateSpoolDirOptions),
      Make<sinks::archive::ArchiveOptions, sinks::archive::ArchiveSink>(
          "sink", "archive", &sinks::archive::ArchiveOptionTable,
          &sinks::archive::ValidateArchiveOptions),
      Make<sinks::store::StoreOptions, sinks::store::StoreSink>(
          "sink", "store", &sinks::store::StoreOptionTable, &sinks::store::ValidateStoreOptions),
      Make<sinks::influxdb::InfluxOptions, sinks::influxdb::InfluxSink>(
          "sink", "influxdb", &sinks::influxdb::InfluxOptionTable,
          &sinks::influxdb::ValidateInfluxOptions, &sinks::influxdb::InfluxWarnings),
      Make<sinks::webhook::WebhookOptions, sinks::webhook::WebhookSink>(
          "sink", "webhook", &sinks::webhook::WebhookOptionTable,
          &sinks::webhook::ValidateWebhookOptions),
      Analytics(),
  };
  return kComponents;
}

}  // namespace txpipe::app
