// StoreDb: the embedded store's SQLite database (docs/store.md): its schema
// and every statement the store sink and the query layer run. SQLite stays
// inside this file's .cc; callers see rows and Status.
//
// Tables (schema version 1, PRAGMA user_version):
//   windows  one row per (stream, window_ms, dimension, start_ms, value): the
//            upsert key, so a re-emitted window overwrites its row
//   alerts   one row per alert id (deterministic: re-emits overwrite)
//   recent   the last events of raw topics, unique per (topic, partition, offset)
//   streams  one row per stream: schema, topics, window sizes, dimensions, fields
//   stats    metric snapshots: (time_ms, name, labels) -> value
//
// Concurrency: the database is in WAL mode, so one writer (the store sink)
// and any number of read-only openers (`txpipe query`, the HTTP server) work
// at once, in this process or others; readers see committed transactions
// only. A StoreDb object is not thread-safe: use one per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace txpipe::sinks::store {

// The schema version this build writes and reads.
inline constexpr int kSchemaVersion = 1;

enum class OpenMode {
  kReadWrite,  // creates the file and the schema if needed (the sink)
  kReadOnly,   // SQLITE_OPEN_READONLY: queries, while a writer may be open
};

struct WindowRow {
  std::string stream;     // the processor's name ("finance")
  std::string window;     // the window size as configured ("10s")
  int64_t window_ms = 0;  // > 0
  int64_t start_ms = 0;   // window start, epoch ms
  int64_t end_ms = 0;
  std::string dimension;  // "transaction_type", or "total"
  std::string value;      // "deposit", or "all" for total
  int64_t count = 0;
  std::string fields_json = "{}";  // JSON object: {"amount_sum":301234.5,...}
};

struct AlertRow {
  std::string id;  // the upsert key
  std::string rule;
  std::string kind;      // event | threshold | velocity
  std::string severity;  // warning, critical, ...
  std::string stream;
  int64_t time_ms = 0;
  std::string window;  // "" for per-event alerts
  int64_t window_start_ms = 0;
  std::string key;
  std::string values_json = "{}";  // JSON object
  std::string message;
};

struct RecentRow {
  std::string topic;
  int partition = 0;
  uint64_t offset = 0;
  int64_t time_ms = 0;  // when the event entered txpipe (its record timestamp)
  std::string key;
  std::string body;  // the event's body as it came
};

struct StreamRow {
  std::string stream;
  std::string schema;
  std::string topic;          // the stream's raw input topic
  std::string windows_topic;  // where its window records come from
  // Window sizes: name ("10s") -> ms, ordered by ms.
  std::vector<std::pair<std::string, int64_t>> windows;
  std::vector<std::string> dimensions;  // sorted; includes "total"
  std::vector<std::string> fields;      // sorted field names of `fields` objects
  int64_t updated_ms = 0;
};

struct StatRow {
  std::string name;
  std::string labels_json = "{}";  // JSON object: {"topic":"finance"}
  double value = 0;
};

