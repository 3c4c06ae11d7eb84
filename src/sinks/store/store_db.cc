#include "sinks/store/store_db.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "sinks/store/json.h"

namespace txpipe::sinks::store {

using base::Result;
using base::Status;

namespace {

// The schema, created in one transaction. Column meanings: docs/store.md.
constexpr const char* kSchema = R"sql(
CREATE TABLE windows (
  stream     TEXT    NOT NULL,
  window_ms  INTEGER NOT NULL,
  dimension  TEXT    NOT NULL,
  start_ms   INTEGER NOT NULL,
  value      TEXT    NOT NULL,
  window     TEXT    NOT NULL,
  end_ms     INTEGER NOT NULL,
  count      INTEGER NOT NULL,
  fields     TEXT    NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (stream, window_ms, dimension, start_ms, value)
) WITHOUT ROWID;
CREATE INDEX windows_by_age ON windows (window_ms, start_ms);

CREATE TABLE alerts (
  id              TEXT    NOT NULL PRIMARY KEY,
  rule            TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  severity        TEXT    NOT NULL,
  stream          TEXT    NOT NULL,
  time_ms         INTEGER NOT NULL,
  window          TEXT    NOT NULL,
  window_start_ms INTEGER NOT NULL,
  key             TEXT    NOT NULL,
  values_json     TEXT    NOT NULL,
  message         TEXT    NOT NULL,
  updated_ms      INTEGER NOT NULL
);
CREATE INDEX alerts_by_time ON alerts (time_ms);

CREATE TABLE recent (
  seq       INTEGER PRIMARY KEY,
  topic     TEXT    NOT NULL,
  partition INTEGER NOT NULL,
  offset    INTEGER NOT NULL,
  time_ms   INTEGER NOT NULL,
  key       TEXT    NOT NULL,
  body      TEXT    NOT NULL,
  UNIQUE (topic, partition, offset)
);
CREATE INDEX recent_by_time ON recent (topic, time_ms);

CREATE TABLE streams (
  stream        TEXT    NOT NULL PRIMARY KEY,
  schema        TEXT    NOT NULL,
  topic         TEXT    NOT NULL,
  windows_topic TEXT    NOT NULL,
  windows       TEXT    NOT NULL,
  dimensions    TEXT    NOT NULL,
  fields        TEXT    NOT NULL,
  updated_ms    INTEGER NOT NULL
);

CREATE TABLE stats (
  time_ms INTEGER NOT NULL,
  name    TEXT    NOT NULL,
  labels  TEXT    NOT NULL,
  value   REAL    NOT NULL,
  PRIMARY KEY (time_ms, name, labels)
) WITHOUT ROWID;
)sql";

constexpr const char* kUpsertWindow = R"sql(
INSERT INTO windows (stream, window_ms, dimension, start_ms, value, window, end_ms, count, fields,
                     updated_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (stream, window_ms, dimension, start_ms, value) DO UPDATE SET
  window = excluded.window, end_ms = excluded.end_ms, count = excluded.count,
  fields = excluded.fields, updated_ms = excluded.updated_ms
)sql";

constexpr const char* kUpsertAlert = R"sql(
INSERT INTO alerts (id, rule, kind, severity, stream, time_ms, window, window_start_ms, key,
                    values_json, message, updated_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (id) DO UPDATE SET
  rule = excluded.rule, kind = excluded.kind, severity = excluded.severity,
  stream = excluded.stream, time_ms = excluded.time_ms, window = excluded.window,
  window_start_ms = excluded.window_start_ms, key = excluded.key,
  values_json = excluded.values_json, message = excluded.message, updated_ms = excluded.updated_ms
)sql";

constexpr const char* kPutRecent = R"sql(
INSERT OR REPLACE INTO recent (topic, partition, offset, time_ms, key, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
)sql";

constexpr const char* kTrimRecent = R"sql(
DELETE FROM recent WHERE seq IN (
  SELECT seq FROM recent WHERE topic = ?1 ORDER BY time_ms DESC, seq DESC LIMIT -1 OFFSET ?2)
)sql";

