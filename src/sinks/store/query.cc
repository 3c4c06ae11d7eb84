#include "sinks/store/query.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "base/time.h"
#include "config/node.h"
#include "sinks/store/json.h"

namespace txpipe::sinks::store {

using base::Result;
using base::Status;

namespace {

// RFC 3339 UTC with milliseconds when there are any: "2026-11-23T14:00:03.120Z".
std::string IsoMs(int64_t ms) {
  constexpr int64_t kYear10000Ms = 253'402'300'800'000;
  if (ms < 0 || ms >= kYear10000Ms) return fmt::format("{} ms", ms);
  const int64_t sec = ms / 1000 - (ms % 1000 < 0);
  std::string s = base::FormatIsoTimestamp(sec * base::kMicrosPerSecond);
  if (const int64_t frac = ms - sec * 1000; frac != 0 && !s.empty()) {
    s.insert(s.size() - 1, fmt::format(".{:03}", frac));
  }
  return s;
}

std::string Join(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, ", "));
}

// A number for people: integers as integers, others with a few decimals.
std::string Human(double v) {
  if (!std::isfinite(v)) return "-";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  if (std::fabs(v) >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.4f}", v);
}

// Renders rows under a header; columns in `right` are right-aligned.
std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right = {}) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      const bool last = i + 1 == cells.size();
      const bool r = i < right.size() && right[i];
      if (i) l += "  ";
      if (r) {
        l += fmt::format("{:>{}}", cells[i], width[i]);
      } else if (last) {
        l += cells[i];
      } else {
        l += fmt::format("{:<{}}", cells[i], width[i]);
      }
    }
    out += l + "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

// `text` when it is valid JSON (the store writes minified JSON), else a
// JSON string holding it, so the output is always valid JSON.
std::string RawOrString(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (!text.empty() && parser.parse(text.data(), text.size()).get(e) == simdjson::SUCCESS) {
    return text;
  }
  return json::Quote(text);
}

void Key(std::string* out, std::string_view key) {
  if (out->back() != '{') out->push_back(',');
  json::AppendString(out, key);
  out->push_back(':');
}
void Str(std::string* out, std::string_view key, std::string_view v) {
  Key(out, key);
  json::AppendString(out, v);
}
void Num(std::string* out, std::string_view key, double v) {
  Key(out, key);
  json::AppendNumber(out, v);
}
void Int(std::string* out, std::string_view key, int64_t v) {
  Key(out, key);
  fmt::format_to(std::back_inserter(*out), "{}", v);
}
void OptNum(std::string* out, std::string_view key, const std::optional<double>& v) {
  Key(out, key);
  if (v) {
    json::AppendNumber(out, *v);
  } else {
    out->append("null");
  }
}

std::vector<std::string> Measures(const StreamRow& s) {
  std::vector<std::string> out = {"count"};
  for (const auto& f : s.fields) {
    if (f.size() > 4 && f.ends_with("_sum")) out.push_back(f.substr(0, f.size() - 4));
  }
  for (const auto& f : s.fields) out.push_back(f);
  return out;
}

Result<int64_t> CheckLimit(int64_t limit) {
  if (limit < 1 || limit > kMaxLimit) {
    return Status::InvalidArgument(
        fmt::format("limit: must be between 1 and {}, got {}", kMaxLimit, limit));
  }
  return limit;
}

// The labels object of a stats row, as pairs.
std::map<std::string, std::string> ParseLabels(const std::string& text) {
  std::map<std::string, std::string> out;
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(text.data(), text.size()).get_object().get(o)) return out;
  for (auto [k, v] : o) {
    std::string_view s;
    if (v.get_string().get(s) == simdjson::SUCCESS) out.emplace(std::string(k), std::string(s));
  }
  return out;
}

bool IsRejectMetric(std::string_view name) {
  for (std::string_view w : {"rejected", "dead_letter", "dlq", "quarantined"}) {
    if (name.find(w) != std::string_view::npos) return true;
  }
  return false;
}

