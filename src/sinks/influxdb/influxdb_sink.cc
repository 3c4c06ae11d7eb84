#include "sinks/influxdb/influxdb_sink.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/logging.h"

namespace txpipe::sinks::influxdb {

using base::Result;
using base::Status;
using runtime::TopicPartition;
using Kind = WriteOutcome::Kind;

namespace {

constexpr int64_t kParkRetryMs = 60'000;  // after 401/403/404: try again this often

std::string Describe(const WriteOutcome& o) {
  return o.status ? fmt::format("HTTP {}: {}", o.status, o.message) : o.message;
}

}  // namespace

InfluxSink::InfluxSink(InfluxOptions options, runtime::Context context)
    : options_(std::move(options)),
      ctx_(std::move(context)),
      backoff_({options_.retry_initial_backoff_ms, options_.retry_max_backoff_ms}) {
  ctx_.FillDefaults(&own_metrics_);
  runtime::Labels l = {{"sink", ctx_.name}};
  runtime::Metrics* m = ctx_.metrics;
  points_total_ = m->counter("txpipe_influxdb_points_total", "Points InfluxDB took (2xx)", l);
  bytes_total_ = m->counter("txpipe_influxdb_request_bytes_total",
                            "Bytes of write request bodies sent (compressed)", l);
  retries_total_ = m->counter("txpipe_influxdb_retries_total",
                              "Write requests to be sent again (408, 429, 5xx, no answer)", l);
  commit_errors_total_ = m->counter("txpipe_influxdb_offset_commit_errors_total",
                                    "Offset commits that failed (tried again)", l);
  up_ = m->gauge("txpipe_influxdb_up",
                 "1 while InfluxDB takes writes, 0 while they are retried or refused", l);
  last_error_ = m->gauge("txpipe_influxdb_last_error_timestamp_seconds",
                         "When a write last failed (not 2xx, or no answer); 0 = never", l);
}

InfluxSink::~InfluxSink() {
  quit_.Request();
  {
    std::lock_guard l(mu_);
    cv_.notify_all();
  }
  if (sender_.joinable()) sender_.join();
}

std::vector<runtime::TopicUse> InfluxSink::Topics() const {
  std::vector<runtime::TopicUse> topics;
  for (const auto& t : options_.topics) {
    topics.push_back({t});
    topics.push_back({runtime::DeadLetterTopicOf(t)});
  }
  return topics;
}

Status InfluxSink::Open() {
  if (opened_) return Status::OK();
  TXP_RETURN_IF_ERROR(ValidateInfluxOptions(options_));
  if (!ctx_.broker) return Status::InvalidArgument("influxdb: no broker in the context");
  group_ = options_.group.empty()
               ? "influxdb-" + (ctx_.name.empty() ? std::string("influxdb") : ctx_.name)
               : options_.group;
  auto encoder = PointEncoder::Create(options_);
  if (!encoder.ok()) return encoder.status();
  encoder_ = std::move(encoder).value();
  auto credentials = LoadCredentials(options_, ctx_.env);
  if (!credentials.ok()) return credentials.status();
  auto writer = Writer::Create(options_, std::move(credentials).value(), ctx_.clock);
  if (!writer.ok()) return writer.status();
  writer_ = std::move(writer).value();
  topic_names_ = options_.topics;
  for (const auto& t : options_.topics) {
    const std::string dlq = runtime::DeadLetterTopicOf(t);
    TXP_RETURN_IF_ERROR(ctx_.broker->CreateTopic(dlq, ctx_.topic_partitions));
    auto p = ctx_.broker->NewProducer(dlq, ctx_.producer);
    if (!p.ok()) return p.status();
    dlq_[t] = std::move(p).value();
  }
  auto c = ctx_.broker->NewConsumer(group_, options_.topics, runtime::ConsumerOptions{});
  if (!c.ok()) return c.status();
  consumer_ = std::move(c).value();
  database_created_ = !(options_.api == "v1" && options_.create_database);
  sender_ = std::thread([this] { SenderLoop(); });
  opened_ = true;
  TXP_LOG_INFO("influxdb {}: writing {} to {} as group {}", ctx_.name,
               fmt::join(options_.topics, ", "), writer_->shown_url(), group_);
  return Status::OK();
}

Status InfluxSink::Run(const base::StopFlag& stop) {
  TXP_RETURN_IF_ERROR(Open());
  while (!stop.requested()) {
    auto r = PollOnce(100);
    if (!r.ok()) {
      TXP_LOG_WARN("influxdb {}: {}; trying again", ctx_.name, r.status().ToString());
      ctx_.clock->SleepUntil(ctx_.clock->MonotonicMicros() + 1'000'000, stop);
    }
  }
  return Close();
}

bool InfluxSink::Due(int64_t now_us) const {
  if (current_.records == 0) return false;
  return current_.origins.size() >= static_cast<size_t>(options_.batch_max_lines) ||
         now_us - current_.first_at_us >= options_.batch_timeout_ms * 1000;
}

bool InfluxSink::Hand() {
  {
    std::lock_guard l(mu_);
    if (slot_) return false;
  }
  // Only this thread fills the slot: it is still free.
  if (options_.gzip && current_.gzipped.empty() && !current_.lines.empty() &&
      !Gzip(current_.lines, 1, &current_.gzipped).ok()) {
    current_.gzipped.clear();  // the sender compresses it then
  }
  std::lock_guard l(mu_);
  slot_ = std::move(current_);
  current_ = Batch{};
  cv_.notify_all();
  return true;
}

Result<size_t> InfluxSink::PollOnce(int64_t timeout_ms) {
  TXP_RETURN_IF_ERROR(Open());
  if (closed_) return Status::InvalidArgument("influxdb: PollOnce after Close");
  TXP_RETURN_IF_ERROR(ApplyFinished());
  const int64_t now = ctx_.clock->MonotonicMicros();
  if (Due(now) && !Hand()) {
    // The sender is busy and the next batch is due: wait for the slot
    // instead of reading more (the log keeps what is not read).
    std::unique_lock l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return !slot_; });
    return size_t{0};
  }
  int64_t wait = timeout_ms;
  if (current_.records > 0) {
    wait = std::clamp<int64_t>(
        (current_.first_at_us + options_.batch_timeout_ms * 1000 - now) / 1000, 0, timeout_ms);
  }
  size_t read = 0;
  Status seek_error;
  auto r = consumer_->Poll(wait, [&](const runtime::Message& m) {
    if (current_.origins.size() >= static_cast<size_t>(options_.batch_max_lines)) {
      // The batch is full: the rest of this poll is read again next time.
      Status s = consumer_->Seek(*m.tp, m.offset);
      if (!s.ok() && seek_error.ok()) seek_error = s;
      return;
    }
    ++read;
    if (current_.records++ == 0) current_.first_at_us = ctx_.clock->MonotonicMicros();
    current_.next_offsets[*m.tp] = m.offset + 1;
    const auto topic = static_cast<uint16_t>(
        std::find(topic_names_.begin(), topic_names_.end(), m.tp->topic) - topic_names_.begin());
    const size_t begin = current_.lines.size();
    int lines = 0;
    EncodeError e;
    if (!encoder_->Append(m.tp->topic, m.tp->partition, m.offset, m.event.body, &current_.lines,
                          &lines, &e)) {
      current_.dead.push_back({topic, m.tp->partition, m.offset, std::string(m.event.key),
                               std::string(m.event.body), e.reason, e.message});
      return;
    }
    if (lines > 0) {
      current_.origins.push_back({static_cast<uint32_t>(begin),
                                  static_cast<uint32_t>(current_.lines.size()), topic,
                                  m.tp->partition, m.offset});
    }
  });
  if (!r.ok()) return r.status();
  TXP_RETURN_IF_ERROR(seek_error);
  if (Due(ctx_.clock->MonotonicMicros())) Hand();
  return read;
}

