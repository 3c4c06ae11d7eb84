#include "processors/analytics/options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <regex>

#include "runtime/broker.h"

namespace txpipe::processors::analytics {

using base::Result;
using base::Status;
using O = AnalyticsOptions;

const config::OptionTable<AnalyticsOptions>& AnalyticsOptionTable() {
  static const auto* t =
      &(*new config::OptionTable<AnalyticsOptions>("processors.<name> (analytics)"))
           .String("topic", &O::topic, "Input topic (required)")
           .String("schema", &O::schema, "Schema: built-in name (finance, cars) or a .toml path")
           .String("group", &O::group, "Consumer group (default processor-<name>)")
           .StringList("windows", &O::windows, "Tumbling event-time window sizes")
           .DurationMs("allowed_lateness", &O::allowed_lateness_ms,
                       "Watermark = max event time seen (per partition) - this")
           .Enum("late_policy", &O::late_policy, {"update", "drop"},
                 "update: a late event re-emits its window corrected; drop: counted, dropped")
           .DurationMs("late_horizon", &O::late_horizon_ms,
                       "Windows stay updatable this long after their end (event time)")
           .DurationMs("idle_timeout", &O::idle_timeout_ms,
                       "A partition quiet this long (processing time) stops holding the "
                       "watermark; when all are quiet it advances with the clock",
                       1, 1)
           .String("dedup_field", &O::dedup_field,
                   "Field whose repeats within dedup_horizon count once (\"\" = no dedup)")
           .DurationMs("dedup_horizon", &O::dedup_horizon_ms, "How long ids are remembered (event time)")
           .Integer("dedup_max_entries", &O::dedup_max_entries,
                    "Cap on remembered ids (~16 bytes each); the oldest go first, counted",
                    uint64_t{1000})
           .String("currency_field", &O::currency_field,
                   "Enum field naming the currency of float measures (\"\" = no USD conversion)")
           .String("windows_topic", &O::windows_topic, "Window results (default <topic>.windows)")
           .String("alerts_topic", &O::alerts_topic, "Alert events")
           .String("dlq_topic", &O::dlq_topic, "Rejected events (default <topic>.dlq)")
           .Integer("workers", &O::workers, "Parse threads (0 = min(partitions, cores))", 0, 64)
           .DurationMs("checkpoint_interval", &O::checkpoint_interval_ms,
                       "Window state, dedup set and input offsets are saved together this often",
                       1, 10)
           .String("checkpoint_dir", &O::checkpoint_dir,
                   "Checkpoint folder (default processors/<name>, under data_dir)");
  return *t;
}

std::string DescribeAnalyticsOptions() {
  return AnalyticsOptionTable().Describe() +
         "  rates                      table      default {USD=1.0, EUR=1.08, GBP=1.27, JPY=0.0067} "
         "USD per unit of each currency\n"
         "  bands                      table      default {customer_age=[18,26,36,46,56,66]} "
         "field -> lower edges of bands\n"
         "  ratios                     table      default {failed_ratio='transaction_status == "
         "\"failed\"'} (when the schema has it) name -> predicate\n"
         "  [[alerts]]                 tables     default none       name, rule, severity "
         "(info|warning|critical)\n";
}

Status ParseAnalyticsOptions(const config::Node& node, AnalyticsOptions* out) {
  TXP_RETURN_IF_ERROR(
      AnalyticsOptionTable().Parse(node, out, {"type", "rates", "bands", "ratios", "alerts"}));
  if (const config::Node* r = node.Get("rates")) {
    if (!r->is_table()) return r->Error("expected a table like {USD = 1.0, EUR = 1.08}");
    out->rates.clear();
    for (const auto& [k, v] : r->as_table()) {
      double d = v.is_float() ? v.as_float() : v.is_int() ? static_cast<double>(v.as_int()) : -1;
      if (!(d > 0) || !std::isfinite(d)) return v.Error("expected a positive number (USD per unit)");
      out->rates[k] = d;
    }
  }
  if (const config::Node* b = node.Get("bands")) {
    if (!b->is_table()) return b->Error("expected a table like {customer_age = [18, 26, 36]}");
    out->bands.clear();
    out->bands_set = true;
    for (const auto& [k, v] : b->as_table()) {
      if (!v.is_array() || v.as_array().empty()) return v.Error("expected a list of integers");
      std::vector<int64_t> edges;
      for (const auto& e : v.as_array()) {
        if (!e.is_int()) return e.Error("expected an integer");
        if (!edges.empty() && e.as_int() <= edges.back()) return e.Error("edges must ascend");
        edges.push_back(e.as_int());
      }
      out->bands[k] = std::move(edges);
    }
  }
  if (const config::Node* q = node.Get("ratios")) {
    if (!q->is_table()) return q->Error("expected a table like {failed_ratio = '...'}");
    out->ratios.clear();
    out->ratios_set = true;
    for (const auto& [k, v] : q->as_table()) {
      if (!v.is_string()) return v.Error("expected a predicate string");
      out->ratios[k] = v.as_string();
    }
  }
  if (const config::Node* a = node.Get("alerts")) {
    if (!a->is_array()) return a->Error("expected [[...alerts]] tables");
    for (const auto& e : a->as_array()) {
      if (!e.is_table()) return e.Error("expected a table with name, rule, severity");
      AlertOptions ao;
      for (const auto& [k, v] : e.as_table()) {
        if (!v.is_string()) return v.Error("expected a string");
        if (k == "name") {
          ao.name = v.as_string();
        } else if (k == "rule") {
          ao.rule = v.as_string();
        } else if (k == "severity") {
          ao.severity = v.as_string();
          if (ao.severity != "info" && ao.severity != "warning" && ao.severity != "critical") {
            return v.Error("expected one of: info, warning, critical");
          }
        } else {
          return v.Error("unknown alert option (name, rule, severity)");
        }
      }
      if (ao.name.empty()) return e.Error("an alert needs a name");
      if (ao.rule.empty()) return e.Error("an alert needs a rule");
      out->alerts.push_back(std::move(ao));
    }
  }
  return Status::OK();
}

namespace {

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull;
}

std::string BandLabel(const std::vector<int64_t>& edges, size_t i) {
  if (i == 0) return fmt::format("<{}", edges[0]);
  if (i == edges.size()) return fmt::format("{}+", edges.back());
  return fmt::format("{}-{}", edges[i - 1], edges[i] - 1);
}

bool IsNumeric(core::FieldType t) {
  return t == core::FieldType::kInt || t == core::FieldType::kFloat;
}

}  // namespace

