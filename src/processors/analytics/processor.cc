#include "processors/analytics/processor.h"

#include <fmt/format.h>

#include <pthread.h>

#include <algorithm>
#include <cstdint>

#include "base/logging.h"
#include "io/env.h"

namespace txpipe::processors::analytics {

using base::Result;
using base::Status;

namespace {
constexpr int64_t kPollTimeoutMs = 100;
constexpr size_t kQueuedBatchesPerWorker = 4;
constexpr size_t kMaxPollBytes = 1 << 20;
}  // namespace

// Window and alert records -> their topics.
class AnalyticsProcessor::ProducerOutput : public Output {
 public:
  ProducerOutput(std::unique_ptr<runtime::Producer> windows,
                 std::unique_ptr<runtime::Producer> alerts, base::Clock* clock)
      : windows_(std::move(windows)), alerts_(std::move(alerts)), clock_(clock) {}

  void Window(std::string_view key, std::string_view body) override { Add(windows_.get(), key, body); }
  void Alert(std::string_view key, std::string_view body) override { Add(alerts_.get(), key, body); }

  // The first error of an Add since the last Flush (Output has no error path).
  Status Flush() {
    Status s = error_;
    error_ = Status::OK();
    TXP_RETURN_IF_ERROR(s);
    if (windows_->pending()) TXP_RETURN_IF_ERROR(windows_->Flush());
    if (alerts_->pending()) TXP_RETURN_IF_ERROR(alerts_->Flush());
    return Status::OK();
  }
  bool pending() const { return windows_->pending() || alerts_->pending(); }

 private:
  void Add(runtime::Producer* p, std::string_view key, std::string_view body) {
    core::EventView ev;
    ev.timestamp_ms = clock_->NowMicros() / 1000;
    ev.key = key;
    ev.body = body;
    Status s = p->Add(ev);
    if (!s.ok() && error_.ok()) error_ = s;
  }

