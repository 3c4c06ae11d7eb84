#include "sinks/store/store_sink.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/logging.h"
#include "sinks/store/json.h"

namespace txpipe::sinks::store {

using base::Result;
using base::Status;
using runtime::TopicPartition;

namespace {

constexpr int64_t kPollTimeoutMs = 100;  // how often Run looks at its timers when idle
constexpr int64_t kMaxBackoffMs = 30'000;

std::string LabelsJson(const runtime::Labels& labels) {
  std::string s = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) s += ',';
    json::AppendString(&s, labels[i].first);
    s += ':';
    json::AppendString(&s, labels[i].second);
  }
  return s + "}";
}

// Inserts `v` into the sorted vector `xs`; true when it was not there.
bool InsertSorted(std::vector<std::string>* xs, std::string_view v) {
  auto it = std::lower_bound(xs->begin(), xs->end(), v);
  if (it != xs->end() && *it == v) return false;
  xs->insert(it, std::string(v));
  return true;
}

}  // namespace

StoreSink::StoreSink(StoreOptions options, runtime::Context context)
    : options_(std::move(options)), ctx_(std::move(context)) {
  ctx_.FillDefaults(&own_metrics_);
  const runtime::Labels l = {{"sink", ctx_.name}};
  auto table = [&](const char* t) { return runtime::Labels{{"sink", ctx_.name}, {"table", t}}; };
  runtime::Metrics* m = ctx_.metrics;
  const char* rows_help = "Rows upserted into the store, by table";
  records_total_ =
      m->counter("txpipe_store_records_total", "Records read from topics (stored or not)", l);
  windows_total_ = m->counter("txpipe_store_rows_total", rows_help, table("windows"));
  alerts_total_ = m->counter("txpipe_store_rows_total", rows_help, table("alerts"));
  recent_total_ = m->counter("txpipe_store_rows_total", rows_help, table("recent"));
  expired_total_ = m->counter("txpipe_store_expired_total",
                              "Window records older than their retention, not stored", l);
  recent_skipped_total_ =
      m->counter("txpipe_store_recent_skipped_total",
                 "Raw events skipped over because newer ones fill recent_rows", l);
  batches_total_ = m->counter("txpipe_store_batches_total", "Transactions committed", l);
  commit_us_total_ = m->counter("txpipe_store_commit_us_total",
                                "Microseconds spent writing batches (begin to durable commit)", l);
  commit_latency_us_ = m->gauge("txpipe_store_commit_latency_us",
                                "Microseconds the last batch took (begin to durable commit)", l);
  write_errors_total_ = m->counter("txpipe_store_write_errors_total",
                                   "Batches rolled back after an error (records read again)", l);
  offset_commit_errors_total_ = m->counter("txpipe_store_offset_commit_errors_total",
                                           "Offset commits that failed (retried)", l);
  retention_deleted_total_ =
      m->counter("txpipe_store_retention_deleted_total", "Rows deleted by retention", l);
  stats_snapshots_total_ =
      m->counter("txpipe_store_stats_snapshots_total", "Stats snapshots written", l);
}

StoreSink::~StoreSink() {
  if (db_) db_->Rollback();
}

int64_t StoreSink::NowMs() const { return ctx_.clock->NowMicros() / 1000; }

std::vector<runtime::TopicUse> StoreSink::Topics() const {
  std::vector<runtime::TopicUse> topics;
  for (const auto& t : options_.topics) topics.push_back({t});
  return topics;
}