Result<std::shared_ptr<const Plan>> CompilePlan(const std::string& name,
                                                const AnalyticsOptions& o) {
  auto bad = [](std::string_view key, std::string what) {
    return Status::InvalidArgument(fmt::format("{}: {}", key, what));
  };
  auto plan = std::make_shared<Plan>();
  Plan& p = *plan;
  p.name = name;
  p.options = o;
  if (o.topic.empty()) return bad("topic", "required");
  if (o.schema.empty()) return bad("schema", "required (finance, cars or a .toml path)");
  auto schema = core::FindSchema(o.schema);
  if (!schema.ok()) return bad("schema", schema.status().message());
  p.schema = std::make_shared<const core::Schema>(std::move(schema).value());
  const core::Schema& s = *p.schema;
  if (s.event_time_index() < 0) return bad("schema", "the schema names no event_time field");

  // Windows, ascending, distinct.
  if (o.windows.empty()) return bad("windows", "at least one window size");
  std::vector<std::pair<int64_t, std::string>> ws;
  for (const auto& w : o.windows) {
    auto ms = config::ParseDurationMs(w);
    if (!ms.ok()) return bad("windows", fmt::format("'{}': {}", w, ms.status().message()));
    if (*ms < 1000) return bad("windows", fmt::format("'{}': windows are at least 1s", w));
    if (86'400'000 % *ms != 0 && *ms % 86'400'000 != 0) {
      return bad("windows", fmt::format("'{}' does not divide a day (windows align to UTC midnight)", w));
    }
    for (const auto& [m, n] : ws) {
      if (m == *ms) return bad("windows", fmt::format("'{}' and '{}' are the same size", n, w));
    }
    ws.emplace_back(*ms, w);
  }
  std::sort(ws.begin(), ws.end());
  for (const auto& [m, n] : ws) {
    p.windows_ms.push_back(m);
    p.window_names.push_back(n);
  }
  p.lateness_us = o.allowed_lateness_ms * 1000;
  p.late_update = o.late_policy == "update";
  p.late_horizon_us = o.late_horizon_ms * 1000;
  p.idle_timeout_us = o.idle_timeout_ms * 1000;

  if (!o.dedup_field.empty()) {
    p.dedup_field = s.FieldIndex(o.dedup_field);
    if (p.dedup_field < 0) return bad("dedup_field", fmt::format("no field '{}' in schema {}", o.dedup_field, s.name()));
    if (s.field(p.dedup_field).type != core::FieldType::kString &&
        s.field(p.dedup_field).type != core::FieldType::kInt) {
      return bad("dedup_field", "must be a string or int field");
    }
  }
  p.dedup_horizon_us = o.dedup_horizon_ms * 1000;

  if (!o.currency_field.empty()) {
    p.currency_field = s.FieldIndex(o.currency_field);
    if (p.currency_field >= 0 && s.field(p.currency_field).type != core::FieldType::kEnum) {
      return bad("currency_field", fmt::format("'{}' must be an enum field", o.currency_field));
    }
    if (p.currency_field >= 0) {
      for (const auto& v : s.field(p.currency_field).values) {
        auto it = o.rates.find(v);
        p.rate_micros.push_back(it == o.rates.end() ? 0 : std::llround(it->second * 1e6));
      }
    }
  }

  // Dimensions: the schema's, then bands, then total.
  int slot = 0;
  for (int f : s.dimensions()) {
    const core::FieldSpec& fs = s.field(f);
    Dimension d;
    d.name = fs.name;
    d.field = f;
    if (fs.type == core::FieldType::kEnum) {
      d.kind = Dimension::Kind::kEnum;
      d.labels = fs.values;
      d.slot_base = slot;
      slot += static_cast<int>(d.labels.size());
    } else if (fs.type == core::FieldType::kString) {
      d.kind = Dimension::Kind::kString;
    } else {
      return bad("schema", fmt::format("dimension '{}' must be an enum or a string", fs.name));
    }
    if (d.name == "total") return bad("schema", "a dimension may not be called 'total'");
    p.dims.push_back(std::move(d));
  }
  std::map<std::string, std::vector<int64_t>> bands = o.bands;
  if (!o.bands_set && s.FieldIndex("customer_age") >= 0 &&
      s.field(s.FieldIndex("customer_age")).type == core::FieldType::kInt) {
    bands["customer_age"] = {18, 26, 36, 46, 56, 66};
  }
  for (const auto& [field, edges] : bands) {
    int f = s.FieldIndex(field);
    if (f < 0) return bad("bands", fmt::format("no field '{}' in schema {}", field, s.name()));
    if (!IsNumeric(s.field(f).type)) return bad("bands", fmt::format("'{}' is not a number field", field));
    Dimension d;
    d.kind = Dimension::Kind::kBand;
    d.name = field + "_band";
    d.field = f;
    d.edges = edges;
    for (size_t i = 0; i <= edges.size(); ++i) d.labels.push_back(BandLabel(edges, i));
    d.slot_base = slot;
    slot += static_cast<int>(d.labels.size());
    p.dims.push_back(std::move(d));
  }
  {
    Dimension d;
    d.kind = Dimension::Kind::kTotal;
    d.name = "total";
    d.labels = {"all"};
    d.slot_base = slot;
    slot += 1;
    p.dims.push_back(std::move(d));
  }
  p.fixed_slots = slot;

  // Measures, then their USD conversions.
  for (int f : s.measures()) {
    if (!IsNumeric(s.field(f).type)) {
      return bad("schema", fmt::format("measure '{}' must be an int or float field", s.field(f).name));
    }
    p.measures.push_back({s.field(f).name, f, false});
  }
  if (p.currency_field >= 0) {
    size_t n = p.measures.size();
    for (size_t i = 0; i < n; ++i) {
      if (s.field(p.measures[i].field).type == core::FieldType::kFloat) {
        p.measures.push_back({p.measures[i].name + "_usd", p.measures[i].field, true});
      }
    }
  }
  if (p.measures.size() > 32) return bad("schema", "at most 32 measures");

  // Identifiers of per-event predicates: schema fields.
  Expr::Resolver field_resolver = [&s](std::string_view id) -> Result<IdentInfo> {
    int f = s.FieldIndex(id);
    if (f < 0) return Status::InvalidArgument(fmt::format("unknown field '{}' in schema {}", id, s.name()));
    IdentInfo info;
    info.id = f;
    switch (s.field(f).type) {
      case core::FieldType::kEnum:
        info.kind = IdentInfo::Kind::kEnum;
        info.values = s.field(f).values;
        break;
      case core::FieldType::kString:
        info.kind = IdentInfo::Kind::kString;
        break;
      default:
        info.kind = IdentInfo::Kind::kNumber;  // int, float, timestamp (µs)
    }
    return info;
  };

  std::map<std::string, std::string> ratios = o.ratios;
  if (!o.ratios_set) {
    int st = s.FieldIndex("transaction_status");
    if (st < 0) st = s.FieldIndex("status");
    if (st >= 0 && s.field(st).EnumIndex("failed") >= 0) {
      ratios["failed_ratio"] = fmt::format("{} == \"failed\"", s.field(st).name);
    }
  }
  for (const auto& [rname, text] : ratios) {
    auto e = Expr::Compile(text, field_resolver);
    if (!e.ok()) return bad(fmt::format("ratios.{}", rname), e.status().message());
    p.ratios.push_back({rname, std::move(e).value()});
  }
  if (p.ratios.size() > 32) return bad("ratios", "at most 32 ratios");

  // Window record fields.
  for (const auto& m : p.measures) {
    for (const char* agg : {"sum", "min", "max", "avg"}) p.field_names.push_back(m.name + "_" + agg);
  }
  for (const auto& r : p.ratios) p.field_names.push_back(r.name);
  // Window-field identifiers: count and the record fields (ids: 0 = count, i+1 = field i).
  Expr::Resolver window_resolver = [&p](std::string_view id) -> Result<IdentInfo> {
    IdentInfo info;
    if (id == "count") return info;
    for (size_t i = 0; i < p.field_names.size(); ++i) {
      if (p.field_names[i] == id) {
        info.id = static_cast<int>(i) + 1;
        return info;
      }
    }
    std::string all = "count";
    for (const auto& f : p.field_names) all += ", " + f;
    return Status::InvalidArgument(fmt::format("unknown window field '{}' (fields: {})", id, all));
  };

  static const std::regex kVelocity(R"(^\s*count\s+by\s+(\w+)\s*>\s*(\d+)\s+per\s+(\S+)\s*$)");
  static const std::regex kThreshold(R"(^(.*\S)\s+over\s+(\S+)(\s+by\s+(\w+))?\s*$)");
  std::vector<std::string> names;
  for (size_t i = 0; i < o.alerts.size(); ++i) {
    const AlertOptions& ao = o.alerts[i];
    std::string key = fmt::format("alerts[{}] ({})", i, ao.name);
    if (std::find(names.begin(), names.end(), ao.name) != names.end()) {
      return bad(key, "two alerts have this name");
    }
    names.push_back(ao.name);
    AlertRule r;
    r.name = ao.name;
    r.severity = ao.severity;
    r.rule = ao.rule;
    std::smatch m;
    if (std::regex_match(ao.rule, m, kVelocity)) {
      r.kind = AlertRule::Kind::kVelocity;
      r.by_field = s.FieldIndex(m[1].str());
      if (r.by_field < 0) return bad(key, fmt::format("unknown field '{}' in schema {}", m[1].str(), s.name()));
      r.threshold = std::stoll(m[2].str());
      auto per = config::ParseDurationMs(m[3].str());
      if (!per.ok() || *per < 1000) return bad(key, fmt::format("'{}' is not a duration of at least 1s", m[3].str()));
      r.per_ms = *per;
      p.velocity_alerts.push_back(static_cast<int>(p.alerts.size()));
    } else if (std::regex_match(ao.rule, m, kThreshold)) {
      r.kind = AlertRule::Kind::kThreshold;
      auto w = config::ParseDurationMs(m[2].str());
      if (!w.ok()) return bad(key, fmt::format("'{}' is not a duration", m[2].str()));
      auto it = std::find(p.windows_ms.begin(), p.windows_ms.end(), *w);
      if (it == p.windows_ms.end()) {
        return bad(key, fmt::format("window '{}' is not one of the processor's windows", m[2].str()));
      }
      r.window = static_cast<int>(it - p.windows_ms.begin());
      if (m[4].matched) {
        for (size_t d = 0; d < p.dims.size(); ++d) {
          if (p.dims[d].name == m[4].str()) r.by_dimension = static_cast<int>(d);
        }
        if (r.by_dimension < 0) return bad(key, fmt::format("unknown dimension '{}'", m[4].str()));
      }
      auto e = Expr::Compile(m[1].str(), window_resolver);
      if (!e.ok()) return bad(key, e.status().message());
      r.predicate = std::move(e).value();
      p.threshold_alerts.push_back(static_cast<int>(p.alerts.size()));
    } else {
      r.kind = AlertRule::Kind::kEvent;
      auto e = Expr::Compile(ao.rule, field_resolver);
      if (!e.ok()) return bad(key, e.status().message());
      r.predicate = std::move(e).value();
      p.event_alerts.push_back(static_cast<int>(p.alerts.size()));
    }
    p.alerts.push_back(std::move(r));
  }
  if (p.event_alerts.size() > 32) return bad("alerts", "at most 32 per-event alerts");

  p.windows_topic = o.windows_topic.empty() ? o.topic + ".windows" : o.windows_topic;
  p.dlq_topic = o.dlq_topic.empty() ? runtime::DeadLetterTopicOf(o.topic) : o.dlq_topic;
  p.alerts_topic = o.alerts_topic;
  for (const auto* t : {&p.windows_topic, &p.dlq_topic, &p.alerts_topic}) {
    if (t->empty()) return bad("alerts_topic", "empty topic name");
    if (*t == o.topic) return bad("topic", fmt::format("output topic '{}' is the input topic", *t));
  }

  // What the state depends on.
  uint64_t h = 1469598103934665603ull;
  h = Fnv(h, s.name());
  for (const auto& f : s.fields()) h = Fnv(h, f.name + ":" + std::string(core::FieldTypeName(f.type)));
  for (auto w : p.windows_ms) h = Fnv(h, std::to_string(w));
  for (const auto& d : p.dims) {
    h = Fnv(h, d.name);
    for (const auto& l : d.labels) h = Fnv(h, l);
  }
  for (const auto& m : p.measures) h = Fnv(h, m.name);
  for (const auto& r : p.ratios) h = Fnv(h, r.name + "=" + r.predicate.text());
  for (const auto& r : p.alerts) {
    if (r.kind == AlertRule::Kind::kVelocity) h = Fnv(h, r.name + "=" + r.rule);
  }
  h = Fnv(h, o.dedup_field);
  p.fingerprint = h;
  return std::shared_ptr<const Plan>(plan);
}

}  // namespace txpipe::processors::analytics
