#include "processors/analytics/parser.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cmath>

#include "codec/json_writer.h"

namespace txpipe::processors::analytics {

void ParsedBatch::Clear() {
  events.clear();
  slots.clear();
  measures.clear();
  velocity.clear();
  arena.clear();
  strings.clear();
  alerts.clear();
  rejected.clear();
  next_offsets.clear();
}

uint64_t HashId(std::string_view id) {
  uint64_t h = XXH3_64bits(id.data(), id.size());
  return h == 0 ? 1 : h;
}

EventParser::EventParser(std::shared_ptr<const Plan> plan)
    : plan_(std::move(plan)), validator_(plan_->schema.get()) {}

uint32_t EventParser::AddString(ParsedBatch* b, std::string_view s) {
  b->strings.emplace_back(static_cast<uint32_t>(b->arena.size()), static_cast<uint32_t>(s.size()));
  b->arena.append(s);
  return static_cast<uint32_t>(b->strings.size() - 1);
}

namespace {

// llround without the libm call: half away from zero, |x| < 2^63 (checked by
// the caller's kMaxMeasure bound).
inline int64_t RoundToInt(double x) {
  return static_cast<int64_t>(x < 0 ? x - 0.5 : x + 0.5);
}

Operand ToOperand(const core::Value& v) {
  Operand o;
  switch (v.kind) {
    case core::Value::Kind::kNull: o.null = true; break;
    case core::Value::Kind::kString: o.text = v.s; break;
    case core::Value::Kind::kEnum: o.enum_index = static_cast<int>(v.i); o.text = v.s; break;
    case core::Value::Kind::kFloat: o.number = v.f; break;
    default: o.number = static_cast<double>(v.i);
  }
  return o;
}

void AppendValue(std::string* out, const core::Value& v) {
  switch (v.kind) {
    case core::Value::Kind::kNull: out->append("null"); break;
    case core::Value::Kind::kString:
    case core::Value::Kind::kEnum: codec::AppendJsonString(out, v.s); break;
    case core::Value::Kind::kFloat: fmt::format_to(std::back_inserter(*out), "{}", v.f); break;
    default: fmt::format_to(std::back_inserter(*out), "{}", v.i);
  }
}

// The text of a key-like value (dedup ids, velocity keys).
std::string_view KeyText(const core::Value& v, char* scratch, size_t n) {
  switch (v.kind) {
    case core::Value::Kind::kString:
    case core::Value::Kind::kEnum: return v.s;
    case core::Value::Kind::kNull: return {};
    default: {
      auto r = fmt::format_to_n(scratch, n, "{}", v.i);
      return std::string_view(scratch, r.size);
    }
  }
}

}  // namespace

std::string EventParser::ValuesJson(const AlertRule& rule, const core::Row& row) const {
  std::string out = "{";
  for (int id : rule.predicate.idents()) {
    if (out.size() > 1) out.push_back(',');
    codec::AppendJsonString(&out, plan_->schema->field(id).name);
    out.push_back(':');
    AppendValue(&out, row.values[id]);
  }
  out.push_back('}');
  return out;
}

void EventParser::Reject(int32_t partition, uint64_t offset, const core::EventView& event,
                         codec::RejectReason reason, std::string message, ParsedBatch* b) {
  RejectedEvent r;
  r.partition = partition;
  r.offset = offset;
  r.event.timestamp_ms = event.timestamp_ms;
  r.event.key = std::string(event.key);
  for (const auto& h : event.headers) r.event.headers.emplace_back(h.key, h.value);
  r.event.body = std::string(event.body);
  r.reason = reason;
  r.message = std::move(message);
  b->rejected.push_back(std::move(r));
}

void EventParser::Add(int32_t partition, uint64_t offset, const core::EventView& event,
                      ParsedBatch* b) {
  const Plan& p = *plan_;
  b->SetNextOffset(partition, offset + 1);
  if (!validator_.Validate(event.body, &row_, &error_)) {
    Reject(partition, offset, event, error_.reason, error_.message, b);
    return;
  }
  const auto& vals = row_.values;

  // Measures first: one that does not fit fixed point rejects the event.
  size_t mbase = b->measures.size();
  for (const Measure& m : p.measures) {
    const core::Value& v = vals[m.field];
    int64_t micro = kNullMeasure;
    if (v.kind == core::Value::Kind::kInt || v.kind == core::Value::Kind::kFloat) {
      double x = v.kind == core::Value::Kind::kInt ? static_cast<double>(v.i) : v.f;
      if (!(std::fabs(x) < kMaxMeasure)) {
        b->measures.resize(mbase);
        Reject(partition, offset, event, codec::RejectReason::kOutOfRange,
               fmt::format("field '{}': {} is beyond the exact range of measures (|x| < 9e12)",
                           p.schema->field(m.field).name, x),
               b);
        return;
      }
      if (!m.to_usd) {
        micro = v.kind == core::Value::Kind::kInt ? v.i * kMicro : RoundToInt(x * kMicro);
      } else {
        const core::Value& c = vals[p.currency_field];
        if (c.kind == core::Value::Kind::kEnum && p.rate_micros[c.i] != 0) {
          micro = RoundToInt(x * static_cast<double>(p.rate_micros[c.i]));
        }
      }
    }
    b->measures.push_back(micro);
  }

  ParsedEvent e;
  e.partition = partition;
  e.offset = offset;
  e.time_us = row_.event_time_us;
  e.first = static_cast<uint32_t>(b->events.size());
  char scratch[32];
  if (p.dedup_field >= 0) {
    std::string_view id = KeyText(vals[p.dedup_field], scratch, sizeof scratch);
    if (!id.empty()) e.dedup_hash = HashId(id);
  }
  auto get = [&](int id) { return ToOperand(vals[id]); };
  for (size_t i = 0; i < p.ratios.size(); ++i) {
    if (p.ratios[i].predicate.Eval(get)) e.ratio_bits |= 1u << i;
  }

  for (const Dimension& d : p.dims) {
    int32_t slot = kNoSlot;
    switch (d.kind) {
      case Dimension::Kind::kTotal:
        slot = d.slot_base;
        break;
      case Dimension::Kind::kEnum:
        if (vals[d.field].kind == core::Value::Kind::kEnum) {
          slot = d.slot_base + static_cast<int32_t>(vals[d.field].i);
        }
        break;
      case Dimension::Kind::kString:
        if (vals[d.field].kind == core::Value::Kind::kString) {
          slot = -static_cast<int32_t>(AddString(b, vals[d.field].s)) - 1;
        }
        break;
      case Dimension::Kind::kBand: {
        const core::Value& v = vals[d.field];
        if (v.kind == core::Value::Kind::kInt || v.kind == core::Value::Kind::kFloat) {
          double x = v.kind == core::Value::Kind::kInt ? static_cast<double>(v.i) : v.f;
          int band = 0;
          while (band < static_cast<int>(d.edges.size()) && x >= static_cast<double>(d.edges[band])) {
            ++band;
          }
          slot = d.slot_base + band;
        }
        break;
      }
    }
    b->slots.push_back(slot);
  }
  for (int r : p.velocity_alerts) {
    std::string_view key = KeyText(vals[p.alerts[r].by_field], scratch, sizeof scratch);
    b->velocity.push_back(key.empty() ? UINT32_MAX : AddString(b, key));
  }
  for (int r : p.event_alerts) {
    const AlertRule& rule = p.alerts[r];
    if (!rule.predicate.Eval(get)) continue;
    FiredAlert a;
    a.event = e.first;
    a.rule = r;
    std::string_view key =
        p.dedup_field >= 0 ? KeyText(vals[p.dedup_field], scratch, sizeof scratch) : std::string_view();
    a.key = key.empty() ? fmt::format("{}:{}", partition, offset) : std::string(key);
    a.values = ValuesJson(rule, row_);
    b->alerts.push_back(std::move(a));
  }
  b->events.push_back(e);
}

}  // namespace txpipe::processors::analytics
