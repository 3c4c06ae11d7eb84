// Options of the analytics processor ([processors.NAME], type "analytics";
// docs/processor.md) and the Plan compiled from them: everything resolved
// against the schema once, so the hot loop does no name lookups.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/node.h"
#include "config/options.h"
#include "core/schema.h"
#include "processors/analytics/expr.h"

namespace txpipe::processors::analytics {

struct AlertOptions {
  std::string name;      // unique within the processor
  std::string rule;      // see docs/processor.md: event predicate, "... over 1m", "count by F > N per 1m"
  std::string severity = "warning";  // info | warning | critical
};

struct AnalyticsOptions {
  std::string topic;                       // input topic (required)
  std::string schema;                      // built-in name or a .toml path (required)
  std::string group;                       // consumer group; default "processor-<name>"
  std::vector<std::string> windows = {"10s", "1m"};  // tumbling window sizes, event time
  int64_t allowed_lateness_ms = 5000;      // watermark = max event time seen - this
  std::string late_policy = "update";      // update | drop
  int64_t late_horizon_ms = 600'000;       // update: windows stay updatable this long after their end
  int64_t idle_timeout_ms = 5000;          // a partition quiet this long stops holding the watermark
  std::string dedup_field = "transaction_id";  // "" = no dedup
  int64_t dedup_horizon_ms = 600'000;      // remember ids this long (event time)
  uint64_t dedup_max_entries = 20'000'000; // memory cap (~16 B each); oldest evicted first
  std::string currency_field = "currency"; // where the rate table applies ("" = no conversion)
  std::map<std::string, double> rates = {  // units of USD per unit of currency
      {"USD", 1.0}, {"EUR", 1.08}, {"GBP", 1.27}, {"JPY", 0.0067}};
  // Field -> band lower edges; values under the first edge are "<first".
  // Default: customer_age in [18, 26, 36, 46, 56, 66] when the schema has it.
  std::map<std::string, std::vector<int64_t>> bands;
  bool bands_set = false;
  std::map<std::string, std::string> ratios;  // name -> predicate ("failed_ratio" -> ...)
  bool ratios_set = false;
  std::vector<AlertOptions> alerts;
  std::string windows_topic;               // default "<topic>.windows"
  std::string alerts_topic = "alerts";
  std::string dlq_topic;                   // default "<topic>.dlq"
  int workers = 0;                         // parse threads; 0 = min(partitions, cores)
  int64_t checkpoint_interval_ms = 1000;   // state + offsets saved together this often
  std::string checkpoint_dir;              // default "processors/<name>" under data_dir
};

// The option table of the plain keys (alerts, rates, bands and ratios are
// tables, parsed by ParseAnalyticsOptions).
const config::OptionTable<AnalyticsOptions>& AnalyticsOptionTable();
// Parses every key of a [processors.NAME] table.
base::Status ParseAnalyticsOptions(const config::Node& node, AnalyticsOptions* out);
std::string DescribeAnalyticsOptions();

// A dimension: a column of the window records' `dimension`.
struct Dimension {
  enum class Kind { kEnum, kString, kBand, kTotal };
  Kind kind = Kind::kEnum;
  std::string name;             // "transaction_type", "customer_age_band", "total"
  int field = -1;               // schema field (not kTotal)
  std::vector<std::string> labels;  // kEnum: enum values; kBand: band labels; kTotal: {"all"}
  std::vector<int64_t> edges;   // kBand: lower edges, ascending
  int slot_base = 0;            // first fixed slot (kEnum, kBand, kTotal)
};

// A measure: summed, min'd, max'd and averaged per window slot.
struct Measure {
  std::string name;       // "amount", "amount_usd"
  int field = -1;         // schema field it reads
  bool to_usd = false;    // multiplied by the rate of the event's currency
};

struct Ratio {
  std::string name;  // the field name in window records ("failed_ratio")
  Expr predicate;    // over schema fields
};

struct AlertRule {
  enum class Kind { kEvent, kThreshold, kVelocity };
  Kind kind = Kind::kEvent;
  std::string name, severity, rule;
  Expr predicate;           // kEvent: over schema fields; kThreshold: over window fields
  int window = -1;          // kThreshold: index into Plan::windows_ms
  int by_dimension = -1;    // kThreshold: index into Plan::dims (-1 = total)
  int by_field = -1;        // kVelocity: schema field counted per value
  int64_t per_ms = 0;       // kVelocity: window size
  int64_t threshold = 0;    // kVelocity: fires when the count exceeds this
};

struct Plan {
  std::string name;   // the processor's name (the stream)
  std::shared_ptr<const core::Schema> schema;
  AnalyticsOptions options;
  std::vector<int64_t> windows_ms;    // ascending
  std::vector<std::string> window_names;  // "10s", as configured
  int64_t lateness_us = 0;
  bool late_update = true;
  int64_t late_horizon_us = 0;
  int64_t idle_timeout_us = 0;
  int dedup_field = -1;
  int64_t dedup_horizon_us = 0;
  int currency_field = -1;
  std::vector<int64_t> rate_micros;   // per currency enum index: USD per unit, x1e6 (0 = unknown)
  std::vector<Dimension> dims;        // schema dimensions, bands, then total
  int fixed_slots = 0;                // slots of kEnum/kBand/kTotal dimensions
  std::vector<Measure> measures;
  std::vector<Ratio> ratios;
  std::vector<AlertRule> alerts;
  std::vector<int> event_alerts;      // indexes into alerts
  std::vector<int> velocity_alerts;
  std::vector<int> threshold_alerts;
  std::string windows_topic, alerts_topic, dlq_topic;
  // Window record field names, in order: "<measure>_sum|min|max|avg", ratios.
  std::vector<std::string> field_names;
  // A hash of everything that shapes the state; a checkpoint written under a
  // different fingerprint is refused.
  uint64_t fingerprint = 0;

  int dim_count() const { return static_cast<int>(dims.size()); }
};

// Resolves the options against the schema (no I/O except reading a schema
// file). Errors name the option: "windows: '7x' is not a duration".
base::Result<std::shared_ptr<const Plan>> CompilePlan(const std::string& name,
                                                      const AnalyticsOptions& options);

}  // namespace txpipe::processors::analytics
