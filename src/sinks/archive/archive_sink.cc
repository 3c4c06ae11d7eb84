#include "sinks/archive/archive_sink.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "base/logging.h"
#include "base/time.h"

namespace txpipe::sinks::archive {

using base::Result;
using base::Status;
using runtime::TopicPartition;

namespace {

constexpr int64_t kPollTimeoutMs = 100;  // how often Run looks at its timers when idle
constexpr size_t kWriteChunk = 1 << 20;  // encode and write once this much is buffered
constexpr int64_t kMaxBackoffMs = 30'000;
constexpr int kMaxScanDepth = 64;
constexpr int kMaxDirAttempts = 5;

std::string Where(const TopicPartition& tp) { return fmt::format("{}/{}", tp.topic, tp.partition); }

}  // namespace

ArchiveSink::ArchiveSink(ArchiveOptions options, runtime::Context context)
    : options_(std::move(options)), ctx_(std::move(context)) {
  ctx_.FillDefaults(&own_metrics_);
  const runtime::Labels l = {{"sink", ctx_.name}};
  runtime::Metrics* m = ctx_.metrics;
  events_total_ =
      m->counter("txpipe_archive_events_total",
                 "Events written to open archive files (re-reads after an error count again)", l);
  bytes_total_ = m->counter("txpipe_archive_bytes_total",
                            "Body bytes (uncompressed, with newlines) written to archive files", l);
  files_total_ = m->counter("txpipe_archive_files_total", "Archive files completed (renamed)", l);
  invalid_path_total_ =
      m->counter("txpipe_archive_invalid_path_total",
                 "Events whose path was refused, written under _invalid_path/", l);
  retries_total_ = m->counter("txpipe_archive_retries_total",
                              "Write, roll or poll errors retried (events re-read)", l);
  stale_removed_total_ = m->counter("txpipe_archive_stale_files_removed_total",
                                    "In-use files left by a crash, removed at start", l);
  duplicates_skipped_total_ = m->counter("txpipe_archive_duplicates_skipped_total",
                                         "Events skipped because they are already archived", l);
  commit_errors_total_ = m->counter("txpipe_archive_commit_errors_total",
                                    "Offset commits that failed (retried at the next roll)", l);
  open_files_ = m->gauge("txpipe_archive_open_files", "Archive files being written", l);
}

ArchiveSink::~ArchiveSink() {
  // Without Close(), open files stay in-use files (closed, not synced, not
  // renamed); the next start removes them and re-reads their events.
  for (auto& [tp, ps] : parts_) {
    if (ps.open) open_files_->Add(-1);
  }
}

std::vector<runtime::TopicUse> ArchiveSink::Topics() const {
  std::vector<runtime::TopicUse> topics;
  for (const auto& t : options_.topics) topics.push_back({t});
  return topics;
}

Status ArchiveSink::Open() {
  if (opened_) return Status::OK();
  TXP_RETURN_IF_ERROR(ValidateArchiveOptions(options_));
  if (!ctx_.broker) return Status::InvalidArgument("archive: no broker in the context");
  auto t = PathTemplate::Compile(options_.path);
  if (!t.ok()) return t.status();
  template_ = std::move(t).value();
  naming_ = {options_.file_prefix, options_.file_suffix + CodecExtension(options_.codec),
             options_.in_use_prefix, options_.in_use_suffix};
  round_unit_ = options_.round_unit == "hour"     ? RoundUnit::kHour
                : options_.round_unit == "minute" ? RoundUnit::kMinute
                                                  : RoundUnit::kSecond;
  root_dir_ = ctx_.Resolve(template_->root());
  group_ = options_.group.empty()
               ? "archive-" + (ctx_.name.empty() ? std::string("archive") : ctx_.name)
               : options_.group;
  {
    auto e = NewEncoder(options_.codec, options_.compression_level);
    if (!e.ok()) return e.status();
  }
  TXP_RETURN_IF_ERROR(ctx_.env->CreateDirs(root_dir_));
  TXP_RETURN_IF_ERROR(ctx_.env->SyncDir(io::DirName(root_dir_)));
  TXP_RETURN_IF_ERROR(Recover());

  auto c = ctx_.broker->NewConsumer(group_, options_.topics, runtime::ConsumerOptions{});
  if (!c.ok()) return c.status();
  consumer_ = std::move(c).value();
  for (const TopicPartition& tp : consumer_->assignment()) {
    PartitionState& ps = parts_[tp];
    auto it = recovered_.find(tp);
    if (it == recovered_.end()) continue;
    // The archive's file names win over the group's committed offset.
    TXP_RETURN_IF_ERROR(consumer_->Seek(tp, it->second));
    ps.next_expected = it->second;
    if (consumer_->Committed(tp) != it->second) pending_commits_[tp] = it->second;
    TXP_LOG_INFO("archive {}: {} resumes at offset {} (after the last archived file)", ctx_.name,
                 Where(tp), it->second);
  }
  TXP_RETURN_IF_ERROR(CommitPending());
  opened_ = true;
  return Status::OK();
}

Status ArchiveSink::Recover() {
  recovered_.clear();
  Scan(root_dir_, 0);
  return Status::OK();
}

void ArchiveSink::Scan(const std::string& dir, int depth) {
  auto names = ctx_.env->ListDir(dir);
  if (!names.ok()) return;  // not a directory, or gone
  bool removed = false;
  for (const std::string& name : *names) {
    const std::string path = dir + "/" + name;
    FileRange r;
    if (ParseFinalFileName(naming_, name, &r)) {
      if (std::find(options_.topics.begin(), options_.topics.end(), r.topic) ==
          options_.topics.end()) {
        continue;
      }
      uint64_t& next = recovered_[{r.topic, r.partition}];
      next = std::max(next, r.last + 1);
      continue;
    }
    if (ParseInUseFileName(naming_, name, &r)) {
      if (std::find(options_.topics.begin(), options_.topics.end(), r.topic) ==
          options_.topics.end()) {
        continue;
      }
      Status s = ctx_.env->RemoveFile(path);
      if (s.ok()) {
        stale_removed_total_->Add();
        removed = true;
        TXP_LOG_INFO("archive {}: removed {} left by an unclean stop; its events are re-read",
                     ctx_.name, path);
      } else {
        TXP_LOG_WARN("archive {}: cannot remove stale {}: {}", ctx_.name, path, s.ToString());
      }
      continue;
    }
    if (depth < kMaxScanDepth) Scan(path, depth + 1);
  }
  if (removed) {
    Status s = ctx_.env->SyncDir(dir);
    if (!s.ok()) TXP_LOG_WARN("archive {}: {}", ctx_.name, s.ToString());
  }
}

Status ArchiveSink::Run(const base::StopFlag& stop) {
  TXP_RETURN_IF_ERROR(Open());
  while (!stop.requested()) {
    if (backoff_until_us_ > ctx_.clock->MonotonicMicros()) {
      if (!ctx_.clock->SleepUntil(backoff_until_us_, stop)) break;
    }
    auto r = PollOnce(kPollTimeoutMs);
    if (!r.ok()) {
      retries_total_->Add();
      backoff_ms_ = backoff_ms_ == 0 ? 100 : std::min(backoff_ms_ * 2, kMaxBackoffMs);
      backoff_until_us_ = ctx_.clock->MonotonicMicros() + backoff_ms_ * 1000;
      TXP_LOG_WARN("archive {}: {}; retrying in {} ms", ctx_.name, r.status().ToString(),
                   backoff_ms_);
    }
  }
  return Close();
}

Result<size_t> ArchiveSink::PollOnce(int64_t timeout_ms) {
  TXP_RETURN_IF_ERROR(Open());
  if (closed_) return Status::InvalidArgument("archive: PollOnce after Close");
  handled_ = 0;
  if (backoff_until_us_ > ctx_.clock->MonotonicMicros()) {
    // After a write error: let the disk recover before re-reading.
    TXP_RETURN_IF_ERROR(RollDue());
    return size_t{0};
  }
  auto r = consumer_->Poll(timeout_ms, [this](const runtime::Message& m) { OnMessage(m); });
  // Seeks are applied after the poll: the consumer moves its position past
  // each message it delivers.
  for (auto& [tp, ps] : parts_) {
    ps.failed = false;
    if (ps.seek_to) {
      Status s = consumer_->Seek(tp, *ps.seek_to);
      if (!s.ok()) TXP_LOG_ERROR("archive {}: seek {}: {}", ctx_.name, Where(tp), s.ToString());
      ps.seek_to.reset();
    }
  }
  if (!r.ok()) return r.status();
  TXP_RETURN_IF_ERROR(RollDue());
  return handled_;
}

void ArchiveSink::OnMessage(const runtime::Message& m) {
  PartitionState& ps = parts_[*m.tp];
  if (ps.failed) return;  // re-read after the seek
  if (m.offset < ps.next_expected) {
    duplicates_skipped_total_->Add();
    return;
  }
  Status s = Append(*m.tp, &ps, m);
  if (!s.ok()) Fail(*m.tp, &ps, ps.open ? ps.open->first_offset : m.offset, s);
}

Result<std::string> ArchiveSink::BucketFor(const runtime::Message& m) {
  int64_t ts = m.event.timestamp_ms;
  if (options_.use_local_timestamp) {
    ts = ctx_.clock->NowMicros() / 1000;
  } else if (std::string_view h = m.event.header("timestamp"); !h.empty()) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), v);
    int64_t micros = 0;
    if (ec == std::errc() && p == h.data() + h.size()) {
      ts = v;
    } else if (base::ParseIsoTimestamp(h, &micros)) {
      ts = micros / 1000 - (micros % 1000 < 0);  // floor
    }
  }
  if (options_.round) ts = RoundDownMs(ts, options_.round_value, round_unit_);
  auto r = template_->Expand({&m.event, m.tp->topic, m.tp->partition, ts});
  if (r.ok()) return r;
  invalid_path_total_->Add();
  ++invalid_logged_;
  if (invalid_logged_ <= 10 || invalid_logged_ % 1000 == 0) {
    TXP_LOG_WARN(
        "archive {}: {} offset {}: path refused ({}); event written under {}/{}/ "
        "({} so far)",
        ctx_.name, Where(*m.tp), m.offset, r.status().message(), root_dir_, kInvalidPathDir,
        invalid_logged_);
  }
  return std::string(kInvalidPathDir);
}

