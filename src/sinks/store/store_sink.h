// StoreSink: the embedded store (docs/store.md). Reads the processor's window
// and alert topics, and raw topics for their newest events, as a consumer
// group into a SQLite file (StoreDb) that the query layer reads.
//
// Guarantees:
//  - Effectively once: each poll's records are written in one SQLite
//    transaction, durable at commit (WAL, synchronous = FULL); only then are
//    the consumer offsets committed. After a crash the records since the
//    last offset commit are read again and upserted by key (windows by
//    (stream, window_ms, dimension, start_ms, value), alerts by id, recent
//    events by (topic, partition, offset)): the same rows, not doubles.
//  - A record that cannot be stored (not JSON, a missing or mistyped key) is
//    counted in txpipe_store_rejected_total{reason}, logged once per reason
//    with its topic and offset, and skipped; it never stops the sink.
//  - A write error (disk full, the database locked past busy_timeout) rolls
//    the transaction back and re-reads the same records after a capped
//    exponential backoff.
//  - Raw topics are read by a second consumer of the same group every
//    recent_interval: it skips to recent_rows before each partition's end,
//    so their cost does not grow with their rate, and only the newest
//    recent_rows events per topic are kept.
//  - Readers (StoreDb kReadOnly) see whole batches only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/component.h"
#include "sinks/store/options.h"
#include "sinks/store/records.h"
#include "sinks/store/store_db.h"

namespace txpipe::sinks::store {

class StoreSink : public runtime::Component {
 public:
  StoreSink(StoreOptions options, runtime::Context context);
  ~StoreSink() override;

  // Open(), then PollOnce() until `stop`, then Close(). Write errors are
  // retried with capped backoff; returns an error only when the sink cannot
  // start or close.
  base::Status Run(const base::StopFlag& stop) override;
  std::vector<runtime::TopicUse> Topics() const override;

  // The steps of Run, public so tests can drive them (and time, with a
  // FakeClock). Not thread-safe: call them from one thread.
  //
  // Validates the options, opens (creates) the database, loads the streams
  // table, creates the consumers (window and alert topics; raw topics), and
  // makes the first PollOnce refresh recent events and apply retention.
  base::Status Open() override;
  // Reads raw topics when recent_interval has passed; polls the window and
  // alert topics for up to `timeout_ms`, writes what arrived in one
  // transaction, then commits the offsets; takes a stats snapshot and applies
  // retention when they are due (by the Context clock). Returns the number
  // of records read (stored, rejected or superseded). On a write error the
  // batch is rolled back and its records will be read again.
  base::Result<size_t> PollOnce(int64_t timeout_ms);
  // Reads the raw topics now: the newest recent_rows events of each
  // partition into `recent`, in one transaction, then commits.
  base::Result<size_t> RefreshRecent();
  // Writes a stats snapshot now: every metric of Context::metrics, plus
  // txpipe_topic_events_total{topic} (the sum of the topic's end offsets)
  // and txpipe_group_lag{group,topic} from the broker.
  base::Status SnapshotStats();
  // Deletes windows, alerts and stats past their retention now.
  base::Status EnforceRetention();
  // Commits pending offsets and closes the database. Idempotent.
  base::Status Close();

  // After Open(): the database file and the consumer group.
  const std::string& db_path() const { return db_path_; }
  const std::string& group() const { return group_; }

 private:
  // The newest events of one raw partition read in a refresh, at most
  // recent_rows (a ring whose strings keep their capacity between refreshes).
  struct Ring {
    std::vector<RecentRow> slots;
    size_t next = 0;
    size_t size = 0;
  };
  struct PendingStream {
    StreamRow row;
    bool changed = false;
  };

  void OnMessage(const runtime::Message& m);
  void OnWindow(const runtime::Message& m);
  void OnAlert(const runtime::Message& m);
  void OnRaw(const runtime::Message& m);
  base::Status WriteRecent();
  void Reject(const runtime::Message& m, const RecordError& e);
  void MergeStream(const WindowRecord& r, const std::string& windows_topic);
  base::Status WriteBatch();
  // Begin, `body`, Commit (Rollback on any error), and the batch/commit
  // metrics: the one way the sink writes.
  base::Status Transact(const std::function<base::Status()>& body);
  void DiscardBatch();
  base::Status CommitOffsets();
  // Seeks raw partitions that are more than recent_rows behind their end;
  // returns the ends seen.
  std::map<runtime::TopicPartition, uint64_t> SkipAheadRaw();
  int64_t NowMs() const;

  StoreOptions options_;
  runtime::Context ctx_;
  std::unique_ptr<runtime::Metrics> own_metrics_;
  std::string db_path_;
  std::string group_;
  std::unique_ptr<StoreDb> db_;
  // Window and alert topics; nullptr when there are none.
  std::unique_ptr<runtime::Consumer> consumer_;
  // Raw topics, same group; nullptr when there are none.
  std::unique_ptr<runtime::Consumer> raw_consumer_;
  const base::StopFlag* stop_ = nullptr;  // Run's, for waits
  RecordParser parser_;
  bool opened_ = false;
  bool closed_ = false;

  // The streams table as committed, and this batch's changes to it.
  std::map<std::string, StreamRow> streams_;
  std::map<std::string, PendingStream> pending_streams_;
  // This batch.
  std::vector<WindowRow> windows_;
  std::vector<AlertRow> alerts_;
  // Raw events being read, per partition (each keeps its newest
  // recent_rows; the table keeps the newest of their union per topic).
  std::map<runtime::TopicPartition, Ring> recent_;
  std::map<runtime::TopicPartition, uint64_t> batch_next_;
  size_t batch_records_ = 0;
  // Offsets written to the store and not yet committed to the group.
  std::map<runtime::TopicPartition, uint64_t> pending_commits_;

  int64_t next_recent_us_ = 0;     // monotonic
  int64_t next_stats_us_ = 0;      // monotonic
  int64_t next_retention_us_ = 0;  // monotonic
  int64_t backoff_until_us_ = 0;
  int64_t backoff_ms_ = 0;
  std::set<std::string> logged_reasons_;

  runtime::Counter* records_total_ = nullptr;
  runtime::Counter* windows_total_ = nullptr;
  runtime::Counter* alerts_total_ = nullptr;
  runtime::Counter* recent_total_ = nullptr;
  runtime::Counter* expired_total_ = nullptr;
  runtime::Counter* recent_skipped_total_ = nullptr;
  runtime::Counter* batches_total_ = nullptr;
  runtime::Counter* commit_us_total_ = nullptr;
  runtime::Gauge* commit_latency_us_ = nullptr;
  runtime::Counter* write_errors_total_ = nullptr;
  runtime::Counter* offset_commit_errors_total_ = nullptr;
  runtime::Counter* retention_deleted_total_ = nullptr;
  runtime::Counter* stats_snapshots_total_ = nullptr;
};

}  // namespace txpipe::sinks::store