std::string FirstLabel(const std::map<std::string, std::string>& l,
                       std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    auto it = l.find(k);
    if (it != l.end()) return it->second;
  }
  return "";
}

}  // namespace

Result<int64_t> ParseQueryTime(std::string_view text, int64_t now_ms) {
  if (text.empty()) return Status::InvalidArgument("empty time");
  if (text == "now") return now_ms;
  if (text[0] == '-') {
    auto d = config::ParseDurationMs(text.substr(1), 1);
    if (!d.ok()) {
      return Status::InvalidArgument(
          fmt::format("'{}' is not a relative time like -15m (units ms, s, m, h, d)", text));
    }
    return now_ms - *d;
  }
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size()) {
      return Status::InvalidArgument(fmt::format("'{}' is out of range", text));
    }
    return v;
  }
  int64_t micros = 0;
  std::string why;
  if (!base::ParseIsoTimestamp(text, &micros, &why)) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is not a time: expected RFC 3339 (2026-11-23T14:00:00Z), epoch ms, now, or -15m "
        "({})",
        text, why));
  }
  return micros / 1000 - (micros % 1000 < 0);  // floor
}

// ------------------------------------------------------------------ streams

Result<StreamsResult> Query::Streams() {
  auto rows = db_->Streams();
  if (!rows.ok()) return rows.status();
  StreamsResult out;
  for (auto& r : *rows) {
    StreamsResult::Stream s;
    s.measures = Measures(r);
    s.row = std::move(r);
    out.streams.push_back(std::move(s));
  }
  return out;
}

std::string StreamsResult::ToJson() const {
  std::string o = "{\"streams\":[";
  for (size_t i = 0; i < streams.size(); ++i) {
    const StreamRow& r = streams[i].row;
    if (i) o += ',';
    o += '{';
    Str(&o, "stream", r.stream);
    Str(&o, "schema", r.schema);
    Str(&o, "topic", r.topic);
    Str(&o, "windows_topic", r.windows_topic);
    Key(&o, "windows");
    o += '[';
    for (size_t j = 0; j < r.windows.size(); ++j) {
      if (j) o += ',';
      o += '{';
      Str(&o, "window", r.windows[j].first);
      Int(&o, "window_ms", r.windows[j].second);
      o += '}';
    }
    o += ']';
    Key(&o, "dimensions");
    o += json::StringArray(r.dimensions);
    Key(&o, "measures");
    o += json::StringArray(streams[i].measures);
    Key(&o, "fields");
    o += json::StringArray(r.fields);
    Int(&o, "updated_ms", r.updated_ms);
    o += '}';
  }
  return o + "]}";
}

std::string StreamsResult::ToTable() const {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : streams) {
    std::vector<std::string> w;
    for (const auto& [name, ms] : s.row.windows) w.push_back(name);
    std::vector<std::string> bare;
    for (const auto& m : s.measures) {
      if (std::find(s.row.fields.begin(), s.row.fields.end(), m) == s.row.fields.end()) {
        bare.push_back(m);
      }
    }
    rows.push_back(
        {s.row.stream, s.row.schema, s.row.topic, Join(w), Join(s.row.dimensions), Join(bare)});
  }
  return Table({"stream", "schema", "topic", "windows", "dimensions", "measures"}, rows);
}

// ------------------------------------------------------------------- series