Status ArchiveSink::Append(const TopicPartition& tp, PartitionState* ps,
                           const runtime::Message& m) {
  auto bucket = BucketFor(m);
  if (!bucket.ok()) return bucket.status();
  const int64_t now = ctx_.clock->MonotonicMicros();
  if (ps->open) {
    if (ps->open->bucket != *bucket) {
      TXP_RETURN_IF_ERROR(Roll(tp, ps, "new bucket"));
    } else if (options_.roll_interval_ms > 0 &&
               now - ps->open->opened_us >= options_.roll_interval_ms * 1000) {
      TXP_RETURN_IF_ERROR(Roll(tp, ps, "interval"));
    }
  }
  if (!ps->open) {
    Status s = OpenFileFor(tp, ps, *bucket, m.offset);
    if (!s.ok()) {
      // A bucket where no file can be created (a file in the way, a name the
      // file system refuses) would stop the partition forever: after a few
      // attempts on the same event it goes to the quarantine folder instead.
      // (During a long disk-full episode this may move one event per
      // partition there; it is counted and logged, never lost.)
      if (*bucket == kInvalidPathDir) return s;
      if (ps->dir_fail_offset != m.offset) {
        ps->dir_fail_offset = m.offset;
        ps->dir_failures = 0;
      }
      if (++ps->dir_failures < kMaxDirAttempts) return s;
      invalid_path_total_->Add();
      TXP_LOG_WARN(
          "archive {}: {} offset {}: cannot create a file in its folder ({}); event written "
          "under {}/{}/",
          ctx_.name, Where(tp), m.offset, s.ToString(), root_dir_, kInvalidPathDir);
      *bucket = std::string(kInvalidPathDir);
      TXP_RETURN_IF_ERROR(OpenFileFor(tp, ps, *bucket, m.offset));
    }
    ps->dir_failures = 0;
  }
  OpenFile& f = *ps->open;
  f.raw.append(m.event.body);
  f.raw.push_back('\n');
  ++f.raw_events;
  ++f.events;
  f.raw_bytes += m.event.body.size() + 1;
  f.last_offset = m.offset;
  f.last_write_us = now;
  ps->next_expected = m.offset + 1;
  ++handled_;
  events_total_->Add();
  bytes_total_->Add(m.event.body.size() + 1);
  if (f.raw_events >= options_.batch_size || f.raw.size() >= kWriteChunk) {
    TXP_RETURN_IF_ERROR(FlushBuffers(&f, false));
  }
  if (options_.roll_count > 0 && f.events >= static_cast<uint64_t>(options_.roll_count)) {
    return Roll(tp, ps, "count");
  }
  if (options_.roll_size_bytes > 0 && f.raw_bytes >= options_.roll_size_bytes) {
    return Roll(tp, ps, "size");
  }
  return Status::OK();
}