constexpr const char* kPutStream = R"sql(
INSERT OR REPLACE INTO streams (stream, schema, topic, windows_topic, windows, dimensions, fields,
                                updated_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
)sql";

constexpr const char* kPutStat = R"sql(
INSERT OR REPLACE INTO stats (time_ms, name, labels, value) VALUES (?1, ?2, ?3, ?4)
)sql";

constexpr const char* kDeleteWindows = "DELETE FROM windows WHERE window_ms = ?1 AND start_ms < ?2";
constexpr const char* kDeleteAlerts = "DELETE FROM alerts WHERE time_ms < ?1";
constexpr const char* kDeleteStats = "DELETE FROM stats WHERE time_ms < ?1";

constexpr const char* kStreams =
    "SELECT stream, schema, topic, windows_topic, windows, dimensions, fields, updated_ms "
    "FROM streams ORDER BY stream";
constexpr const char* kWindowSizes = "SELECT DISTINCT window_ms FROM windows ORDER BY window_ms";
constexpr const char* kLatestStart =
    "SELECT MAX(start_ms) FROM windows WHERE stream = ?1 AND window_ms = ?2 AND dimension = ?3";
constexpr const char* kScanCount = R"sql(
SELECT start_ms, value, count FROM windows
WHERE stream = ?1 AND window_ms = ?2 AND dimension = ?3 AND start_ms BETWEEN ?4 AND ?5
ORDER BY start_ms, value
)sql";
constexpr const char* kScanField = R"sql(
SELECT start_ms, value, json_extract(fields, ?6) FROM windows
WHERE stream = ?1 AND window_ms = ?2 AND dimension = ?3 AND start_ms BETWEEN ?4 AND ?5
ORDER BY start_ms, value
)sql";
constexpr const char* kWindows = R"sql(
SELECT stream, window, window_ms, start_ms, end_ms, dimension, value, count, fields FROM windows
WHERE stream = ?1 AND window_ms = ?2 AND dimension = ?3 AND start_ms BETWEEN ?4 AND ?5
ORDER BY start_ms, value
)sql";
constexpr const char* kAlerts = R"sql(
SELECT id, rule, kind, severity, stream, time_ms, window, window_start_ms, key, values_json, message
FROM alerts WHERE time_ms >= ?1 ORDER BY time_ms DESC, id LIMIT ?2
)sql";
constexpr const char* kRecentTopic = R"sql(
SELECT topic, partition, offset, time_ms, key, body FROM recent
WHERE topic = ?1 ORDER BY time_ms DESC, seq DESC LIMIT ?2
)sql";
constexpr const char* kRecentAll = R"sql(
SELECT topic, partition, offset, time_ms, key, body FROM recent
ORDER BY time_ms DESC, seq DESC LIMIT ?1
)sql";
constexpr const char* kRecentTopics = "SELECT DISTINCT topic FROM recent ORDER BY topic";
constexpr const char* kStatsTimes =
    "SELECT DISTINCT time_ms FROM stats ORDER BY time_ms DESC LIMIT ?1";
constexpr const char* kStatsAt =
    "SELECT name, labels, value FROM stats WHERE time_ms = ?1 ORDER BY name, labels";