  std::unique_ptr<runtime::Producer> windows_, alerts_;
  base::Clock* clock_;
  Status error_;
};

struct AnalyticsProcessor::Worker {
  int index = 0;
  std::vector<int> partitions;
  std::unique_ptr<runtime::Consumer> consumer;
  std::unique_ptr<EventParser> parser;
  std::thread thread;
  std::mutex commit_mu;
  std::map<runtime::TopicPartition, uint64_t> commit;  // offsets to commit, set by the engine thread
};

AnalyticsProcessor::AnalyticsProcessor(std::shared_ptr<const Plan> plan, runtime::Context context)
    : plan_(std::move(plan)), ctx_(std::move(context)) {
  const auto& o = plan_->options;
  group_ = o.group.empty() ? "processor-" + ctx_.name : o.group;
  std::string dir = o.checkpoint_dir.empty() ? "processors/" + ctx_.name : o.checkpoint_dir;
  checkpoint_path_ = ctx_.Resolve(dir) + "/checkpoint";
  runtime::Metrics* mx = ctx_.metrics;
  read_latency_ = mx ? mx->histogram("txpipe_processor_read_latency_seconds",
                                     "Age of the oldest event of each batch the processor reads "
                                     "(from append to read)",
                                     runtime::LatencyBuckets(), {{"processor", ctx_.name}})
                     : &no_metrics_latency_;
  if (mx) {
    runtime::Labels l = {{"processor", ctx_.name}};
    auto c = [&](const char* name, const char* help, runtime::Labels extra = {}) {
      runtime::Labels all = l;
      all.insert(all.end(), extra.begin(), extra.end());
      return mx->counter(name, help, all);
    };
    m_.events_in = c("txpipe_processor_events_total", "Events the processor read (valid or not)");
    m_.duplicates = c("txpipe_processor_duplicates_total", "Events dropped as repeats of an id within the dedup horizon");
    const char* late_help = "Late events per window size, by what was done with them";
    m_.late_updated = c("txpipe_processor_late_total", late_help, {{"action", "updated"}});
    m_.late_dropped = c("txpipe_processor_late_total", late_help, {{"action", "dropped"}});
    m_.too_late = c("txpipe_processor_late_total", late_help, {{"action", "too_late"}});
    m_.windows = c("txpipe_processor_windows_emitted_total", "Window records written (re-emits included)");
    m_.alerts = c("txpipe_processor_alerts_total", "Alert records written");
    m_.dedup_evicted = c("txpipe_processor_dedup_evicted_total", "Ids forgotten early to stay under dedup_max_entries");
    m_.checkpoints = c("txpipe_processor_checkpoints_total", "Checkpoints written");
    m_.watermark_lag_ms = mx->gauge("txpipe_processor_watermark_lag_ms", "Processing time minus the watermark", l);
    m_.open_windows = mx->gauge("txpipe_processor_open_windows", "Windows held in memory", l);
    m_.dedup_ids = mx->gauge("txpipe_processor_dedup_ids", "Ids remembered for dedup", l);
    m_.checkpoint_bytes = mx->gauge("txpipe_processor_checkpoint_bytes", "Size of the last checkpoint", l);
  }
}

AnalyticsProcessor::~AnalyticsProcessor() {
  stopping_ = true;
  space_.notify_all();
  for (auto& w : workers_) {
    if (w->consumer) w->consumer->Wakeup();
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<runtime::TopicUse> AnalyticsProcessor::Topics() const {
  const Plan& p = *plan_;
  return {{p.options.topic}, {p.windows_topic}, {p.alerts_topic}, {p.dlq_topic}};
}

Status AnalyticsProcessor::Open() {
  if (opened_) return Status::OK();
  const Plan& p = *plan_;
  runtime::Broker* broker = ctx_.broker;
  auto info = broker->Describe(p.options.topic);
  if (!info.ok()) {
    return Status::NotFound(fmt::format("processor {}: input topic '{}': {}", ctx_.name,
                                        p.options.topic, info.status().message()));
  }
  for (const auto* t : {&p.windows_topic, &p.alerts_topic, &p.dlq_topic}) {
    TXP_RETURN_IF_ERROR(broker->CreateTopic(*t, ctx_.topic_partitions));
  }
  runtime::ProducerOptions po = ctx_.producer;
  auto wp = broker->NewProducer(p.windows_topic, po);
  if (!wp.ok()) return wp.status();
  auto ap = broker->NewProducer(p.alerts_topic, po);
  if (!ap.ok()) return ap.status();
  auto dp = broker->NewProducer(p.dlq_topic, po);
  if (!dp.ok()) return dp.status();
  output_ = std::make_unique<ProducerOutput>(std::move(wp).value(), std::move(ap).value(), ctx_.clock);
  dlq_ = std::move(dp).value();

  const int64_t now = ctx_.clock->MonotonicMicros();
  engine_ = std::make_unique<Engine>(plan_, output_.get(), now);
  std::vector<int32_t> parts;
  for (const auto& pi : info->partitions) parts.push_back(pi.partition);
  engine_->AssignPartitions(parts);

  // Restore the checkpoint, if any.
  TXP_RETURN_IF_ERROR(ctx_.env->CreateDirs(io::DirName(checkpoint_path_)));
  if (ctx_.env->FileExists(checkpoint_path_)) {
    auto bytes = io::ReadFileToString(ctx_.env, checkpoint_path_);
    if (!bytes.ok()) return bytes.status();
    Status s = engine_->Restore(*bytes);
    if (!s.ok()) {
      return Status(s.code(),
                    fmt::format("processor {}: cannot restore {}: {}. Move it away to start over "
                                "from the group's committed offsets with empty windows",
                                ctx_.name, checkpoint_path_, s.message()));
    }
    TXP_LOG_INFO("processor {}: restored {} ({} open windows, {} dedup ids)", ctx_.name,
                 checkpoint_path_, engine_->open_windows(), engine_->dedup_size());
  }

  // Workers: partition i goes to worker i % n.
  int n = p.options.workers;
  if (n <= 0) {
    n = std::max(1, std::min<int>(static_cast<int>(parts.size()),
                                  static_cast<int>(std::thread::hardware_concurrency())));
  }
  n = std::min<int>(n, static_cast<int>(parts.size()));
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    for (size_t k = 0; k < parts.size(); ++k) {
      if (static_cast<int>(k % n) == i) w->partitions.push_back(parts[k]);
    }
    runtime::ConsumerOptions co;
    co.partitions = w->partitions;
    // ~15,000 finance events per poll from zstd batches (~10x smaller than the
    // events): a batch the engine gets every few ms, not 60,000 at a time.
    co.max_poll_bytes = kMaxPollBytes;
    auto c = broker->NewConsumer(group_, {p.options.topic}, co);
    if (!c.ok()) return c.status();
    w->consumer = std::move(c).value();
    for (int part : w->partitions) {
      auto it = engine_->next_offsets().find(part);
      if (it != engine_->next_offsets().end()) {
        TXP_RETURN_IF_ERROR(w->consumer->Seek({p.options.topic, part}, it->second));
      }
    }
    w->parser = std::make_unique<EventParser>(plan_);
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) w->thread = std::thread([this, wp = w.get()] { WorkerLoop(wp); });
  next_checkpoint_us_ = now + p.options.checkpoint_interval_ms * 1000;
  opened_ = true;
  return Status::OK();
}

void AnalyticsProcessor::WorkerLoop(Worker* w) {
  // "parse-<n>" in top -H and perf (15 bytes at most).
  pthread_setname_np(pthread_self(), fmt::format("parse-{}", w->index).substr(0, 15).c_str());
  std::unique_ptr<ParsedBatch> batch;
  while (!stopping_.load(std::memory_order_acquire)) {
    {
      std::map<runtime::TopicPartition, uint64_t> commit;
      {
        std::lock_guard<std::mutex> l(w->commit_mu);
        commit.swap(w->commit);
      }
      if (!commit.empty()) {
        Status s = w->consumer->Commit(commit);
        if (!s.ok()) TXP_LOG_WARN("processor {}: commit: {}", ctx_.name, s.ToString());
      }
    }
    if (!batch) {
      std::lock_guard<std::mutex> l(mu_);
      if (!free_.empty()) {
        batch = std::move(free_.back());
        free_.pop_back();
      } else {
        batch = std::make_unique<ParsedBatch>();
      }
    }
    batch->Clear();
    int64_t oldest_ms = INT64_MAX;
    auto r = w->consumer->Poll(kPollTimeoutMs, [&](const runtime::Message& m) {
      oldest_ms = std::min(oldest_ms, m.event.timestamp_ms);
      w->parser->Add(m.tp->partition, m.offset, m.event, batch.get());
    });
    if (oldest_ms != INT64_MAX) {
      read_latency_->Observe(std::max<int64_t>(0, ctx_.clock->NowMicros() / 1000 - oldest_ms) / 1e3);
    }
    if (!r.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      if (worker_error_.ok()) worker_error_ = r.status();
      ready_.notify_all();
      return;
    }
    if (batch->empty()) continue;
    std::unique_lock<std::mutex> l(mu_);
    space_.wait(l, [&] {
      return stopping_.load() || queue_.size() < kQueuedBatchesPerWorker * workers_.size();
    });
    if (stopping_.load()) {
      // Close() drains: keep what was read so it is applied, not lost.
      queue_.push_back(std::move(batch));
      ready_.notify_all();
      return;
    }
    queue_.push_back(std::move(batch));
    ready_.notify_all();
  }
}

std::unique_ptr<ParsedBatch> AnalyticsProcessor::TakeBatch(int64_t timeout_ms) {
  std::unique_lock<std::mutex> l(mu_);
  if (queue_.empty() && timeout_ms > 0) {
    ready_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                    [&] { return !queue_.empty() || !worker_error_.ok(); });
  }
  if (queue_.empty()) return nullptr;
  auto b = std::move(queue_.front());
  queue_.pop_front();
  space_.notify_one();
  return b;
}

Status AnalyticsProcessor::ApplyBatch(std::unique_ptr<ParsedBatch> batch) {
  engine_->Apply(*batch, ctx_.clock->MonotonicMicros());
  for (auto& r : batch->rejected) {
    std::vector<core::HeaderView> headers;
    for (const auto& [k, v] : r.event.headers) headers.push_back({k, v});
    std::string part = std::to_string(r.partition), off = std::to_string(r.offset);
    headers.push_back({"error", codec::ReasonName(r.reason)});
    headers.push_back({"error_message", r.message});
    headers.push_back({"source_topic", plan_->options.topic});
    headers.push_back({"source_partition", part});
    headers.push_back({"source_offset", off});
    headers.push_back({"component", ctx_.name});
    core::EventView ev;
    ev.timestamp_ms = r.event.timestamp_ms;
    ev.key = r.event.key;
    ev.body = r.event.body;
    ev.headers = headers;
    TXP_RETURN_IF_ERROR(dlq_->Add(ev));
    if (ctx_.metrics) {
      std::string reason(codec::ReasonName(r.reason));
      auto it = rejected_.find(reason);
      if (it == rejected_.end()) {
        it = rejected_.emplace(reason, ctx_.metrics->counter(
                                           "txpipe_processor_rejected_total",
                                           "Events sent to the dead-letter topic, by reason",
                                           {{"processor", ctx_.name}, {"reason", reason}}))
                 .first;
      }
      it->second->Add();
    }
  }
  // Results become durable promptly (freshness); the checkpoint flushes again.
  if (output_->pending()) TXP_RETURN_IF_ERROR(output_->Flush());
  {
    std::lock_guard<std::mutex> l(mu_);
    if (free_.size() < 2 * kQueuedBatchesPerWorker * workers_.size() + 2) free_.push_back(std::move(batch));
  }
  PublishMetrics();
  return Status::OK();
}

void AnalyticsProcessor::PublishMetrics() {
  if (!ctx_.metrics) return;
  const EngineStats& s = engine_->stats();
  auto bump = [](runtime::Counter* c, uint64_t now, uint64_t& before) {
    if (now > before) c->Add(now - before);
    before = now;
  };
  bump(m_.events_in, s.events, published_.events);
  bump(m_.duplicates, s.duplicates, published_.duplicates);
  bump(m_.late_updated, s.late_updated, published_.late_updated);
  bump(m_.late_dropped, s.late_dropped, published_.late_dropped);
  bump(m_.too_late, s.too_late, published_.too_late);
  bump(m_.windows, s.windows_emitted, published_.windows_emitted);
  bump(m_.alerts, s.alerts, published_.alerts);
  bump(m_.dedup_evicted, s.dedup_evicted, published_.dedup_evicted);
  int64_t wm = engine_->watermark_us();
  if (wm > 0) m_.watermark_lag_ms->Set((ctx_.clock->NowMicros() - wm) / 1000);
  m_.open_windows->Set(static_cast<int64_t>(engine_->open_windows()));
  m_.dedup_ids->Set(static_cast<int64_t>(engine_->dedup_size()));
}

Status AnalyticsProcessor::Step(int64_t timeout_ms) {
  if (!opened_) TXP_RETURN_IF_ERROR(Open());
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!worker_error_.ok()) return worker_error_;
  }
  std::unique_ptr<ParsedBatch> b = TakeBatch(timeout_ms);
  if (b) {
    TXP_RETURN_IF_ERROR(ApplyBatch(std::move(b)));
  } else {
    engine_->Tick(ctx_.clock->MonotonicMicros());
    if (output_->pending()) TXP_RETURN_IF_ERROR(output_->Flush());
    PublishMetrics();
  }
  if (ctx_.clock->MonotonicMicros() >= next_checkpoint_us_) TXP_RETURN_IF_ERROR(Checkpoint());
  return Status::OK();
}