Result<SeriesResult> Query::Series(const SeriesRequest& req) {
  if (req.stream.empty()) return Status::InvalidArgument("stream: required");
  if (req.window.empty()) return Status::InvalidArgument("window: required");
  auto rows = db_->Streams();
  if (!rows.ok()) return rows.status();
  const StreamRow* s = nullptr;
  std::vector<std::string> names;
  for (const auto& r : *rows) {
    names.push_back(r.stream);
    if (r.stream == req.stream) s = &r;
  }
  if (!s) {
    return Status::InvalidArgument(
        fmt::format("stream: unknown stream '{}' ({})", req.stream,
                    names.empty() ? "the store has no streams yet" : "streams: " + Join(names)));
  }
  SeriesResult out;
  out.stream = s->stream;
  // The window: by the stream's name for it, else by its size.
  std::vector<std::string> windows;
  for (const auto& [name, ms] : s->windows) {
    windows.push_back(name);
    if (name == req.window) {
      out.window = name;
      out.window_ms = ms;
    }
  }
  if (out.window.empty()) {
    auto ms = config::ParseDurationMs(req.window, 1);
    for (const auto& [name, size] : s->windows) {
      if (ms.ok() && *ms == size) {
        out.window = name;
        out.window_ms = size;
      }
    }
  }
  if (out.window.empty()) {
    return Status::InvalidArgument(fmt::format("window: unknown window '{}' for stream '{}' ({})",
                                               req.window, s->stream, Join(windows)));
  }
  const std::string by = req.by.empty() ? "total" : req.by;
  if (std::find(s->dimensions.begin(), s->dimensions.end(), by) == s->dimensions.end()) {
    return Status::InvalidArgument(fmt::format("by: unknown dimension '{}' for stream '{}' ({})",
                                               by, s->stream, Join(s->dimensions)));
  }
  out.by = by;
  // The measure: count, a field, or a bare measure m meaning m_sum.
  const std::string measure = req.measure.empty() ? "count" : req.measure;
  std::string field;
  if (measure == "count") {
    out.measure = "count";
  } else if (std::find(s->fields.begin(), s->fields.end(), measure) != s->fields.end()) {
    out.measure = field = measure;
  } else if (std::find(s->fields.begin(), s->fields.end(), measure + "_sum") != s->fields.end()) {
    out.measure = field = measure + "_sum";
  } else {
    return Status::InvalidArgument(fmt::format("measure: unknown measure '{}' for stream '{}' ({})",
                                               measure, s->stream, Join(Measures(*s))));
  }
  // The range.
  if (req.from_ms && req.to_ms && *req.from_ms > *req.to_ms) {
    return Status::InvalidArgument(
        fmt::format("from: {} is after to ({})", IsoMs(*req.from_ms), IsoMs(*req.to_ms)));
  }
  if (req.to_ms) {
    out.to_ms = *req.to_ms;
  } else {
    auto latest = db_->LatestWindowStart(out.stream, out.window_ms, out.by);
    if (!latest.ok()) return latest.status();
    out.to_ms = latest->value_or(req.from_ms.value_or(0));
    if (req.from_ms && out.to_ms < *req.from_ms) out.to_ms = *req.from_ms;
  }
  out.from_ms = req.from_ms ? *req.from_ms
                            : std::max(out.to_ms, INT64_MIN + kDefaultSeriesRangeMs) -
                                  kDefaultSeriesRangeMs + out.window_ms;
  if ((static_cast<double>(out.to_ms) - static_cast<double>(out.from_ms)) / out.window_ms >=
      kMaxSeriesPoints) {
    return Status::InvalidArgument(fmt::format(
        "from: {} .. {} holds more than {} windows of {}; narrow the range or use a larger window",
        IsoMs(out.from_ms), IsoMs(out.to_ms), kMaxSeriesPoints, out.window));
  }
  // Rows come ordered by time, then value: collect the labels, then align.
  struct Cell {
    int64_t t;
    std::string label;
    std::optional<double> v;
  };
  std::vector<Cell> cells;
  std::set<std::string> labels;
  TXP_RETURN_IF_ERROR(
      db_->ScanWindows(out.stream, out.window_ms, out.by, field, out.from_ms, out.to_ms,
                       [&](int64_t t, std::string_view label, std::optional<double> v) {
                         cells.push_back({t, std::string(label), v});
                         if (out.times_ms.empty() || out.times_ms.back() != t)
                           out.times_ms.push_back(t);
                         labels.emplace(label);
                       }));
  out.labels.assign(labels.begin(), labels.end());
  std::map<std::string_view, size_t> column;
  for (size_t i = 0; i < out.labels.size(); ++i) column[out.labels[i]] = i;
  out.columns.assign(out.labels.size(),
                     std::vector<std::optional<double>>(out.times_ms.size(), std::nullopt));
  size_t j = 0;
  for (const Cell& c : cells) {
    while (out.times_ms[j] != c.t) ++j;
    out.columns[column[c.label]][j] = c.v;
  }
  return out;
}

