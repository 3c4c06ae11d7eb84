#include "sources/generator/runner.h"

#include <fmt/format.h>

#include <cmath>

#include "base/time.h"
#include "io/env.h"

namespace txpipe::sources::generator {

using base::Result;
using base::Status;

namespace {

constexpr size_t kFlushBytes = 1 << 20;
constexpr int64_t kProgressEveryUs = 500'000;

// Where generated lines go: a stream, or a spool folder of rolled files.
class Output {
 public:
  Output(const RunOptions& o, std::string_view prefix) : o_(o), prefix_(prefix) {}

  // Called before each event with its time; closes the file of an earlier span.
  Status BeforeEvent(int64_t t, Buffer* buf) {
    if (o_.out_dir.empty()) {
      return buf->size() >= kFlushBytes ? Flush(buf) : Status::OK();
    }
    int64_t span = SpanOf(t);
    if (open_ && span != span_) TXP_RETURN_IF_ERROR(CloseFile(buf));
    if (!open_) {
      open_ = true;
      span_ = span;
      first_time_ = t;
    } else if (buf->size() >= kFlushBytes) {
      TXP_RETURN_IF_ERROR(Flush(buf));
    }
    return Status::OK();
  }

  // Called before the generator sleeps until an event at `next_t`: lines
  // become visible now rather than after the sleep.
  Status BeforeSleep(int64_t next_t, Buffer* buf) {
    if (o_.out_dir.empty()) return Flush(buf);
    if (open_ && SpanOf(next_t) != span_) return CloseFile(buf);
    return Status::OK();
  }

  Status Finish(Buffer* buf) {
    if (o_.out_dir.empty()) return Flush(buf);
    return open_ ? CloseFile(buf) : Status::OK();
  }

  uint64_t files() const { return files_; }
  uint64_t bytes() const { return bytes_; }

 private:
  int64_t SpanOf(int64_t t) const {
    int64_t w = o_.file_seconds * base::kMicrosPerSecond;
    return t >= 0 ? t / w : (t - w + 1) / w;
  }

  Status Flush(Buffer* buf) {
    if (buf->size() == 0) return Status::OK();
    std::string_view data = buf->view();
    if (o_.out_dir.empty()) {
      TXP_RETURN_IF_ERROR(io::WriteAll(o_.out_fd, data, "output"));
    } else {
      if (!file_) {
        // Written under a hidden name, renamed into view when complete.
        tmp_path_ = fmt::format("{}/.{}_{}.json.tmp", o_.out_dir, prefix_,
                                base::FormatFileStamp(first_time_));
        // A .tmp of this name was left by a run that was killed: ours now.
        auto f = env_->NewWritableFile(tmp_path_, io::OpenMode::kTruncate);
        if (!f.ok()) return f.status();
        file_ = std::move(f).value();
      }
      TXP_RETURN_IF_ERROR(file_->Append(data));
    }
    bytes_ += data.size();
    buf->Clear();
    return Status::OK();
  }

  Status CloseFile(Buffer* buf) {
    TXP_RETURN_IF_ERROR(Flush(buf));
    open_ = false;
    if (!file_) return Status::OK();
    if (o_.fsync) TXP_RETURN_IF_ERROR(file_->Sync());
    TXP_RETURN_IF_ERROR(file_->Close());
    file_.reset();
    // The seed's name; if it is taken (another generator, an earlier run),
    // the next free "_N" suffix: never overwrite a file a reader may own.
    std::string stamp = base::FormatFileStamp(first_time_);
    for (int n = 0;; ++n) {
      std::string name = n == 0 ? fmt::format("{}/{}_{}.json", o_.out_dir, prefix_, stamp)
                                : fmt::format("{}/{}_{}_{}.json", o_.out_dir, prefix_, stamp, n);
      Status s = env_->RenameNoReplace(tmp_path_, name);
      if (s.ok()) break;
      if (s.code() != base::Code::kAlreadyExists || n > 10000) return s;
    }
    if (o_.fsync) TXP_RETURN_IF_ERROR(env_->SyncDir(o_.out_dir));
    ++files_;
    return Status::OK();
  }