Status ArchiveSink::EnsureDir(const std::string& dir) {
  if (ctx_.env->FileExists(dir)) return Status::OK();
  TXP_RETURN_IF_ERROR(ctx_.env->CreateDirs(dir));
  // Make the new directories' entries durable, up to the root.
  std::string d = dir;
  while (d.size() > root_dir_.size()) {
    std::string parent = io::DirName(d);
    TXP_RETURN_IF_ERROR(ctx_.env->SyncDir(parent));
    if (parent == d) break;
    d = std::move(parent);
  }
  return Status::OK();
}

Status ArchiveSink::OpenFileFor(const TopicPartition& tp, PartitionState* ps,
                                const std::string& bucket, uint64_t first_offset) {
  OpenFile f;
  f.bucket = bucket;
  f.dir = bucket.empty() ? root_dir_ : root_dir_ + "/" + bucket;
  TXP_RETURN_IF_ERROR(EnsureDir(f.dir));
  f.in_use_path = f.dir + "/" + InUseFileName(naming_, tp.topic, tp.partition, first_offset);
  auto file = ctx_.env->NewWritableFile(f.in_use_path, io::OpenMode::kTruncate);
  if (!file.ok()) return file.status();
  f.file = std::move(file).value();
  auto enc = NewEncoder(options_.codec, options_.compression_level);
  if (!enc.ok()) return enc.status();
  f.encoder = std::move(enc).value();
  f.first_offset = first_offset;
  f.last_offset = first_offset;
  f.opened_us = f.last_write_us = ctx_.clock->MonotonicMicros();
  ps->open = std::move(f);
  open_files_->Add(1);
  return Status::OK();
}

