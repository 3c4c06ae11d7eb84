// AnalyticsProcessor: the component that runs the analytics processor
// (docs/processor.md): worker threads read the input topic's partitions and
// parse events (EventParser); the component's own thread applies the parsed
// batches to the Engine in order, writes results to the windows, alerts and
// dead-letter topics, and checkpoints.
//
// Effectively once: every checkpoint_interval (and at shutdown) the output
// producers are flushed, then the Engine's state (windows, dedup ids, velocity
// counts, watermarks) and the input offsets it covers are written together in
// one file, atomically (write, fsync, rename). After a crash the processor
// restores that file and re-reads from its offsets; what it emits again has
// the same keys and values, so stores that upsert by key end up the same.
// The group's committed offsets follow the checkpoint (for lag displays).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "processors/analytics/engine.h"
#include "processors/analytics/options.h"
#include "runtime/component.h"

namespace txpipe::processors::analytics {

class AnalyticsProcessor : public runtime::Component {
 public:
  AnalyticsProcessor(std::shared_ptr<const Plan> plan, runtime::Context context);
  ~AnalyticsProcessor() override;

  // Open(), then applies batches and ticks until `stop`, then Close().
  base::Status Run(const base::StopFlag& stop) override;
  // The input topic, the windows, alerts and dead-letter topics.
  std::vector<runtime::TopicUse> Topics() const override;

  // The steps of Run, public for tests. Open restores the checkpoint and starts
  // the workers; Step applies what arrives within `timeout_ms` (or ticks) and
  // checkpoints when due; Close stops the workers, drains, checkpoints.
  base::Status Open() override;
  base::Status Step(int64_t timeout_ms);
  base::Status Close();
  // Flushes the outputs and writes a checkpoint now.
  base::Status Checkpoint();

  const Engine& engine() const { return *engine_; }
  const std::string& checkpoint_path() const { return checkpoint_path_; }
  // Events (valid or not) the engine has consumed, per partition: next offsets.
  std::map<int32_t, uint64_t> applied_offsets() const { return engine_->next_offsets(); }

 private:
  class ProducerOutput;
  struct Worker;

  void WorkerLoop(Worker* w);
  base::Status ApplyBatch(std::unique_ptr<ParsedBatch> batch);
  void PublishMetrics();
  std::unique_ptr<ParsedBatch> TakeBatch(int64_t timeout_ms);

  std::shared_ptr<const Plan> plan_;
  runtime::Context ctx_;
  std::string group_;
  std::string checkpoint_path_;
  std::unique_ptr<ProducerOutput> output_;
  std::unique_ptr<runtime::Producer> dlq_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<Worker>> workers_;
  bool opened_ = false;
  bool closed_ = false;
  int64_t next_checkpoint_us_ = 0;

  // Parsed batches, in the order workers finished them. Bounded: workers
  // wait when it is full (backpressure to the log, never memory growth).
  std::mutex mu_;
  std::condition_variable ready_;     // a batch was queued, or a worker failed
  std::condition_variable space_;     // the queue has room
  std::deque<std::unique_ptr<ParsedBatch>> queue_;
  std::vector<std::unique_ptr<ParsedBatch>> free_;  // recycled batches
  base::Status worker_error_;
  std::atomic<bool> stopping_{false};

  EngineStats published_;
  std::map<std::string, runtime::Counter*> rejected_;  // by reason
  // Age of the oldest event of each batch read (append time to read).
  runtime::Histogram* read_latency_ = nullptr;
  runtime::Histogram no_metrics_latency_{{}};  // when there is no registry
  struct {
    runtime::Counter *events_in, *duplicates, *late_updated, *late_dropped, *too_late,
        *windows, *alerts, *dedup_evicted, *checkpoints;
    runtime::Gauge *watermark_lag_ms, *open_windows, *dedup_ids, *checkpoint_bytes;
  } m_{};
};

}  // namespace txpipe::processors::analytics