// Binding helpers: SQLITE_TRANSIENT copies, so arguments may be temporaries.
int Bind(sqlite3_stmt* s, int i, std::string_view v) {
  return sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
int Bind(sqlite3_stmt* s, int i, int64_t v) { return sqlite3_bind_int64(s, i, v); }
int Bind(sqlite3_stmt* s, int i, double v) { return sqlite3_bind_double(s, i, v); }

template <typename... Args>
int BindAll([[maybe_unused]] sqlite3_stmt* s, const Args&... args) {
  [[maybe_unused]] int i = 0;
  int rc = SQLITE_OK;
  ((rc = rc == SQLITE_OK ? Bind(s, ++i, args) : rc), ...);
  return rc;
}

std::string Text(sqlite3_stmt* s, int col) {
  const unsigned char* p = sqlite3_column_text(s, col);
  int n = sqlite3_column_bytes(s, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}
int64_t Int(sqlite3_stmt* s, int col) { return sqlite3_column_int64(s, col); }

}  // namespace

Status StoreDb::Error(std::string_view what, int rc) const {
  std::string msg =
      fmt::format("store {}: {}: {}", path_, what, db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(msg));
    case SQLITE_FULL:
      return Status::ResourceExhausted(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_CANTOPEN:
      return Status::IOError(std::move(msg));
    case SQLITE_READONLY:
      return Status::NotSupported(std::move(msg));
    default:
      return Status::IOError(std::move(msg));
  }
}

Result<std::unique_ptr<StoreDb>> StoreDb::Open(const std::string& path, OpenMode mode,
                                               int64_t busy_timeout_ms) {
  const bool ro = mode == OpenMode::kReadOnly;
  std::unique_ptr<StoreDb> db(new StoreDb(path, ro));
  if (ro) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      return Status::NotFound(fmt::format("no store at {}", path));
  }
  int flags = (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, nullptr);
  if (rc != SQLITE_OK) return db->Error("open", rc);
  sqlite3_extended_result_codes(db->db_, 1);
  sqlite3_busy_timeout(db->db_, static_cast<int>(std::min<int64_t>(busy_timeout_ms, INT32_MAX)));

  // The schema version; a read-only opener sees 0 until the writer's schema
  // transaction has committed.
  int version = 0;
  {
    sqlite3_stmt* s = nullptr;
    rc = sqlite3_prepare_v2(db->db_, "PRAGMA user_version", -1, &s, nullptr);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
      version = sqlite3_column_int(s, 0);
      rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK) return db->Error("read the schema version", rc);
  }
  if (version > kSchemaVersion) {
    return Status::NotSupported(
        fmt::format("store {}: schema version {} is newer than this txpipe reads ({})", path,
                    version, kSchemaVersion));
  }
  if (ro) {
    if (version == 0) {
      return Status::Unavailable(
          fmt::format("store {} has no tables yet (is its sink starting?)", path));
    }
    return db;
  }
  // WAL lets readers run beside the writer; synchronous = FULL makes each
  // commit durable before the sink commits its consumer offsets.
  {
    sqlite3_stmt* s = nullptr;
    rc = sqlite3_prepare_v2(db->db_, "PRAGMA journal_mode = WAL", -1, &s, nullptr);
    std::string got;
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
      got = Text(s, 0);
      rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK) return db->Error("set WAL mode", rc);
    if (got != "wal") {
      return Status::IOError(fmt::format(
          "store {}: cannot use WAL mode (journal mode is '{}'; is it on a network file system?)",
          path, got));
    }
  }
  TXP_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL"));
  if (version == 0) TXP_RETURN_IF_ERROR(db->CreateSchema());
  return db;
}

StoreDb::~StoreDb() {
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  if (db_) {
    if (in_tx_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close_v2(db_);
  }
}

Status StoreDb::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return Error(std::string_view(sql).substr(0, 40), rc);
  return Status::OK();
}

Status StoreDb::CreateSchema() {
  TXP_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  // Another writer may have created it while we waited for the lock.
  int version = 0;
  {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &s, nullptr);
    if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
  }
  if (version == 0) {
    Status st = Exec(kSchema);
    if (st.ok()) st = Exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str());
    if (!st.ok()) {
      Exec("ROLLBACK").IgnoreError();
      return st;
    }
  }
  return Exec("COMMIT");
}

sqlite3_stmt* StoreDb::Prepare(const char* sql, Status* error) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    sqlite3_reset(it->second);
    sqlite3_clear_bindings(it->second);
    return it->second;
  }
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    *error = Error("prepare", rc);
    return nullptr;
  }
  cache_[sql] = s;
  return s;
}

Status StoreDb::CheckWritable() const {
  if (read_only_) return Status::NotSupported(fmt::format("store {} is open read-only", path_));
  return Status::OK();
}