Status StoreSink::Open() {
  if (opened_) return Status::OK();
  TXP_RETURN_IF_ERROR(ValidateStoreOptions(options_));
  if (!ctx_.broker) return Status::InvalidArgument("store: no broker in the context");
  db_path_ = ctx_.Resolve(options_.path);
  group_ = options_.group.empty()
               ? "store-" + (ctx_.name.empty() ? std::string("store") : ctx_.name)
               : options_.group;
  std::string dir = io::DirName(db_path_);
  if (!dir.empty()) TXP_RETURN_IF_ERROR(ctx_.env->CreateDirs(dir));
  auto db = StoreDb::Open(db_path_, OpenMode::kReadWrite, options_.busy_timeout_ms);
  if (!db.ok()) return db.status();
  db_ = std::move(db).value();
  auto streams = db_->Streams();
  if (!streams.ok()) return streams.status();
  streams_.clear();
  for (auto& s : *streams) streams_[s.stream] = std::move(s);

  // Two members of one group with disjoint topics: window and alert topics
  // are polled all the time, raw topics every recent_interval.
  std::vector<std::string> records, raw;
  for (const auto& t : options_.topics) {
    (KindOfTopic(options_, t) == TopicKind::kRaw ? raw : records).push_back(t);
  }
  if (!records.empty()) {
    auto c = ctx_.broker->NewConsumer(group_, records, runtime::ConsumerOptions{});
    if (!c.ok()) return c.status();
    consumer_ = std::move(c).value();
  }
  if (!raw.empty()) {
    auto c = ctx_.broker->NewConsumer(group_, raw, runtime::ConsumerOptions{});
    if (!c.ok()) return c.status();
    raw_consumer_ = std::move(c).value();
  }
  opened_ = true;
  const int64_t now_us = ctx_.clock->MonotonicMicros();
  next_recent_us_ = now_us;  // at the first poll
  next_stats_us_ = now_us + options_.stats_interval_ms * 1000;
  next_retention_us_ = now_us;
  TXP_LOG_INFO("store {}: {} ({} streams), reading {} as group {}", ctx_.name, db_path_,
               streams_.size(), fmt::join(options_.topics, ", "), group_);
  return Status::OK();
}

Status StoreSink::Run(const base::StopFlag& stop) {
  TXP_RETURN_IF_ERROR(Open());
  stop_ = &stop;
  while (!stop.requested()) {
    if (backoff_until_us_ > ctx_.clock->MonotonicMicros()) {
      if (!ctx_.clock->SleepUntil(backoff_until_us_, stop)) break;
    }
    auto r = PollOnce(kPollTimeoutMs);
    if (r.ok()) {
      backoff_ms_ = 0;
      continue;
    }
    write_errors_total_->Add();
    backoff_ms_ = backoff_ms_ == 0 ? 100 : std::min(backoff_ms_ * 2, kMaxBackoffMs);
    backoff_until_us_ = ctx_.clock->MonotonicMicros() + backoff_ms_ * 1000;
    TXP_LOG_WARN("store {}: {}; retrying in {} ms", ctx_.name, r.status().ToString(), backoff_ms_);
  }
  stop_ = nullptr;
  return Close();
}

Result<size_t> StoreSink::PollOnce(int64_t timeout_ms) {
  TXP_RETURN_IF_ERROR(Open());
  if (closed_) return Status::InvalidArgument("store: PollOnce after Close");
  size_t n = 0;
  if (raw_consumer_ && ctx_.clock->MonotonicMicros() >= next_recent_us_) {
    auto r = RefreshRecent();
    if (!r.ok()) return r.status();
    n += *r;
  }
  if (consumer_) {
    // Where each partition stands, to read the batch again if it cannot be written.
    std::map<TopicPartition, uint64_t> before;
    for (const TopicPartition& tp : consumer_->assignment()) before[tp] = consumer_->position(tp);
    DiscardBatch();
    auto polled = consumer_->Poll(timeout_ms, [this](const runtime::Message& m) { OnMessage(m); });
    Status s = polled.ok() ? Status::OK() : polled.status();
    if (s.ok() && batch_records_ > 0) s = WriteBatch();
    if (!s.ok()) {
      DiscardBatch();
      for (const auto& [tp, pos] : before) {
        if (consumer_->position(tp) != pos) consumer_->Seek(tp, pos).IgnoreError();
      }
      return s;
    }
    n += batch_records_;
    for (const auto& [tp, next] : batch_next_) pending_commits_[tp] = next;
    DiscardBatch();
    TXP_RETURN_IF_ERROR(CommitOffsets());
  } else if (timeout_ms > 0) {
    // Only raw topics: wait for the next refresh (or the timeout).
    static const base::StopFlag kNever;
    ctx_.clock->SleepUntil(
        std::min(ctx_.clock->MonotonicMicros() + timeout_ms * 1000, next_recent_us_),
        stop_ ? *stop_ : kNever);
  }

  // Housekeeping: failures are logged and retried at the next interval; they
  // do not hold up ingestion.
  const int64_t now_us = ctx_.clock->MonotonicMicros();
  if (options_.stats_interval_ms > 0 && now_us >= next_stats_us_) {
    next_stats_us_ = now_us + options_.stats_interval_ms * 1000;
    Status st = SnapshotStats();
    if (!st.ok()) TXP_LOG_WARN("store {}: stats snapshot: {}", ctx_.name, st.ToString());
  }
  if (now_us >= next_retention_us_) {
    next_retention_us_ = now_us + options_.retention_interval_ms * 1000;
    Status st = EnforceRetention();
    if (!st.ok()) TXP_LOG_WARN("store {}: retention: {}", ctx_.name, st.ToString());
  }
  return n;
}