std::string SeriesResult::ToJson() const {
  std::string o = "{";
  Str(&o, "stream", stream);
  Str(&o, "window", window);
  Int(&o, "window_ms", window_ms);
  Str(&o, "by", by);
  Str(&o, "measure", measure);
  Int(&o, "from_ms", from_ms);
  Int(&o, "to_ms", to_ms);
  Key(&o, "series");
  o += json::StringArray(labels);
  Key(&o, "data");
  o += "[[";
  for (size_t j = 0; j < times_ms.size(); ++j) {
    if (j) o += ',';
    json::AppendNumber(&o, static_cast<double>(times_ms[j]) / 1000.0);
  }
  o += ']';
  for (const auto& col : columns) {
    o += ",[";
    for (size_t j = 0; j < col.size(); ++j) {
      if (j) o += ',';
      if (col[j]) {
        json::AppendNumber(&o, *col[j]);
      } else {
        o += "null";
      }
    }
    o += ']';
  }
  return o + "]}";
}

std::string SeriesResult::ToTable() const {
  std::vector<std::string> header = {"time"};
  header.insert(header.end(), labels.begin(), labels.end());
  std::vector<bool> right(header.size(), true);
  right[0] = false;
  std::vector<std::vector<std::string>> rows;
  for (size_t j = 0; j < times_ms.size(); ++j) {
    std::vector<std::string> r = {IsoMs(times_ms[j])};
    for (const auto& col : columns) r.push_back(col[j] ? Human(*col[j]) : "-");
    rows.push_back(std::move(r));
  }
  return fmt::format("{}: {} per {} window, by {}\n", stream, measure, window, by) +
         Table(header, rows, right);
}

// ------------------------------------------------------------------- alerts

Result<AlertsResult> Query::Alerts(const AlertsRequest& req) {
  auto limit = CheckLimit(req.limit);
  if (!limit.ok()) return limit.status();
  auto rows = db_->Alerts(req.since_ms, *limit);
  if (!rows.ok()) return rows.status();
  AlertsResult out;
  out.alerts = std::move(rows).value();
  return out;
}

std::string AlertsResult::ToJson() const {
  std::string o = "{\"alerts\":[";
  for (size_t i = 0; i < alerts.size(); ++i) {
    const AlertRow& a = alerts[i];
    if (i) o += ',';
    o += '{';
    Str(&o, "id", a.id);
    Str(&o, "rule", a.rule);
    Str(&o, "kind", a.kind);
    Str(&o, "severity", a.severity);
    Str(&o, "stream", a.stream);
    Int(&o, "time_ms", a.time_ms);
    Str(&o, "time", IsoMs(a.time_ms));
    Str(&o, "window", a.window);
    Int(&o, "window_start_ms", a.window_start_ms);
    Str(&o, "key", a.key);
    Key(&o, "values");
    o += RawOrString(a.values_json);
    Str(&o, "message", a.message);
    o += '}';
  }
  return o + "]}";
}

std::string AlertsResult::ToTable() const {
  std::vector<std::vector<std::string>> rows;
  for (const AlertRow& a : alerts) {
    rows.push_back({IsoMs(a.time_ms), a.severity, a.rule, a.kind, a.stream, a.key, a.message});
  }
  return Table({"time", "severity", "rule", "kind", "stream", "key", "message"}, rows);
}

// ------------------------------------------------------------------- recent