Status ArchiveSink::FlushBuffers(OpenFile* f, bool finish) {
  if (options_.codec == "none") {
    if (!f->raw.empty()) TXP_RETURN_IF_ERROR(f->file->Append(f->raw));
  } else {
    if (!f->raw.empty()) TXP_RETURN_IF_ERROR(f->encoder->Write(f->raw, &f->out));
    if (finish) TXP_RETURN_IF_ERROR(f->encoder->Finish(&f->out));
    if (!f->out.empty()) TXP_RETURN_IF_ERROR(f->file->Append(f->out));
    f->out.clear();
  }
  f->raw.clear();
  f->raw_events = 0;
  return Status::OK();
}

Status ArchiveSink::Roll(const TopicPartition& tp, PartitionState* ps, const char* why) {
  OpenFile& f = *ps->open;
  // 1. write and fsync the in-use file.
  TXP_RETURN_IF_ERROR(FlushBuffers(&f, true));
  TXP_RETURN_IF_ERROR(f.file->Sync());
  TXP_RETURN_IF_ERROR(f.file->Close());
  // 2. rename it to its final name.
  const std::string dir = f.dir;
  const uint64_t last = f.last_offset;
  const std::string final_path =
      dir + "/" + FinalFileName(naming_, tp.topic, tp.partition, f.first_offset, last);
  Status s = ctx_.env->RenameNoReplace(f.in_use_path, final_path);
  if (s.code() == base::Code::kAlreadyExists) {
    // The same range is archived already (cannot happen unless two sinks
    // share a prefix): keep the existing file.
    TXP_LOG_WARN("archive {}: {} exists; dropping the duplicate {}", ctx_.name, final_path,
                 f.in_use_path);
    duplicates_skipped_total_->Add(f.events);
    ctx_.env->RemoveFile(f.in_use_path).IgnoreError();
  } else if (!s.ok()) {
    return s;
  } else {
    files_total_->Add();
    TXP_LOG_DEBUG("archive {}: rolled ({}) {}", ctx_.name, why, final_path);
  }
  ps->open.reset();
  open_files_->Add(-1);
  backoff_ms_ = 0;
  // 3. fsync the directory; 4. then the offset may be committed.
  s = ctx_.env->SyncDir(dir);
  if (!s.ok()) {
    // The file is complete; the commit waits for a later roll. After a
    // crash the file names decide where to resume, so nothing is lost.
    retries_total_->Add();
    TXP_LOG_WARN("archive {}: {}", ctx_.name, s.ToString());
    return Status::OK();
  }
  pending_commits_[tp] = last + 1;
  return Status::OK();
}

