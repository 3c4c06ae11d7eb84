// StoreOptions: the store sink's configuration (`[sinks.NAME] type = "store"`).
// Durations are strings like "24h" (ms, s, m, h, d); a bare integer is ms.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/options.h"

namespace txpipe::sinks::store {

inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kDayMs = 24 * kHourMs;

struct StoreOptions {
  // Topics to read. Required. A topic whose name ends in ".windows" holds
  // window records, the topic `alerts_topic` holds alerts, any other topic is
  // a raw stream whose newest `recent_rows` events are kept.
  std::vector<std::string> topics;
  // Consumer group; "" = "store-<component name>".
  std::string group;
  // The SQLite file, relative to the data dir (or absolute). Default "store.db".
  std::string path = "store.db";
  // The topic that holds alert records. Default "alerts".
  std::string alerts_topic = "alerts";
  // Events kept per raw topic (newest by record time). Default 1000.
  int64_t recent_rows = 1000;
  // How often raw topics are read for their newest events. Each time the
  // sink skips to recent_rows before each partition's end, so the cost does
  // not grow with the topic's rate. Default 1 s.
  int64_t recent_interval_ms = 1'000;
  // How long windows are kept, per window size (ms -> ms; 0 = forever).
  // Default {"10s" = "24h", "1m" = "30d"}. A configured table replaces this
  // default as a whole; sizes it does not list use default_retention_ms.
  std::map<int64_t, int64_t> retention_ms = {{10'000, kDayMs}, {60'000, 30 * kDayMs}};
  // Retention of window sizes not in `retention`; 0 = forever. Default 7 days.
  int64_t default_retention_ms = 7 * kDayMs;
  // Retention of alerts, by alert time; 0 = forever. Default 30 days.
  int64_t alerts_retention_ms = 30 * kDayMs;
  // How often the process's metrics (plus topic sizes and group lag) are
  // snapshotted into the stats table; 0 = never. Default 5 s.
  int64_t stats_interval_ms = 5'000;
  // Retention of stats snapshots; 0 = forever. Default 1 hour.
  int64_t stats_retention_ms = kHourMs;
  // How often retention deletes run (also once at start). Default 1 minute.
  int64_t retention_interval_ms = 60'000;
  // How long a write waits for SQLite's lock (another writer, a checkpoint).
  // Default 5 s.
  int64_t busy_timeout_ms = 5'000;
};

const config::OptionTable<StoreOptions>& StoreOptionTable();

// Checks what the table cannot check alone. Pure: touches no file.
base::Status ValidateStoreOptions(const StoreOptions& options);

// What a topic holds, for a sink with these options.
enum class TopicKind { kWindows, kAlerts, kRaw };
TopicKind KindOfTopic(const StoreOptions& options, const std::string& topic);

// Retention of windows of `window_ms`, in ms (0 = forever).
int64_t WindowRetentionMs(const StoreOptions& options, int64_t window_ms);

}  // namespace txpipe::sinks::store
