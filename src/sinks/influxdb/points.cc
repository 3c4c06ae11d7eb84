#include "sinks/influxdb/points.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/time.h"
#include "codec/json_validator.h"
#include "codec/line_protocol.h"

namespace txpipe::sinks::influxdb {

using base::Status;
using codec::LpField;
using codec::LpTag;

namespace {

enum class Kind { kWindows, kAlerts, kRaw };

// The seed job's tags (finance_transaction_data): ids as tags.
constexpr std::string_view kSeedTags[] = {"transaction_id", "account_id", "transaction_type",
                                          "currency", "branch"};

std::string LeanMeasurement(const std::string& schema) {
  if (schema == "finance") return "finance_transactions";
  if (schema == "cars") return "car_transactions";
  return schema + "_events";
}

// FNV-1a: a stable hash (the same on every machine and run).
uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

constexpr int64_t kNsPerMs = 1'000'000;

}  // namespace

struct PointEncoder::Topic {
  Kind kind = Kind::kRaw;
  // kRaw:
  std::unique_ptr<core::Schema> schema;
  std::unique_ptr<codec::JsonValidator> validator;
  std::string measurement;           // "" = not written (per_event off)
  std::vector<bool> is_tag;          // per schema field
  core::Row row;
  std::vector<LpTag> tags;           // scratch
  std::vector<LpField> fields;       // scratch
  std::vector<std::string> strings;  // scratch (timestamps as text)
};

PointEncoder::~PointEncoder() = default;

base::Result<std::unique_ptr<PointEncoder>> PointEncoder::Create(const InfluxOptions& o) {
  std::unique_ptr<PointEncoder> e(new PointEncoder());
  for (const auto& name : o.topics) {
    auto t = std::make_unique<Topic>();
    if (name == o.alerts_topic) {
      t->kind = Kind::kAlerts;
    } else if (name.ends_with(".windows")) {
      t->kind = Kind::kWindows;
    } else if (o.per_event != "off") {
      base::Result<core::Schema> schema = Status::NotFound("");
      if (auto it = o.schemas.find(name); it != o.schemas.end()) {
        schema = core::FindSchema(it->second);
      } else {
        for (const auto& s : core::BuiltinSchemaNames()) {
          auto b = core::BuiltinSchema(s);
          if (b.ok() && b->topic() == name) {
            schema = std::move(b);
            break;
          }
        }
      }
      if (!schema.ok()) {
        return Status::InvalidArgument(fmt::format(
            "influxdb: topic '{}' holds raw events, but {}: name its schema in "
            "schemas = {{\"{}\" = \"...\"}}, or set per_event = \"off\"",
            name,
            schema.status().message().empty() ? std::string("no built-in schema is for it")
                                              : schema.status().message(),
            name));
      }
      t->schema = std::make_unique<core::Schema>(std::move(schema).value());
      t->validator = std::make_unique<codec::JsonValidator>(t->schema.get());
      const core::Schema& s = *t->schema;
      const bool seed = o.per_event == "seed" && s.name() == "finance";
      t->measurement = seed ? "finance_transaction_data" : LeanMeasurement(s.name());
      t->is_tag.assign(s.size(), false);
      if (seed) {
        for (std::string_view tag : kSeedTags) {
          if (int i = s.FieldIndex(tag); i >= 0) t->is_tag[i] = true;
        }
      } else {
        for (int i : s.dimensions()) {
          if (s.field(i).type == core::FieldType::kEnum) t->is_tag[i] = true;
        }
      }
    }
    e->topics_.emplace(name, std::move(t));
  }
  return e;
}

std::string PointEncoder::MeasurementOf(const std::string& topic) const {
  auto it = topics_.find(topic);
  if (it == topics_.end()) return "";
  switch (it->second->kind) {
    case Kind::kWindows:
      return "<stream>_windows";
    case Kind::kAlerts:
      return "alerts";
    case Kind::kRaw:
      return it->second->measurement;
  }
  return "";
}

bool PointEncoder::Append(const std::string& topic, int partition, uint64_t offset,
                          std::string_view body, std::string* out, int* lines,
                          EncodeError* error) {
  *lines = 0;
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    *error = {"unknown_topic", fmt::format("topic '{}' is not one the sink reads", topic)};
    return false;
  }
  Topic& t = *it->second;
  bool ok = true;
  switch (t.kind) {
    case Kind::kWindows:
      ok = AppendWindow(body, out, error);
      break;
    case Kind::kAlerts:
      ok = AppendAlert(body, out, error);
      break;
    case Kind::kRaw:
      if (t.measurement.empty()) return true;
      ok = AppendRaw(t, partition, offset, body, out, error);
      break;
  }
  if (ok) *lines = 1;
  return ok;
}