Result<size_t> StoreSink::RefreshRecent() {
  TXP_RETURN_IF_ERROR(Open());
  if (!raw_consumer_) return size_t{0};
  next_recent_us_ = ctx_.clock->MonotonicMicros() + options_.recent_interval_ms * 1000;
  const std::map<TopicPartition, uint64_t> ends = SkipAheadRaw();
  std::map<TopicPartition, uint64_t> before;
  for (const TopicPartition& tp : raw_consumer_->assignment()) {
    before[tp] = raw_consumer_->position(tp);
  }
  auto caught_up = [&] {
    for (const auto& [tp, end] : ends) {
      if (raw_consumer_->position(tp) < end) return false;
    }
    return true;
  };
  auto rewind = [&] {
    for (auto& [tp, ring] : recent_) ring.next = ring.size = 0;
    for (const auto& [tp, pos] : before) {
      if (raw_consumer_->position(tp) != pos) raw_consumer_->Seek(tp, pos).IgnoreError();
    }
  };
  // Up to the ends seen now (at most recent_rows per partition after the
  // skip); events appended meanwhile wait for the next refresh.
  size_t n = 0;
  for (int polls = 0; polls < 64 && !caught_up(); ++polls) {
    auto r = raw_consumer_->Poll(0, [this](const runtime::Message& m) { OnRaw(m); });
    if (!r.ok()) {
      rewind();
      return r.status();
    }
    if (*r == 0) break;
    n += *r;
  }
  records_total_->Add(n);
  Status s = WriteRecent();
  if (!s.ok()) {
    rewind();
    return s;
  }
  std::map<TopicPartition, uint64_t> commit;
  for (const TopicPartition& tp : raw_consumer_->assignment()) {
    const uint64_t pos = raw_consumer_->position(tp);
    if (raw_consumer_->Committed(tp) != pos) commit[tp] = pos;
  }
  if (!commit.empty()) {
    Status c = raw_consumer_->Commit(commit);
    if (!c.ok()) {
      offset_commit_errors_total_->Add();
      TXP_LOG_WARN("store {}: committing offsets: {} (retried at the next refresh)", ctx_.name,
                   c.ToString());
    }
  }
  return n;
}

Status StoreSink::Transact(const std::function<Status()>& body) {
  const int64_t start_us = ctx_.clock->MonotonicMicros();
  TXP_RETURN_IF_ERROR(db_->Begin());
  Status s = body();
  if (s.ok()) s = db_->Commit();
  if (!s.ok()) {
    db_->Rollback();
    return s;
  }
  const int64_t took = ctx_.clock->MonotonicMicros() - start_us;
  batches_total_->Add();
  commit_us_total_->Add(static_cast<uint64_t>(std::max<int64_t>(took, 0)));
  commit_latency_us_->Set(took);
  return Status::OK();
}