Result<RecentResult> Query::Recent(const RecentRequest& req) {
  auto limit = CheckLimit(req.limit);
  if (!limit.ok()) return limit.status();
  RecentResult out;
  out.stream = req.stream;
  if (!req.stream.empty()) {
    auto streams = db_->Streams();
    if (!streams.ok()) return streams.status();
    for (const auto& s : *streams) {
      if (s.stream == req.stream && !s.topic.empty()) out.topic = s.topic;
    }
    auto topics = db_->RecentTopics();
    if (!topics.ok()) return topics.status();
    if (out.topic.empty()) {
      if (std::find(topics->begin(), topics->end(), req.stream) != topics->end()) {
        out.topic = req.stream;
      } else {
        std::vector<std::string> known;
        for (const auto& s : *streams) known.push_back(s.stream);
        for (const auto& t : *topics) {
          if (std::find(known.begin(), known.end(), t) == known.end()) known.push_back(t);
        }
        return Status::InvalidArgument(
            fmt::format("stream: unknown stream or topic '{}' ({})", req.stream,
                        known.empty() ? "the store has no recent events yet" : Join(known)));
      }
    }
  }
  auto rows = db_->Recent(out.topic, *limit);
  if (!rows.ok()) return rows.status();
  out.events = std::move(rows).value();
  return out;
}

std::string RecentResult::ToJson() const {
  std::string o = "{";
  Str(&o, "stream", stream);
  Str(&o, "topic", topic);
  Key(&o, "events");
  o += '[';
  for (size_t i = 0; i < events.size(); ++i) {
    const RecentRow& e = events[i];
    if (i) o += ',';
    o += '{';
    Str(&o, "topic", e.topic);
    Int(&o, "partition", e.partition);
    Int(&o, "offset", static_cast<int64_t>(e.offset));
    Int(&o, "time_ms", e.time_ms);
    Str(&o, "time", IsoMs(e.time_ms));
    Str(&o, "key", e.key);
    Str(&o, "body", e.body);
    o += '}';
  }
  return o + "]}";
}

std::string RecentResult::ToTable() const {
  std::vector<std::vector<std::string>> rows;
  for (const RecentRow& e : events) {
    rows.push_back(
        {IsoMs(e.time_ms), e.topic, fmt::format("{}/{}", e.partition, e.offset), e.body});
  }
  return Table({"time", "topic", "partition/offset", "body"}, rows);
}

// -------------------------------------------------------------------- stats

Result<StatsResult> Query::Stats() {
  StatsResult out;
  auto times = db_->StatsTimes(2);
  if (!times.ok()) return times.status();
  std::vector<StatRow> now, before;
  if (!times->empty()) {
    out.time_ms = (*times)[0];
    auto r = db_->StatsAt(out.time_ms);
    if (!r.ok()) return r.status();
    now = std::move(r).value();
  }
  if (times->size() >= 2) {
    out.interval_s = static_cast<double>((*times)[0] - (*times)[1]) / 1000.0;
    auto r = db_->StatsAt((*times)[1]);
    if (!r.ok()) return r.status();
    before = std::move(r).value();
  }
  std::map<std::pair<std::string, std::string>, double> prev;
  for (const auto& r : before) prev[{r.name, r.labels_json}] = r.value;
  auto rate = [&](const StatRow& r) -> std::optional<double> {
    if (out.interval_s <= 0) return std::nullopt;
    auto it = prev.find({r.name, r.labels_json});
    if (it == prev.end()) return std::nullopt;
    return (r.value - it->second) / out.interval_s;
  };
  for (const auto& r : now) {
    if (r.name == "txpipe_topic_events_total") {
      out.topics.push_back({FirstLabel(ParseLabels(r.labels_json), {"topic"}), r.value, rate(r)});
    } else if (r.name == "txpipe_group_lag" && !broker_) {
      auto l = ParseLabels(r.labels_json);
      out.lag.push_back({FirstLabel(l, {"group"}), FirstLabel(l, {"topic"}), r.value});
    } else if (IsRejectMetric(r.name)) {
      auto l = ParseLabels(r.labels_json);
      out.rejects.push_back({r.name, FirstLabel(l, {"component", "processor", "sink", "source"}),
                             FirstLabel(l, {"reason", "error"}), r.value, rate(r)});
    }
  }
  out.lag_source = "snapshot";
  if (broker_) {
    out.lag_source = "broker";
    std::map<std::string, runtime::TopicInfo> infos;
    for (const std::string& group : broker_->Groups()) {
      std::map<std::string, double> lag;
      for (const auto& [tp, committed] : broker_->GroupOffsets(group)) {
        auto it = infos.find(tp.topic);
        if (it == infos.end()) {
          auto info = broker_->Describe(tp.topic);
          if (!info.ok()) continue;
          it = infos.emplace(tp.topic, std::move(info).value()).first;
        }
        double& n = lag[tp.topic];
        for (const auto& p : it->second.partitions) {
          if (p.partition == tp.partition && p.end_offset > committed) {
            n += static_cast<double>(p.end_offset - committed);
          }
        }
      }
      for (const auto& [topic, n] : lag) out.lag.push_back({group, topic, n});
    }
  }
  return out;
}