template <typename... Args>
Status StoreDb::Run(const char* what, const char* sql, const Args&... args) {
  TXP_RETURN_IF_ERROR(CheckWritable());
  Status error;
  sqlite3_stmt* s = Prepare(sql, &error);
  if (!s) return error;
  int rc = BindAll(s, args...);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) {
    Status st = Error(what, rc);
    sqlite3_reset(s);
    return st;
  }
  sqlite3_reset(s);
  return Status::OK();
}

template <typename Fn, typename... Args>
Status StoreDb::Select(const char* sql, const Fn& row, const Args&... args) {
  Status error;
  sqlite3_stmt* s = Prepare(sql, &error);
  if (!s) return error;
  int rc = BindAll(s, args...);
  while (rc == SQLITE_OK || rc == SQLITE_ROW) {
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) break;
    Status st = row(s);
    if (!st.ok()) {
      sqlite3_reset(s);
      return st;
    }
  }
  if (rc != SQLITE_DONE) {
    Status st = Error("query", rc);
    sqlite3_reset(s);
    return st;
  }
  sqlite3_reset(s);
  return Status::OK();
}

Status StoreDb::Begin() {
  TXP_RETURN_IF_ERROR(CheckWritable());
  if (in_tx_) return Status::Internal("store: Begin inside a transaction");
  TXP_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  in_tx_ = true;
  return Status::OK();
}

Status StoreDb::Commit() {
  if (!in_tx_) return Status::Internal("store: Commit without Begin");
  Status s = Exec("COMMIT");
  if (!s.ok()) {
    Rollback();
    return s;
  }
  in_tx_ = false;
  return Status::OK();
}

void StoreDb::Rollback() {
  if (!in_tx_) return;
  // Fails only when SQLite already rolled back (after some I/O errors).
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  in_tx_ = false;
}

Status StoreDb::UpsertWindow(const WindowRow& r, int64_t now_ms) {
  return Run("upsert window", kUpsertWindow, std::string_view(r.stream), r.window_ms,
             std::string_view(r.dimension), r.start_ms, std::string_view(r.value),
             std::string_view(r.window), r.end_ms, r.count, std::string_view(r.fields_json),
             now_ms);
}

Status StoreDb::UpsertAlert(const AlertRow& r, int64_t now_ms) {
  return Run("upsert alert", kUpsertAlert, std::string_view(r.id), std::string_view(r.rule),
             std::string_view(r.kind), std::string_view(r.severity), std::string_view(r.stream),
             r.time_ms, std::string_view(r.window), r.window_start_ms, std::string_view(r.key),
             std::string_view(r.values_json), std::string_view(r.message), now_ms);
}

Status StoreDb::PutRecent(const RecentRow& r) {
  return Run("insert recent event", kPutRecent, std::string_view(r.topic),
             static_cast<int64_t>(r.partition), static_cast<int64_t>(r.offset), r.time_ms,
             std::string_view(r.key), std::string_view(r.body));
}

Status StoreDb::TrimRecent(const std::string& topic, int64_t keep) {
  return Run("trim recent events", kTrimRecent, std::string_view(topic), keep);
}

Status StoreDb::PutStream(const StreamRow& r) {
  return Run("write stream", kPutStream, std::string_view(r.stream), std::string_view(r.schema),
             std::string_view(r.topic), std::string_view(r.windows_topic),
             std::string_view(json::SizeObject(r.windows)),
             std::string_view(json::StringArray(r.dimensions)),
             std::string_view(json::StringArray(r.fields)), r.updated_ms);
}

Status StoreDb::PutStats(int64_t time_ms, const std::vector<StatRow>& rows) {
  for (const StatRow& r : rows) {
    TXP_RETURN_IF_ERROR(Run("insert stats", kPutStat, time_ms, std::string_view(r.name),
                            std::string_view(r.labels_json), r.value));
  }
  return Status::OK();
}

Result<int64_t> StoreDb::DeleteWindowsBefore(int64_t window_ms, int64_t start_before_ms) {
  TXP_RETURN_IF_ERROR(Run("delete old windows", kDeleteWindows, window_ms, start_before_ms));
  return static_cast<int64_t>(sqlite3_changes64(db_));
}