Status StoreSink::WriteRecent() {
  size_t rows = 0;
  std::set<std::string> topics;
  for (const auto& [tp, ring] : recent_) {
    rows += ring.size;
    if (ring.size > 0) topics.insert(tp.topic);
  }
  if (rows == 0) return Status::OK();
  TXP_RETURN_IF_ERROR(Transact([&]() -> Status {
    for (const auto& [tp, ring] : recent_) {
      const size_t cap = ring.slots.size();
      // Oldest first, so insertion order follows the log.
      for (size_t i = 0; i < ring.size; ++i) {
        TXP_RETURN_IF_ERROR(db_->PutRecent(ring.slots[(ring.next + cap - ring.size + i) % cap]));
      }
    }
    for (const auto& topic : topics) {
      TXP_RETURN_IF_ERROR(db_->TrimRecent(topic, options_.recent_rows));
    }
    return Status::OK();
  }));
  recent_total_->Add(rows);
  for (auto& [tp, ring] : recent_) ring.next = ring.size = 0;
  return Status::OK();
}

void StoreSink::OnMessage(const runtime::Message& m) {
  ++batch_records_;
  records_total_->Add();
  batch_next_[*m.tp] = m.offset + 1;
  switch (KindOfTopic(options_, m.tp->topic)) {
    case TopicKind::kWindows:
      return OnWindow(m);
    case TopicKind::kAlerts:
      return OnAlert(m);
    case TopicKind::kRaw:
      return;  // read by raw_consumer_ only
  }
}

void StoreSink::Reject(const runtime::Message& m, const RecordError& e) {
  ctx_.metrics
      ->counter("txpipe_store_rejected_total", "Records not stored (malformed), by reason",
                {{"sink", ctx_.name}, {"reason", e.reason}})
      ->Add();
  if (logged_reasons_.insert(e.reason).second) {
    TXP_LOG_WARN(
        "store {}: {}/{} offset {}: record skipped ({}): {} (further '{}' records are only "
        "counted in txpipe_store_rejected_total)",
        ctx_.name, m.tp->topic, m.tp->partition, m.offset, e.reason, e.message, e.reason);
  }
}

void StoreSink::OnWindow(const runtime::Message& m) {
  WindowRecord r;
  RecordError e;
  if (!parser_.ParseWindow(m.event.body, &r, &e)) return Reject(m, e);
  MergeStream(r, m.tp->topic);
  const int64_t keep = WindowRetentionMs(options_, r.row.window_ms);
  if (keep > 0 && r.row.start_ms < NowMs() - keep) {
    expired_total_->Add();
    return;
  }
  windows_.push_back(std::move(r.row));
}

void StoreSink::OnAlert(const runtime::Message& m) {
  AlertRow a;
  RecordError e;
  if (!parser_.ParseAlert(m.event.body, &a, &e)) return Reject(m, e);
  alerts_.push_back(std::move(a));
}

void StoreSink::OnRaw(const runtime::Message& m) {
  if (options_.recent_rows <= 0) return;
  const size_t cap = static_cast<size_t>(options_.recent_rows);
  Ring& ring = recent_[*m.tp];
  if (ring.slots.size() < cap && ring.next == ring.slots.size()) ring.slots.emplace_back();
  RecentRow& r = ring.slots[ring.next];
  r.topic = m.tp->topic;
  r.partition = m.tp->partition;
  r.offset = m.offset;
  r.time_ms = m.event.timestamp_ms;
  r.key.assign(m.event.key);
  r.body.assign(m.event.body);
  ring.next = (ring.next + 1) % cap;
  ring.size = std::min(ring.size + 1, cap);
}