class StoreDb {
 public:
  // Opens the database at `path`. kReadOnly: NotFound when there is no file,
  // Unavailable when it has no schema yet (a sink is creating it). kReadWrite
  // creates the file (not its directory) and the schema. Both refuse a
  // schema version newer than kSchemaVersion.
  static base::Result<std::unique_ptr<StoreDb>> Open(const std::string& path, OpenMode mode,
                                                     int64_t busy_timeout_ms = 5000);
  ~StoreDb();
  StoreDb(const StoreDb&) = delete;
  StoreDb& operator=(const StoreDb&) = delete;

  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }

  // ---- writes (kReadWrite). Group them in a transaction: Begin, ..., Commit.
  // Begin takes the write lock at once (BEGIN IMMEDIATE), waiting up to the
  // busy timeout. Commit returns once the transaction is durable (WAL with
  // synchronous = FULL: the WAL is fsync'd at each commit).
  base::Status Begin();
  base::Status Commit();
  // Undoes everything since Begin. Safe to call without a transaction.
  void Rollback();

  // Inserts or overwrites the row with the same upsert key. `now_ms` is
  // stored as updated_ms.
  base::Status UpsertWindow(const WindowRow& row, int64_t now_ms);
  base::Status UpsertAlert(const AlertRow& row, int64_t now_ms);
  // Inserts an event, replacing one with the same (topic, partition, offset).
  base::Status PutRecent(const RecentRow& row);
  // Keeps the newest `keep` events of `topic` (by time_ms, then insertion).
  base::Status TrimRecent(const std::string& topic, int64_t keep);
  base::Status PutStream(const StreamRow& row);
  base::Status PutStats(int64_t time_ms, const std::vector<StatRow>& rows);

  // Retention: each returns the number of rows deleted.
  base::Result<int64_t> DeleteWindowsBefore(int64_t window_ms, int64_t start_before_ms);
  base::Result<int64_t> DeleteAlertsBefore(int64_t time_before_ms);
  base::Result<int64_t> DeleteStatsBefore(int64_t time_before_ms);

  // ---- reads
  base::Result<std::vector<StreamRow>> Streams();
  // Distinct window sizes present in `windows`, ascending.
  base::Result<std::vector<int64_t>> WindowSizes();
  // The newest start_ms of a series, or nullopt when it has no rows.
  base::Result<std::optional<int64_t>> LatestWindowStart(const std::string& stream,
                                                         int64_t window_ms,
                                                         const std::string& dimension);
  // Calls `fn(start_ms, value, measure)` for each row of the series with
  // from_ms <= start_ms <= to_ms, ordered by start_ms then value. `field`
  // names a key of `fields`, or is "" for `count`; `measure` is nullopt when
  // the row lacks the field or holds null there.
  base::Status ScanWindows(const std::string& stream, int64_t window_ms,
                           const std::string& dimension, const std::string& field, int64_t from_ms,
                           int64_t to_ms,
                           const std::function<void(int64_t start_ms, std::string_view value,
                                                    std::optional<double> measure)>& fn);
  // Full rows of a series (tests, exports), same order and bounds.
  base::Result<std::vector<WindowRow>> Windows(const std::string& stream, int64_t window_ms,
                                               const std::string& dimension, int64_t from_ms,
                                               int64_t to_ms);
  // Alerts with time_ms >= since_ms, newest first, at most `limit`.
  base::Result<std::vector<AlertRow>> Alerts(int64_t since_ms, int64_t limit);
  // Events of `topic` ("" = every topic), newest first, at most `limit`.
  base::Result<std::vector<RecentRow>> Recent(const std::string& topic, int64_t limit);
  // Topics that have rows in `recent`.
  base::Result<std::vector<std::string>> RecentTopics();
  // The newest `limit` snapshot times, newest first.
  base::Result<std::vector<int64_t>> StatsTimes(int64_t limit);
  base::Result<std::vector<StatRow>> StatsAt(int64_t time_ms);
  // Rows in a table (windows, alerts, recent, streams, stats).
  base::Result<int64_t> CountRows(std::string_view table);

 private:
  StoreDb(std::string path, bool read_only) : path_(std::move(path)), read_only_(read_only) {}
  base::Status Exec(const char* sql);
  base::Status CreateSchema();
  // A cached prepared statement, reset and ready to bind; nullptr on error
  // (then `error` says why).
  sqlite3_stmt* Prepare(const char* sql, base::Status* error);
  base::Status Error(std::string_view what, int rc) const;
  base::Status CheckWritable() const;
  // Runs a statement that returns no rows, with `args` bound to ?1, ?2, ...
  template <typename... Args>
  base::Status Run(const char* what, const char* sql, const Args&... args);
  // Runs a query and calls `row(stmt)` (returning Status) for each row.
  template <typename Fn, typename... Args>
  base::Status Select(const char* sql, const Fn& row, const Args&... args);

  std::string path_;
  bool read_only_;
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
  bool in_tx_ = false;
};

}  // namespace txpipe::sinks::store