void ArchiveSink::Fail(const TopicPartition& tp, PartitionState* ps, uint64_t offset,
                       const Status& error) {
  retries_total_->Add();
  if (ps->open) {
    ps->open->file.reset();
    ctx_.env->RemoveFile(ps->open->in_use_path).IgnoreError();
    ps->open.reset();
    open_files_->Add(-1);
  }
  ps->failed = true;
  ps->seek_to = offset;
  ps->next_expected = offset;
  backoff_ms_ = backoff_ms_ == 0 ? 100 : std::min(backoff_ms_ * 2, kMaxBackoffMs);
  backoff_until_us_ = ctx_.clock->MonotonicMicros() + backoff_ms_ * 1000;
  TXP_LOG_WARN("archive {}: {}: {}; re-reading from offset {} in {} ms", ctx_.name, Where(tp),
               error.ToString(), offset, backoff_ms_);
}

Status ArchiveSink::RollDue() {
  const int64_t now = ctx_.clock->MonotonicMicros();
  for (auto& [tp, ps] : parts_) {
    if (!ps.open) continue;
    const char* why = nullptr;
    if (options_.roll_interval_ms > 0 &&
        now - ps.open->opened_us >= options_.roll_interval_ms * 1000) {
      why = "interval";
    } else if (options_.idle_timeout_ms > 0 &&
               now - ps.open->last_write_us >= options_.idle_timeout_ms * 1000) {
      why = "idle";
    }
    if (!why) continue;
    Status s = Roll(tp, &ps, why);
    if (!s.ok()) {
      Fail(tp, &ps, ps.open ? ps.open->first_offset : ps.next_expected, s);
      ps.failed = false;
      Status k = consumer_->Seek(tp, *ps.seek_to);
      if (!k.ok()) TXP_LOG_ERROR("archive {}: seek {}: {}", ctx_.name, Where(tp), k.ToString());
      ps.seek_to.reset();
    }
  }
  return CommitPending();
}

Status ArchiveSink::CommitPending() {
  if (pending_commits_.empty() || !consumer_) return Status::OK();
  Status s = consumer_->Commit(pending_commits_);
  if (!s.ok()) {
    // Not fatal: the file names say what is archived; retried at the next roll.
    commit_errors_total_->Add();
    TXP_LOG_WARN("archive {}: commit: {}", ctx_.name, s.ToString());
    return Status::OK();
  }
  pending_commits_.clear();
  return Status::OK();
}

Status ArchiveSink::Close() {
  if (!opened_ || closed_) return Status::OK();
  closed_ = true;
  Status first;
  for (auto& [tp, ps] : parts_) {
    if (!ps.open) continue;
    Status s = Roll(tp, &ps, "shutdown");
    if (!s.ok()) {
      // Its events are re-read at the next start.
      Fail(tp, &ps, ps.open ? ps.open->first_offset : ps.next_expected, s);
      if (first.ok()) first = s;
    }
  }
  TXP_RETURN_IF_ERROR(CommitPending());
  return first;
}

}  // namespace txpipe::sinks::archive