Result<int64_t> StoreDb::DeleteAlertsBefore(int64_t time_before_ms) {
  TXP_RETURN_IF_ERROR(Run("delete old alerts", kDeleteAlerts, time_before_ms));
  return static_cast<int64_t>(sqlite3_changes64(db_));
}

Result<int64_t> StoreDb::DeleteStatsBefore(int64_t time_before_ms) {
  TXP_RETURN_IF_ERROR(Run("delete old stats", kDeleteStats, time_before_ms));
  return static_cast<int64_t>(sqlite3_changes64(db_));
}

Result<std::vector<StreamRow>> StoreDb::Streams() {
  std::vector<StreamRow> out;
  TXP_RETURN_IF_ERROR(Select(kStreams, [&](sqlite3_stmt* s) -> Status {
    StreamRow r;
    r.stream = Text(s, 0);
    r.schema = Text(s, 1);
    r.topic = Text(s, 2);
    r.windows_topic = Text(s, 3);
    if (!json::ParseSizeObject(Text(s, 4), &r.windows) ||
        !json::ParseStringArray(Text(s, 5), &r.dimensions) ||
        !json::ParseStringArray(Text(s, 6), &r.fields)) {
      return Status::Corruption(
          fmt::format("store {}: streams row '{}' holds malformed JSON", path_, r.stream));
    }
    r.updated_ms = Int(s, 7);
    out.push_back(std::move(r));
    return Status::OK();
  }));
  return out;
}

Result<std::vector<int64_t>> StoreDb::WindowSizes() {
  std::vector<int64_t> out;
  TXP_RETURN_IF_ERROR(Select(kWindowSizes, [&](sqlite3_stmt* s) -> Status {
    out.push_back(Int(s, 0));
    return Status::OK();
  }));
  return out;
}

Result<std::optional<int64_t>> StoreDb::LatestWindowStart(const std::string& stream,
                                                          int64_t window_ms,
                                                          const std::string& dimension) {
  std::optional<int64_t> out;
  TXP_RETURN_IF_ERROR(Select(
      kLatestStart,
      [&](sqlite3_stmt* s) -> Status {
        if (sqlite3_column_type(s, 0) != SQLITE_NULL) out = Int(s, 0);
        return Status::OK();
      },
      std::string_view(stream), window_ms, std::string_view(dimension)));
  return out;
}

Status StoreDb::ScanWindows(
    const std::string& stream, int64_t window_ms, const std::string& dimension,
    const std::string& field, int64_t from_ms, int64_t to_ms,
    const std::function<void(int64_t, std::string_view, std::optional<double>)>& fn) {
  auto row = [&](sqlite3_stmt* s) -> Status {
    std::optional<double> v;
    int t = sqlite3_column_type(s, 2);
    if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) v = sqlite3_column_double(s, 2);
    const unsigned char* p = sqlite3_column_text(s, 1);
    fn(Int(s, 0),
       std::string_view(reinterpret_cast<const char*>(p),
                        static_cast<size_t>(sqlite3_column_bytes(s, 1))),
       v);
    return Status::OK();
  };
  if (field.empty()) {
    TXP_RETURN_IF_ERROR(Select(kScanCount, row, std::string_view(stream), window_ms,
                               std::string_view(dimension), from_ms, to_ms));
  } else {
    // A quoted JSON path, so any key works: $."amount_sum".
    std::string path = "$." + json::Quote(field);
    TXP_RETURN_IF_ERROR(Select(kScanField, row, std::string_view(stream), window_ms,
                               std::string_view(dimension), from_ms, to_ms,
                               std::string_view(path)));
  }
  return Status::OK();
}

Result<std::vector<WindowRow>> StoreDb::Windows(const std::string& stream, int64_t window_ms,
                                                const std::string& dimension, int64_t from_ms,
                                                int64_t to_ms) {
  std::vector<WindowRow> out;
  TXP_RETURN_IF_ERROR(Select(
      kWindows,
      [&](sqlite3_stmt* s) -> Status {
        WindowRow r;
        r.stream = Text(s, 0);
        r.window = Text(s, 1);
        r.window_ms = Int(s, 2);
        r.start_ms = Int(s, 3);
        r.end_ms = Int(s, 4);
        r.dimension = Text(s, 5);
        r.value = Text(s, 6);
        r.count = Int(s, 7);
        r.fields_json = Text(s, 8);
        out.push_back(std::move(r));
        return Status::OK();
      },
      std::string_view(stream), window_ms, std::string_view(dimension), from_ms, to_ms));
  return out;
}