Status InfluxSink::ApplyFinished() {
  std::deque<Batch> done;
  {
    std::lock_guard l(mu_);
    done.swap(finished_);
  }
  for (Batch& b : done) {
    if (b.abandoned) continue;  // read again at the next start
    for (const DeadLetter& d : b.dead) {
      const std::string& topic = topic_names_[d.topic];
      const std::string part = std::to_string(d.partition), off = std::to_string(d.offset);
      const core::HeaderView headers[] = {{"error", d.reason},
                                          {"error_message", d.message},
                                          {"source_topic", topic},
                                          {"source_partition", part},
                                          {"source_offset", off},
                                          {"component", ctx_.name}};
      core::EventView ev;
      ev.timestamp_ms = ctx_.clock->NowMicros() / 1000;
      ev.key = d.key;
      ev.body = d.body;
      ev.headers = headers;
      TXP_RETURN_IF_ERROR(dlq_[topic]->Add(ev));
      ctx_.metrics
          ->counter("txpipe_influxdb_dead_letters_total",
                    "Records not written, kept in <topic>.dlq, by reason",
                    {{"sink", ctx_.name}, {"reason", d.reason}})
          ->Add();
    }
    if (!b.dead.empty()) {
      for (auto& [topic, p] : dlq_) {
        if (p->pending()) TXP_RETURN_IF_ERROR(p->Flush());
      }
      TXP_LOG_WARN("influxdb {}: {} record(s) not written, kept in the dead-letter topic; first: "
                   "{}/{} offset {}: {}",
                   ctx_.name, b.dead.size(), topic_names_[b.dead[0].topic], b.dead[0].partition,
                   b.dead[0].offset, b.dead[0].message);
    }
    Status s = consumer_->Commit(b.next_offsets);
    if (!s.ok()) {
      // A later batch's commit covers these offsets too.
      commit_errors_total_->Add();
      TXP_LOG_WARN("influxdb {}: committing offsets: {}", ctx_.name, s.ToString());
    }
  }
  return Status::OK();
}