void StoreSink::MergeStream(const WindowRecord& r, const std::string& windows_topic) {
  auto it = pending_streams_.find(r.row.stream);
  if (it == pending_streams_.end()) {
    PendingStream p;
    auto c = streams_.find(r.row.stream);
    if (c != streams_.end()) {
      p.row = c->second;
    } else {
      p.row.stream = r.row.stream;
      p.changed = true;
    }
    it = pending_streams_.emplace(r.row.stream, std::move(p)).first;
  }
  PendingStream& p = it->second;
  StreamRow& s = p.row;
  auto set = [&](std::string* field, const std::string& v) {
    if (!v.empty() && *field != v) {
      *field = v;
      p.changed = true;
    }
  };
  set(&s.schema, r.schema);
  set(&s.topic, r.topic);
  set(&s.windows_topic, windows_topic);
  auto w = std::find_if(s.windows.begin(), s.windows.end(),
                        [&](const auto& x) { return x.first == r.row.window; });
  if (w == s.windows.end() || w->second != r.row.window_ms) {
    if (w == s.windows.end()) {
      s.windows.emplace_back(r.row.window, r.row.window_ms);
    } else {
      w->second = r.row.window_ms;
    }
    std::sort(s.windows.begin(), s.windows.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    p.changed = true;
  }
  p.changed |= InsertSorted(&s.dimensions, r.row.dimension);
  for (const auto& f : r.field_names) p.changed |= InsertSorted(&s.fields, f);
}

Status StoreSink::WriteBatch() {
  // A batch of rejected records only: nothing to write, only offsets to commit.
  bool any = !windows_.empty() || !alerts_.empty();
  for (const auto& [name, p] : pending_streams_) any |= p.changed;
  if (!any) return Status::OK();
  const int64_t now_ms = NowMs();
  TXP_RETURN_IF_ERROR(Transact([&]() -> Status {
    for (const WindowRow& w : windows_) TXP_RETURN_IF_ERROR(db_->UpsertWindow(w, now_ms));
    for (const AlertRow& a : alerts_) TXP_RETURN_IF_ERROR(db_->UpsertAlert(a, now_ms));
    for (auto& [name, p] : pending_streams_) {
      if (!p.changed) continue;
      p.row.updated_ms = now_ms;
      TXP_RETURN_IF_ERROR(db_->PutStream(p.row));
    }
    return Status::OK();
  }));
  windows_total_->Add(windows_.size());
  alerts_total_->Add(alerts_.size());
  for (auto& [name, p] : pending_streams_) {
    if (p.changed) streams_[name] = std::move(p.row);
  }
  pending_streams_.clear();
  return Status::OK();
}

void StoreSink::DiscardBatch() {
  windows_.clear();
  alerts_.clear();
  pending_streams_.clear();
  batch_next_.clear();
  batch_records_ = 0;
}

Status StoreSink::CommitOffsets() {
  if (pending_commits_.empty()) return Status::OK();
  Status s = consumer_->Commit(pending_commits_);
  if (!s.ok()) {
    // The rows are in the store; a later commit covers these offsets, and
    // re-reading them after a crash only upserts the same rows.
    offset_commit_errors_total_->Add();
    TXP_LOG_WARN("store {}: committing offsets: {} (retried after the next batch)", ctx_.name,
                 s.ToString());
    return Status::OK();
  }
  pending_commits_.clear();
  return Status::OK();
}

std::map<TopicPartition, uint64_t> StoreSink::SkipAheadRaw() {
  std::map<TopicPartition, uint64_t> ends;
  std::map<std::string, runtime::TopicInfo> infos;
  const uint64_t keep = static_cast<uint64_t>(std::max<int64_t>(options_.recent_rows, 0));
  for (const TopicPartition& tp : raw_consumer_->assignment()) {
    auto it = infos.find(tp.topic);
    if (it == infos.end()) {
      auto info = ctx_.broker->Describe(tp.topic);
      if (!info.ok()) continue;
      it = infos.emplace(tp.topic, std::move(info).value()).first;
    }
    uint64_t end = 0;
    for (const auto& p : it->second.partitions) {
      if (p.partition == tp.partition) end = p.end_offset;
    }
    ends[tp] = end;
    const uint64_t pos = raw_consumer_->position(tp);
    if (end <= pos || end - pos <= keep) continue;
    if (!raw_consumer_->Seek(tp, end - keep).ok()) continue;
    recent_skipped_total_->Add(end - keep - pos);
  }
  return ends;
}

Status StoreSink::SnapshotStats() {
  TXP_RETURN_IF_ERROR(Open());
  const int64_t now_ms = NowMs();
  std::vector<StatRow> rows;
  for (const runtime::MetricSample& m : ctx_.metrics->Snapshot()) {
    rows.push_back({m.name, LabelsJson(m.labels), m.value});
  }
  std::map<std::string, runtime::TopicInfo> infos;
  for (const std::string& topic : ctx_.broker->Topics()) {
    auto info = ctx_.broker->Describe(topic);
    if (!info.ok()) continue;
    double events = 0;
    for (const auto& p : info->partitions) events += static_cast<double>(p.end_offset);
    rows.push_back({"txpipe_topic_events_total", LabelsJson({{"topic", topic}}), events});
    infos.emplace(topic, std::move(info).value());
  }
  for (const std::string& group : ctx_.broker->Groups()) {
    std::map<std::string, double> lag;
    for (const auto& [tp, committed] : ctx_.broker->GroupOffsets(group)) {
      auto it = infos.find(tp.topic);
      if (it == infos.end()) continue;
      for (const auto& p : it->second.partitions) {
        if (p.partition == tp.partition && p.end_offset > committed) {
          lag[tp.topic] += static_cast<double>(p.end_offset - committed);
        }
      }
      lag.try_emplace(tp.topic, 0);
    }
    for (const auto& [topic, n] : lag) {
      rows.push_back({"txpipe_group_lag", LabelsJson({{"group", group}, {"topic", topic}}), n});
    }
  }
  TXP_RETURN_IF_ERROR(db_->Begin());
  Status s = db_->PutStats(now_ms, rows);
  if (s.ok()) s = db_->Commit();
  if (!s.ok()) {
    db_->Rollback();
    return s;
  }
  stats_snapshots_total_->Add();
  return Status::OK();
}

Status StoreSink::EnforceRetention() {
  TXP_RETURN_IF_ERROR(Open());
  const int64_t now_ms = NowMs();
  TXP_RETURN_IF_ERROR(db_->Begin());
  int64_t deleted = 0;
  auto body = [&]() -> Status {
    auto sizes = db_->WindowSizes();
    if (!sizes.ok()) return sizes.status();
    for (int64_t size : *sizes) {
      const int64_t keep = WindowRetentionMs(options_, size);
      if (keep <= 0) continue;
      auto n = db_->DeleteWindowsBefore(size, now_ms - keep);
      if (!n.ok()) return n.status();
      deleted += *n;
    }
    if (options_.alerts_retention_ms > 0) {
      auto n = db_->DeleteAlertsBefore(now_ms - options_.alerts_retention_ms);
      if (!n.ok()) return n.status();
      deleted += *n;
    }
    if (options_.stats_retention_ms > 0) {
      auto n = db_->DeleteStatsBefore(now_ms - options_.stats_retention_ms);
      if (!n.ok()) return n.status();
      deleted += *n;
    }
    return db_->Commit();
  };
  Status s = body();
  if (!s.ok()) {
    db_->Rollback();
    return s;
  }
  retention_deleted_total_->Add(static_cast<uint64_t>(deleted));
  if (deleted > 0) TXP_LOG_DEBUG("store {}: retention deleted {} rows", ctx_.name, deleted);
  return Status::OK();
}

Status StoreSink::Close() {
  if (closed_ || !opened_) {
    closed_ = true;
    return Status::OK();
  }
  closed_ = true;
  Status s = pending_commits_.empty() ? Status::OK() : consumer_->Commit(pending_commits_);
  if (!s.ok()) {
    TXP_LOG_WARN(
        "store {}: committing offsets at close: {} (the records are read again and "
        "upserted at the next start)",
        ctx_.name, s.ToString());
  }
  pending_commits_.clear();
  db_.reset();
  return Status::OK();
}

}  // namespace txpipe::sinks::store