Status AnalyticsProcessor::Checkpoint() {
  const int64_t started = ctx_.clock->MonotonicMicros();
  TXP_RETURN_IF_ERROR(output_->Flush());
  if (dlq_->pending()) TXP_RETURN_IF_ERROR(dlq_->Flush());
  std::string snap = engine_->Snapshot();
  TXP_RETURN_IF_ERROR(io::WriteFileAtomically(ctx_.env, checkpoint_path_, snap));
  // The interval is a minimum: a checkpoint that took T waits at least 9 T
  // for the next, so checkpoints (which grow with the dedup set) never take
  // more than a tenth of the engine's time. A crash then replays more, with
  // the same results.
  const int64_t now = ctx_.clock->MonotonicMicros();
  next_checkpoint_us_ =
      now + std::max<int64_t>(plan_->options.checkpoint_interval_ms * 1000, 9 * (now - started));
  if (ctx_.metrics) {
    m_.checkpoints->Add();
    m_.checkpoint_bytes->Set(static_cast<int64_t>(snap.size()));
  }
  // The group's offsets follow the checkpoint (lag displays, retention).
  for (auto& w : workers_) {
    std::lock_guard<std::mutex> l(w->commit_mu);
    for (int part : w->partitions) {
      auto it = engine_->next_offsets().find(part);
      if (it != engine_->next_offsets().end()) w->commit[{plan_->options.topic, part}] = it->second;
    }
  }
  return Status::OK();
}

Status AnalyticsProcessor::Close() {
  if (closed_ || !opened_) return Status::OK();
  closed_ = true;
  stopping_ = true;
  space_.notify_all();
  for (auto& w : workers_) w->consumer->Wakeup();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  // Apply what the workers read before they stopped.
  while (auto b = TakeBatch(0)) TXP_RETURN_IF_ERROR(ApplyBatch(std::move(b)));
  engine_->Tick(ctx_.clock->MonotonicMicros());
  TXP_RETURN_IF_ERROR(Checkpoint());
  for (auto& w : workers_) {
    if (!w->commit.empty()) TXP_RETURN_IF_ERROR(w->consumer->Commit(w->commit));
    w->commit.clear();
  }
  PublishMetrics();
  return Status::OK();
}

Status AnalyticsProcessor::Run(const base::StopFlag& stop) {
  TXP_RETURN_IF_ERROR(Open());
  Status s;
  while (!stop.requested()) {
    s = Step(kPollTimeoutMs);
    if (!s.ok()) break;
  }
  Status c = Close();
  if (!s.ok()) {
    TXP_LOG_ERROR("processor {}: {}", ctx_.name, s.ToString());
    return s;
  }
  return c;
}

}  // namespace txpipe::processors::analytics