bool PointEncoder::AppendWindow(std::string_view body, std::string* out, EncodeError* error) {
  codec::WindowRecord w;
  codec::RecordError re;
  if (!records_.ParseWindow(body, &w, &re)) {
    *error = {re.reason, re.message};
    return false;
  }
  LpTag tags[] = {{"window", w.window}, {"dimension", w.dimension}, {"value", w.value}};
  std::vector<LpField> fields;
  fields.reserve(w.fields.size() + 1);
  fields.push_back(LpField::Int("count", w.count));
  for (const auto& [name, value] : w.fields) {
    if (value) fields.push_back(LpField::Float(name, *value));
  }
  Status s = codec::AppendPoint(out, w.stream + "_windows", tags, fields, w.start_ms * kNsPerMs);
  if (!s.ok()) {
    *error = {"not_writable", s.message()};
    return false;
  }
  return true;
}

bool PointEncoder::AppendAlert(std::string_view body, std::string* out, EncodeError* error) {
  codec::AlertRecord a;
  codec::RecordError re;
  if (!records_.ParseAlert(body, &a, &re)) {
    *error = {re.reason, re.message};
    return false;
  }
  LpTag tags[] = {{"rule", a.rule}, {"kind", a.kind}, {"severity", a.severity},
                  {"stream", a.stream}};
  const LpField fields[] = {LpField::String("id", a.id), LpField::String("key", a.key),
                            LpField::String("message", a.message),
                            LpField::String("values", a.values_json)};
  const int64_t t = a.time_ms * kNsPerMs + static_cast<int64_t>(Fnv1a(a.id) % kNsPerMs);
  Status s = codec::AppendPoint(out, "alerts", tags, fields, t);
  if (!s.ok()) {
    *error = {"not_writable", s.message()};
    return false;
  }
  return true;
}

bool PointEncoder::AppendRaw(Topic& t, int partition, uint64_t offset, std::string_view body,
                             std::string* out, EncodeError* error) {
  codec::ValidationError ve;
  if (!t.validator->Validate(body, &t.row, &ve)) {
    *error = {std::string(codec::ReasonName(ve.reason)), ve.message};
    return false;
  }
  const core::Schema& s = *t.schema;
  t.tags.clear();
  t.fields.clear();
  t.strings.clear();
  t.strings.reserve(s.size());
  for (int i = 0; i < s.size(); ++i) {
    if (i == s.event_time_index() && !t.is_tag[i]) {
      // The point's time; the seed also kept it as a string field.
      if (t.measurement != "finance_transaction_data") continue;
    }
    const core::Value& v = t.row.values[i];
    const std::string& name = s.field(i).name;
    if (v.is_null()) continue;
    if (t.is_tag[i]) {
      if (v.kind == core::Value::Kind::kString || v.kind == core::Value::Kind::kEnum) {
        t.tags.push_back({name, v.s});
      } else {
        t.strings.push_back(v.kind == core::Value::Kind::kTimestamp
                                ? base::FormatIsoTimestamp(v.i)
                                : v.kind == core::Value::Kind::kInt ? std::to_string(v.i)
                                                                    : fmt::format("{}", v.f));
        t.tags.push_back({name, t.strings.back()});
      }
      continue;
    }
    switch (v.kind) {
      case core::Value::Kind::kString:
      case core::Value::Kind::kEnum:
        t.fields.push_back(LpField::String(name, v.s));
        break;
      case core::Value::Kind::kInt:
        t.fields.push_back(LpField::Int(name, v.i));
        break;
      case core::Value::Kind::kFloat:
        t.fields.push_back(LpField::Float(name, v.f));
        break;
      case core::Value::Kind::kTimestamp:
        t.strings.push_back(base::FormatIsoTimestamp(v.i));
        t.fields.push_back(LpField::String(name, t.strings.back()));
        break;
      case core::Value::Kind::kNull:
        break;
    }
  }
  const int64_t ms = t.row.event_time_us / 1000 - (t.row.event_time_us % 1000 < 0 ? 1 : 0);
  const int64_t time_ns = ms * kNsPerMs + static_cast<int64_t>(offset % 15'625) * 64 +
                          (partition % 64);
  Status st = codec::AppendPoint(out, t.measurement, t.tags, t.fields, time_ns);
  if (!st.ok()) {
    *error = {"not_writable", st.message()};
    return false;
  }
  return true;
}

}  // namespace txpipe::sinks::influxdb