  const RunOptions& o_;
  std::string_view prefix_;
  bool open_ = false;
  int64_t span_ = 0;
  int64_t first_time_ = 0;
  io::Env* env_ = io::Env::Default();
  std::unique_ptr<io::WritableFile> file_;
  std::string tmp_path_;
  uint64_t files_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace

Result<RunStats> RunGenerator(const RunOptions& o, base::Clock* clock, const base::StopFlag& stop,
                              const std::function<void(const RunStats&)>& progress) {
  if (o.out_dir.empty() == (o.out_fd < 0)) {
    return Status::InvalidArgument("generator: give exactly one of an output folder or stream");
  }
  if (!(o.rate >= 0) || !std::isfinite(o.rate)) {
    return Status::InvalidArgument(fmt::format("generator: bad rate {}", o.rate));
  }
  if (o.file_seconds <= 0) {
    return Status::InvalidArgument("generator: file_seconds must be positive");
  }
  auto gen = MakeGenerator(o.kind, o.seed, o.ids);
  if (!gen.ok()) return gen.status();
  if (!o.out_dir.empty()) TXP_RETURN_IF_ERROR(io::Env::Default()->CreateDirs(o.out_dir));

  Output out(o, (*gen)->file_prefix());
  Buffer buf;
  RunStats stats;
  const int64_t mono0 = clock->MonotonicMicros();
  const bool max_rate = o.rate == 0;
  // Event times for a fixed schedule (start given, or rate max).
  const int64_t start = o.start_us.value_or(clock->NowMicros());
  const bool scheduled_times = o.start_us.has_value() || max_rate;
  auto event_time = [&](uint64_t i) -> int64_t {
    if (max_rate) return start + static_cast<int64_t>(i) * 1000;
    if (scheduled_times) return start + static_cast<int64_t>(std::floor(i * 1e6 / o.rate));
    return clock->NowMicros();
  };
  // Monotonic time at which event i is due.
  auto due = [&](uint64_t i) { return mono0 + static_cast<int64_t>(std::ceil(i * 1e6 / o.rate)); };
  int64_t next_progress = mono0 + kProgressEveryUs;
  auto report = [&](int64_t now) {
    stats.bytes = out.bytes() + buf.size();
    stats.files = out.files();
    stats.elapsed_us = now - mono0;
    if (progress) progress(stats);
  };

  uint64_t i = 0;
  while ((o.count == 0 || i < o.count) && !stop.requested()) {
    if (!max_rate) {
      int64_t when = due(i);
      int64_t now = clock->MonotonicMicros();
      if (now < when) {
        int64_t next_t = scheduled_times ? event_time(i) : clock->NowMicros() + (when - now);
        TXP_RETURN_IF_ERROR(out.BeforeSleep(next_t, &buf));
        if (progress && now >= next_progress) {
          report(now);
          next_progress = now + kProgressEveryUs;
        }
        if (!clock->SleepUntil(when, stop)) break;
      }
    }
    int64_t t = event_time(i);
    TXP_RETURN_IF_ERROR(out.BeforeEvent(t, &buf));
    (*gen)->Append(t, &buf);
    ++i;
    stats.events = i;
    if (progress && (i & 4095) == 0) {
      int64_t now = clock->MonotonicMicros();
      if (now >= next_progress) {
        report(now);
        next_progress = now + kProgressEveryUs;
      }
    }
  }
  TXP_RETURN_IF_ERROR(out.Finish(&buf));
  stats.events = i;
  stats.bytes = out.bytes();
  stats.files = out.files();
  stats.elapsed_us = clock->MonotonicMicros() - mono0;
  return stats;
}

}  // namespace txpipe::sources::generator