Status InfluxSink::Close() {
  if (closed_ || !opened_) return Status::OK();
  {
    // The last batch goes out if the slot is free; else it is read again at the
    // next start (waiting could mean waiting for InfluxDB). The sender then
    // delivers what it holds, and gives up on what it would have to retry.
    std::lock_guard l(mu_);
    if (current_.records > 0 && !slot_) {
      slot_ = std::move(current_);
      current_ = Batch{};
    }
    quit_.Request();
    cv_.notify_all();
  }
  if (sender_.joinable()) sender_.join();
  closed_ = true;
  return ApplyFinished();
}

void InfluxSink::SenderLoop() {
  while (true) {
    Batch b;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return slot_ || quit_.requested(); });
      if (!slot_) return;  // quitting with nothing left
      b = std::move(*slot_);
      slot_.reset();
      busy_ = true;
      cv_.notify_all();
    }
    b.abandoned = !Deliver(b, 0, b.origins.size());
    std::lock_guard l(mu_);
    busy_ = false;
    finished_.push_back(std::move(b));
    cv_.notify_all();
  }
}

bool InfluxSink::SenderWait(int64_t ms) {
  return ctx_.clock->SleepUntil(ctx_.clock->MonotonicMicros() + ms * 1000, quit_);
}

void InfluxSink::Record(const WriteOutcome& o, size_t lines) {
  last_failed_ = o.kind != Kind::kWritten && o.kind != Kind::kBadLines &&
                 o.kind != Kind::kTooLarge;
  ctx_.metrics
      ->counter("txpipe_influxdb_requests_total", "Write requests, by HTTP status (none: no answer)",
                {{"sink", ctx_.name}, {"status", o.status ? std::to_string(o.status) : "none"}})
      ->Add();
  bytes_total_->Add(writer_->last_body_bytes());
  if (o.kind == Kind::kWritten) {
    points_total_->Add(lines);
  } else {
    last_error_->Set(ctx_.clock->NowMicros() / 1'000'000);
  }
}