std::string StatsResult::ToJson() const {
  std::string o = "{";
  Int(&o, "time_ms", time_ms);
  Str(&o, "time", time_ms ? IsoMs(time_ms) : "");
  Num(&o, "interval_s", interval_s);
  Key(&o, "topics");
  o += '[';
  for (size_t i = 0; i < topics.size(); ++i) {
    if (i) o += ',';
    o += '{';
    Str(&o, "topic", topics[i].topic);
    Num(&o, "events", topics[i].events);
    OptNum(&o, "rate_per_s", topics[i].rate);
    o += '}';
  }
  o += ']';
  Str(&o, "lag_source", lag_source);
  Key(&o, "lag");
  o += '[';
  for (size_t i = 0; i < lag.size(); ++i) {
    if (i) o += ',';
    o += '{';
    Str(&o, "group", lag[i].group);
    Str(&o, "topic", lag[i].topic);
    Num(&o, "lag", lag[i].lag);
    o += '}';
  }
  o += ']';
  Key(&o, "rejects");
  o += '[';
  for (size_t i = 0; i < rejects.size(); ++i) {
    if (i) o += ',';
    o += '{';
    Str(&o, "metric", rejects[i].metric);
    Str(&o, "component", rejects[i].component);
    Str(&o, "reason", rejects[i].reason);
    Num(&o, "count", rejects[i].count);
    OptNum(&o, "rate_per_s", rejects[i].rate);
    o += '}';
  }
  return o + "]}";
}

std::string StatsResult::ToTable() const {
  std::string out;
  if (time_ms == 0) {
    out += "no stats snapshots yet (the store sink writes one every stats_interval)\n";
  } else {
    out += fmt::format("snapshot {} ({} s after the one before)\n\n", IsoMs(time_ms),
                       interval_s > 0 ? Human(interval_s) : "-");
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : topics) {
    rows.push_back({t.topic, Human(t.events), t.rate ? Human(*t.rate) : "-"});
  }
  out += Table({"topic", "events", "events/s"}, rows, {false, true, true});
  rows.clear();
  for (const auto& l : lag) rows.push_back({l.group, l.topic, Human(l.lag)});
  out += fmt::format("\nconsumer lag ({})\n", lag_source == "broker" ? "live" : "at the snapshot");
  out += Table({"group", "topic", "lag"}, rows, {false, false, true});
  rows.clear();
  for (const auto& r : rejects) {
    rows.push_back({r.metric, r.component, r.reason.empty() ? "-" : r.reason, Human(r.count),
                    r.rate ? Human(*r.rate) : "-"});
  }
  out += "\nrejects\n";
  out += Table({"metric", "component", "reason", "count", "per s"}, rows,
               {false, false, false, true, true});
  return out;
}

}  // namespace txpipe::sinks::store
