// InfluxSink: writes the processor's windows and alerts, and raw events, to
// InfluxDB (1.x, 2.x, Cloud) or VictoriaMetrics as line protocol
// (docs/influxdb.md). Reads its topics as a consumer group and commits a
// batch's offsets only after InfluxDB answered 2xx for it, so nothing is lost
// while InfluxDB is down: the group stops advancing and the log keeps the
// data. Points have deterministic series and timestamps (points.h), so what
// is sent again after a crash or a retry overwrites itself.
//
// Two threads: the Run thread polls, encodes the next batch and commits; a
// sender thread has one request in flight at a time. A batch goes out at
// batch_max_lines lines or batch_timeout after its first line. Answers:
// 2xx written; 408/429/5xx-but-501/no answer retried with capped backoff
// (Retry-After honoured); 413 split in halves; 400 split in halves down to
// the lines InfluxDB refuses, which go to `<topic>.dlq` with its message
// (the others are written); 401/403 and other refusals stop sending (the
// data waits in the log; logged, and txpipe_influxdb_up = 0) and are tried
// again every minute.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/component.h"
#include "sinks/common/retry.h"
#include "sinks/influxdb/options.h"
#include "sinks/influxdb/points.h"
#include "sinks/influxdb/writer.h"

namespace txpipe::sinks::influxdb {

class InfluxSink : public runtime::Component {
 public:
  InfluxSink(InfluxOptions options, runtime::Context context);
  ~InfluxSink() override;

  // Open(), then PollOnce() until `stop`, then Close().
  base::Status Run(const base::StopFlag& stop) override;
  // Its topics and their dead-letter topics.
  std::vector<runtime::TopicUse> Topics() const override;
  // Validates, reads the credentials, resolves the topics' schemas, creates
  // the consumer and the dead-letter producers, starts the sender thread.
  base::Status Open() override;

  // The steps of Run, public for tests. PollOnce applies what the sender
  // finished (dead letters, then commits), polls for up to `timeout_ms`,
  // encodes, and hands a due batch to the sender; returns the records read.
  base::Result<size_t> PollOnce(int64_t timeout_ms);
  // Hands over the last batch if the sender's slot is free, lets the sender
  // deliver what it holds (it gives up on a batch it would have to retry:
  // that is read again at the next start), applies what finished, stops the
  // sender. Never waits for InfluxDB beyond a request in flight. Idempotent.
  base::Status Close();

  // After Open(): the consumer group.
  const std::string& group() const { return group_; }

 private:
  struct Line {
    uint32_t begin = 0, end = 0;  // bytes in Batch::lines
    uint16_t topic = 0;           // index in topic_names_
    int partition = 0;
    uint64_t offset = 0;
  };
  struct DeadLetter {
    uint16_t topic = 0;
    int partition = 0;
    uint64_t offset = 0;
    std::string key;
    std::string body;
    std::string reason;
    std::string message;
  };
  struct Batch {
    std::string lines;
    std::string gzipped;  // `lines` compressed (gzip = true), made before the handover
    std::vector<Line> origins;
    std::vector<DeadLetter> dead;  // records that could not be encoded, then lines refused
    std::map<runtime::TopicPartition, uint64_t> next_offsets;
    int64_t first_at_us = 0;
    size_t records = 0;
    bool abandoned = false;  // not delivered (stopping): nothing to commit
  };

  bool Due(int64_t now_us) const;
  // Moves current_ to the sender's slot when it is free; compresses it first
  // (here, on the Run thread: the sender only sends).
  bool Hand();
  base::Status ApplyFinished();
  void SenderLoop();
  // Delivers origins [from, to) of `b`; false when it gave up (stopping).
  bool Deliver(Batch& b, size_t from, size_t to);
  // Waits `ms` on the sender thread; false when Close asked it to stop.
  bool SenderWait(int64_t ms);
  void Record(const WriteOutcome& o, size_t lines);
  // "sinks.NAME", as /readyz names it.
  std::string ProblemName() const { return "sinks." + ctx_.name; }

  InfluxOptions options_;
  runtime::Context ctx_;
  std::unique_ptr<runtime::Metrics> own_metrics_;
  std::string group_;
  std::unique_ptr<PointEncoder> encoder_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<runtime::Consumer> consumer_;
  std::vector<std::string> topic_names_;
  std::map<std::string, std::unique_ptr<runtime::Producer>> dlq_;  // by source topic
  bool opened_ = false;
  bool closed_ = false;
  bool database_created_ = false;

  Batch current_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Batch> slot_;     // handed over, not yet taken
  bool busy_ = false;             // the sender holds a batch
  std::deque<Batch> finished_;    // delivered or abandoned, to apply
  base::StopFlag quit_;           // Close: give up instead of waiting to retry
  std::thread sender_;
  common::Backoff backoff_;       // sender thread only
  bool last_failed_ = false;      // sender thread only: the last request was not 2xx

  runtime::Counter* points_total_ = nullptr;
  runtime::Counter* bytes_total_ = nullptr;
  runtime::Counter* retries_total_ = nullptr;
  runtime::Counter* commit_errors_total_ = nullptr;
  runtime::Gauge* up_ = nullptr;
  runtime::Gauge* last_error_ = nullptr;  // unix seconds of the last answer that was not 2xx
};

}  // namespace txpipe::sinks::influxdb