bool InfluxSink::Deliver(Batch& b, size_t from, size_t to) {
  if (from >= to) return true;
  if (quit_.requested() && last_failed_) return false;  // stopping, InfluxDB in trouble
  while (!database_created_) {
    WriteOutcome o = writer_->CreateDatabase(backoff_.attempts() > 0 ? &quit_ : nullptr);
    if (o.kind == Kind::kWritten) {
      database_created_ = true;
      backoff_.Reset();
      break;
    }
    if (quit_.requested()) return false;
    const int64_t delay = backoff_.Next(o.retry_after_ms);
    TXP_LOG_WARN("influxdb {}: CREATE DATABASE {}: {}; trying again in {} ms", ctx_.name,
                 options_.database, Describe(o), delay);
    if (!SenderWait(delay)) return false;
  }
  const size_t begin = b.origins[from].begin, end = b.origins[to - 1].end;
  const std::string_view body(b.lines.data() + begin, end - begin);
  // The whole batch goes compressed as the Run thread packed it; parts (after
  // a 400 or 413) are compressed here.
  const std::string_view packed =
      from == 0 && to == b.origins.size() ? std::string_view(b.gzipped) : std::string_view();
  bool failed_before = false;
  while (true) {
    WriteOutcome o = writer_->Write(body, failed_before ? &quit_ : nullptr, packed);
    Record(o, to - from);
    switch (o.kind) {
      case Kind::kWritten:
        if (failed_before) {
          TXP_LOG_INFO("influxdb {}: {} takes writes again", ctx_.name, writer_->shown_url());
        }
        backoff_.Reset();
        up_->Set(1);
        if (failed_before) ctx_.metrics->SetProblem(ProblemName(), "");
        return true;
      case Kind::kBadLines:
      case Kind::kTooLarge:
        if (to - from == 1) {
          const Line& line = b.origins[from];
          std::string text(b.lines.data() + line.begin, line.end - line.begin);
          if (!text.empty() && text.back() == '\n') text.pop_back();
          b.dead.push_back({line.topic, line.partition, line.offset, "", std::move(text),
                            o.kind == Kind::kBadLines ? "refused" : "too_large", Describe(o)});
          return true;
        } else {
          // Halves until the refused lines are alone; lines InfluxDB took
          // are sent again and overwrite themselves.
          const size_t mid = from + (to - from) / 2;
          return Deliver(b, from, mid) && Deliver(b, mid, to);
        }
      case Kind::kRetry: {
        up_->Set(0);
        if (quit_.requested()) return false;
        retries_total_->Add();
        const int64_t delay = backoff_.Next(o.retry_after_ms);
        const int n = backoff_.attempts();
        base::Log(n == 1 || n % 10 == 0 ? base::LogLevel::kWarn : base::LogLevel::kDebug,
                  "influxdb {}: {}: {}; retry {} in {} ms (the data waits in the log)", ctx_.name,
                  writer_->shown_url(), Describe(o), n, delay);
        failed_before = true;
        if (!SenderWait(delay)) return false;
        break;
      }
      case Kind::kStopped:
      case Kind::kFailed: {
        up_->Set(0);
        if (quit_.requested()) return false;
        ctx_.metrics->SetProblem(
            ProblemName(), fmt::format("{} answers {}: nothing is written (the data waits in the "
                                       "log)",
                                       writer_->shown_url(), Describe(o)));
        TXP_LOG_ERROR("influxdb {}: {}: {}; {}. Nothing is written until this is fixed (tried "
                      "again every {} s; the data waits in the log)",
                      ctx_.name, writer_->shown_url(), Describe(o),
                      o.kind == Kind::kStopped ? "the credentials are refused: check token_env / "
                                                 "token_file / username"
                                               : "the server refuses the writes",
                      kParkRetryMs / 1000);
        failed_before = true;
        if (!SenderWait(kParkRetryMs)) return false;
        break;
      }
    }
  }
}

}  // namespace txpipe::sinks::influxdb