Result<std::vector<AlertRow>> StoreDb::Alerts(int64_t since_ms, int64_t limit) {
  std::vector<AlertRow> out;
  TXP_RETURN_IF_ERROR(Select(
      kAlerts,
      [&](sqlite3_stmt* s) -> Status {
        AlertRow r;
        r.id = Text(s, 0);
        r.rule = Text(s, 1);
        r.kind = Text(s, 2);
        r.severity = Text(s, 3);
        r.stream = Text(s, 4);
        r.time_ms = Int(s, 5);
        r.window = Text(s, 6);
        r.window_start_ms = Int(s, 7);
        r.key = Text(s, 8);
        r.values_json = Text(s, 9);
        r.message = Text(s, 10);
        out.push_back(std::move(r));
        return Status::OK();
      },
      since_ms, limit));
  return out;
}

Result<std::vector<RecentRow>> StoreDb::Recent(const std::string& topic, int64_t limit) {
  std::vector<RecentRow> out;
  auto row = [&](sqlite3_stmt* s) -> Status {
    RecentRow r;
    r.topic = Text(s, 0);
    r.partition = static_cast<int>(Int(s, 1));
    r.offset = static_cast<uint64_t>(Int(s, 2));
    r.time_ms = Int(s, 3);
    r.key = Text(s, 4);
    r.body = Text(s, 5);
    out.push_back(std::move(r));
    return Status::OK();
  };
  if (topic.empty()) {
    TXP_RETURN_IF_ERROR(Select(kRecentAll, row, limit));
  } else {
    TXP_RETURN_IF_ERROR(Select(kRecentTopic, row, std::string_view(topic), limit));
  }
  return out;
}

Result<std::vector<std::string>> StoreDb::RecentTopics() {
  std::vector<std::string> out;
  TXP_RETURN_IF_ERROR(Select(kRecentTopics, [&](sqlite3_stmt* s) -> Status {
    out.push_back(Text(s, 0));
    return Status::OK();
  }));
  return out;
}

Result<std::vector<int64_t>> StoreDb::StatsTimes(int64_t limit) {
  std::vector<int64_t> out;
  TXP_RETURN_IF_ERROR(Select(
      kStatsTimes,
      [&](sqlite3_stmt* s) -> Status {
        out.push_back(Int(s, 0));
        return Status::OK();
      },
      limit));
  return out;
}

Result<std::vector<StatRow>> StoreDb::StatsAt(int64_t time_ms) {
  std::vector<StatRow> out;
  TXP_RETURN_IF_ERROR(Select(
      kStatsAt,
      [&](sqlite3_stmt* s) -> Status {
        out.push_back({Text(s, 0), Text(s, 1), sqlite3_column_double(s, 2)});
        return Status::OK();
      },
      time_ms));
  return out;
}

Result<int64_t> StoreDb::CountRows(std::string_view table) {
  const char* sql = table == "windows"   ? "SELECT COUNT(*) FROM windows"
                    : table == "alerts"  ? "SELECT COUNT(*) FROM alerts"
                    : table == "recent"  ? "SELECT COUNT(*) FROM recent"
                    : table == "streams" ? "SELECT COUNT(*) FROM streams"
                    : table == "stats"   ? "SELECT COUNT(*) FROM stats"
                                         : nullptr;
  if (!sql) return Status::InvalidArgument(fmt::format("store: no table '{}'", table));
  int64_t n = 0;
  TXP_RETURN_IF_ERROR(Select(sql, [&](sqlite3_stmt* s) -> Status {
    n = Int(s, 0);
    return Status::OK();
  }));
  return n;
}

}  // namespace txpipe::sinks::store
