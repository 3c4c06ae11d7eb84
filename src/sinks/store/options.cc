#include "sinks/store/options.h"

#include <fmt/format.h>

#include <set>

namespace txpipe::sinks::store {

using base::Status;
using O = StoreOptions;

const config::OptionTable<StoreOptions>& StoreOptionTable() {
  static const auto* t =
      &(*new config::OptionTable<StoreOptions>("store"))
           .StringList("topics", &O::topics,
                       "Topics to read (required): <x>.windows = window records, alerts_topic = "
                       "alerts, others = raw events (the newest recent_rows kept)")
           .String("group", &O::group, "Consumer group; \"\" = store-<component name>")
           .String("path", &O::path, "SQLite file, under the data dir")
           .String("alerts_topic", &O::alerts_topic, "The topic that holds alert records")
           .Integer("recent_rows", &O::recent_rows, "Events kept per raw topic", int64_t{0},
                    int64_t{10'000'000})
           .DurationMs("recent_interval", &O::recent_interval_ms,
                       "How often raw topics are read for their newest events", 1, 10)
           .DurationMap("retention", &O::retention_ms,
                        "Window retention per window size (0 = forever); replaces the default "
                        "table as a whole")
           .DurationMs("default_retention", &O::default_retention_ms,
                       "Retention of window sizes not in 'retention' (0 = forever)")
           .DurationMs("alerts_retention", &O::alerts_retention_ms,
                       "Retention of alerts, by alert time (0 = forever)")
           .DurationMs("stats_interval", &O::stats_interval_ms,
                       "How often metrics, topic sizes and group lag are snapshotted (0 = never)")
           .DurationMs("stats_retention", &O::stats_retention_ms,
                       "Retention of stats snapshots (0 = forever)")
           .DurationMs("retention_interval", &O::retention_interval_ms,
                       "How often retention deletes run", 1, 1000)
           .DurationMs("busy_timeout", &O::busy_timeout_ms,
                       "How long a write waits for SQLite's lock", 1, 1);
  return *t;
}

Status ValidateStoreOptions(const StoreOptions& o) {
  if (o.topics.empty()) return Status::InvalidArgument("store: 'topics' is required");
  std::set<std::string> seen;
  for (const auto& t : o.topics) {
    if (t.empty()) return Status::InvalidArgument("store: a topic name is empty");
    if (!seen.insert(t).second) {
      return Status::InvalidArgument(fmt::format("store: topic '{}' is listed twice", t));
    }
  }
  if (o.path.empty()) return Status::InvalidArgument("store: 'path' is empty");
  if (o.alerts_topic.empty()) return Status::InvalidArgument("store: 'alerts_topic' is empty");
  for (const auto& [window, keep] : o.retention_ms) {
    if (window <= 0) {
      return Status::InvalidArgument("store: retention: window sizes must be greater than 0");
    }
  }
  if (o.stats_interval_ms != 0 && o.stats_interval_ms < 100) {
    return Status::InvalidArgument(
        fmt::format("store: stats_interval must be 0 (off) or at least 100 ms, got {} ms",
                    o.stats_interval_ms));
  }
  if (o.stats_interval_ms != 0 && o.stats_retention_ms != 0 &&
      o.stats_retention_ms < 2 * o.stats_interval_ms) {
    return Status::InvalidArgument(
        "store: stats_retention must hold at least two snapshots (2 x stats_interval), or rates "
        "cannot be computed");
  }
  return Status::OK();
}

TopicKind KindOfTopic(const StoreOptions& o, const std::string& topic) {
  if (topic == o.alerts_topic) return TopicKind::kAlerts;
  if (topic.ends_with(".windows")) return TopicKind::kWindows;
  return TopicKind::kRaw;
}

int64_t WindowRetentionMs(const StoreOptions& o, int64_t window_ms) {
  auto it = o.retention_ms.find(window_ms);
  return it == o.retention_ms.end() ? o.default_retention_ms : it->second;
}

}  // namespace txpipe::sinks::store
