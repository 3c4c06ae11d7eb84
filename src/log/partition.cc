#include "log/partition.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstring>

namespace txpipe::log {

using base::Result;
using base::Status;

namespace {
constexpr std::string_view kSegmentSuffix = ".log";
constexpr size_t kScanChunk = 1 << 20;

bool ParseSegmentName(const std::string& name, uint64_t* base) {
  if (name.size() != 20 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *base = v;
  return true;
}
}  // namespace

std::string Partition::SegmentPath(uint64_t base) const {
  return fmt::format("{}/{:020}{}", dir_, base, kSegmentSuffix);
}

Result<std::unique_ptr<Partition>> Partition::Open(io::Env* env, const std::string& dir,
                                                   const PartitionOptions& options,
                                                   RecoveryReport* report) {
  if (options.max_segment_bytes < kBatchHeaderSize || options.index_interval_bytes == 0) {
    return Status::InvalidArgument("partition: max_segment_bytes and index_interval_bytes");
  }
  std::unique_ptr<Partition> p(new Partition(env, dir, options));
  if (options.read_only) {
    TXP_RETURN_IF_ERROR(p->Recover(report));
    if (p->segments_.empty()) {
      return Status::NotFound(fmt::format("{}: no segments", dir));
    }
    p->visible_pos_ = p->segments_.rbegin()->second.size;
    p->closed_ = true;  // refuses appends
    return p;
  }
  TXP_RETURN_IF_ERROR(env->CreateDirs(dir));
  TXP_RETURN_IF_ERROR(p->Recover(report));
  TXP_RETURN_IF_ERROR(p->OpenActive());
  return p;
}

Partition::~Partition() { Close(); }

void Partition::IndexBatch(Segment* seg, const BatchHeader& h, uint64_t pos, uint32_t interval) {
  if (seg->index.empty() || pos - seg->last_indexed_pos >= interval) {
    seg->index.emplace_back(h.base_offset, pos);
    seg->last_indexed_pos = pos;
  }
}

// Reads the segment's batches sequentially; builds its index and end. For the
// last segment every CRC is checked; elsewhere the headers. A bad or torn
// batch ends the segment: the file is truncated there.
Status Partition::ScanSegment(Segment* seg, bool is_last, RecoveryReport* report) {
  auto file = env_->NewRandomAccessFile(seg->path);
  if (!file.ok()) return file.status();
  auto size = env_->FileSize(seg->path);
  if (!size.ok()) return size.status();
  seg->file = std::move(file).value();
  seg->end = seg->base;
  uint64_t pos = 0;
  std::string buf;
  std::string problem;
  while (pos < *size) {
    // Read at least one whole batch (headers first, then the rest).
    size_t want = static_cast<size_t>(std::min<uint64_t>(kScanChunk, *size - pos));
    buf.resize(want);
    std::string_view got;
    TXP_RETURN_IF_ERROR(seg->file->Read(pos, want, buf.data(), &got));
    size_t at = 0;
    while (at < got.size()) {
      BatchHeader h;
      Status s = DecodeHeader(got.substr(at), &h);
      if (!s.ok()) {
        if (got.size() - at < kBatchHeaderSize && pos + got.size() < *size) break;  // refill
        problem = s.message();
        break;
      }
      if (pos + at + h.total_size() > *size) {
        problem = fmt::format("batch at offset {} runs past the end of the file (torn write)",
                              h.base_offset);
        break;
      }
      if (at + h.total_size() > got.size()) {
        if (at == 0) {  // a batch bigger than the chunk: read it whole
          buf.resize(h.total_size());
          TXP_RETURN_IF_ERROR(seg->file->Read(pos, h.total_size(), buf.data(), &got));
        } else {
          break;  // refill from this batch
        }
      }
      if (h.base_offset < seg->end) {
        problem = fmt::format("batch offset {} goes back (expected >= {})", h.base_offset,
                              seg->end);
        break;
      }
      if (is_last) {
        s = VerifyCrc(h, got.substr(at, h.total_size()));
        if (!s.ok()) {
          problem = s.message();
          break;
        }
      }
      IndexBatch(seg, h, pos + at, options_.index_interval_bytes);
      seg->end = h.next_offset();
      seg->max_timestamp_ms = std::max(seg->max_timestamp_ms, h.max_timestamp_ms);
      at += h.total_size();
    }
    pos += at;
    if (!problem.empty() || at == 0) break;
  }
  if (pos < *size) {
    if (problem.empty()) problem = "unreadable tail";
    uint64_t dropped = *size - pos;
    report->truncated_bytes += dropped;
    report->messages.push_back(fmt::format("{}: {}; truncated {} bytes at position {}", seg->path,
                                           problem, dropped, pos));
    if (!options_.read_only) TXP_RETURN_IF_ERROR(env_->Truncate(seg->path, pos));
  }
  seg->size = pos;
  return Status::OK();
}

Status Partition::Recover(RecoveryReport* report) {
  auto names = env_->ListDir(dir_);
  if (!names.ok()) return names.status();
  for (const auto& name : *names) {
    uint64_t base;
    if (!ParseSegmentName(name, &base)) continue;
    Segment seg;
    seg.base = base;
    seg.end = base;
    seg.path = dir_ + "/" + name;
    segments_.emplace(base, std::move(seg));
  }
  uint64_t prev_end = 0;
  for (auto it = segments_.begin(); it != segments_.end(); ++it) {
    bool is_last = std::next(it) == segments_.end();
    if (it->first < prev_end) {
      return Status::Corruption(fmt::format("{}: segment starts at offset {} before the end {} of "
                                            "the segment before it",
                                            it->second.path, it->first, prev_end));
    }
    TXP_RETURN_IF_ERROR(ScanSegment(&it->second, is_last, report));
    prev_end = it->second.end;
  }
  if (segments_.empty()) {
    next_ = 0;
  } else {
    next_ = segments_.rbegin()->second.end;
  }
  visible_ = synced_ = next_;
  return Status::OK();
}

Status Partition::OpenActive() {
  if (segments_.empty()) {
    Segment seg;
    seg.base = seg.end = next_;
    seg.path = SegmentPath(next_);
    segments_.emplace(next_, std::move(seg));
  }
  Segment& seg = segments_.rbegin()->second;
  auto w = env_->NewWritableFile(seg.path, io::OpenMode::kAppend);
  if (!w.ok()) return w.status();
  active_ = std::move(w).value();
  if (!seg.file) {
    TXP_RETURN_IF_ERROR(env_->SyncDir(dir_));  // the new file's name is durable
    auto r = env_->NewRandomAccessFile(seg.path);
    if (!r.ok()) return r.status();
    seg.file = std::move(r).value();
  }
  visible_pos_ = seg.size;
  return Status::OK();
}

Status Partition::Roll() {
  // Everything in the active segment becomes durable and visible first.
  TXP_RETURN_IF_ERROR(active_->Sync());
  TXP_RETURN_IF_ERROR(active_->Close());
  synced_ = visible_ = next_;
  pending_.clear();
  if (options_.notifier) options_.notifier->Notify();
  Segment seg;
  seg.base = seg.end = next_;
  seg.path = SegmentPath(next_);
  segments_.emplace(next_, std::move(seg));
  data_cv_.notify_all();
  return OpenActive();
}

Result<uint64_t> Partition::Append(std::span<char> batch) {
  BatchHeader h;
  TXP_RETURN_IF_ERROR(DecodeHeader(std::string_view(batch.data(), batch.size()), &h));
  if (h.total_size() != batch.size()) {
    return Status::InvalidArgument("partition: append of a partial batch");
  }
  std::unique_lock<std::mutex> l(mu_);
  if (closed_) return Status::Unavailable(fmt::format("{}: closed", dir_));
  if (!failed_.ok()) return failed_;
  Segment* seg = &segments_.rbegin()->second;
  if (seg->size > 0 && seg->size + batch.size() > options_.max_segment_bytes) {
    sync_cv_.wait(l, [&] { return !syncing_; });
    if (Status s = Roll(); !s.ok()) {
      failed_ = s;
      return s;
    }
    seg = &segments_.rbegin()->second;
  }
  uint64_t base = next_;
  SetBaseOffset(batch.data(), base);
  uint64_t pos = seg->size;
  if (Status s = active_->Append(std::string_view(batch.data(), batch.size())); !s.ok()) {
    failed_ = s;
    return s;
  }
  h.base_offset = base;
  IndexBatch(seg, h, pos, options_.index_interval_bytes);
  seg->size += batch.size();
  seg->end = next_ = h.next_offset();
  seg->max_timestamp_ms = std::max(seg->max_timestamp_ms, h.max_timestamp_ms);
  if (options_.flush != FlushPolicy::kBatch) {
    visible_ = next_;
    visible_pos_ = seg->size;
    data_cv_.notify_all();
    if (options_.notifier) options_.notifier->Notify();
    return base;
  }
  pending_.emplace_back(next_, seg->size);
  // Group commit: the first appender to find no sync running syncs everything
  // written so far on behalf of all; the others wait for a sync that covers them.
  const uint64_t target = next_;
  while (synced_ < target) {
    if (!failed_.ok()) return failed_;
    if (syncing_) {
      sync_cv_.wait(l);
      continue;
    }
    TXP_RETURN_IF_ERROR(SyncLocked(l));
  }
  return base;
}

Result<Partition::RetentionResult> Partition::Retain(int64_t min_timestamp_ms,
                                                     uint64_t safe_offset, uint64_t max_bytes) {
  RetentionResult result;
  std::vector<std::string> doomed;
  {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t total = 0;
    for (const auto& [b, seg] : segments_) total += seg.size;
    while (segments_.size() > 1) {
      const Segment& seg = segments_.begin()->second;
      bool expired = seg.max_timestamp_ms < min_timestamp_ms && seg.end <= safe_offset;
      bool over_cap = max_bytes > 0 && total > max_bytes;
      if (!expired && !over_cap) break;
      if (!expired && seg.end > safe_offset) ++result.forced_segments;
      ++result.segments;
      result.bytes += seg.size;
      total -= seg.size;
      doomed.push_back(seg.path);
      segments_.erase(segments_.begin());  // readers holding the file keep reading it
    }
  }
  for (const auto& path : doomed) TXP_RETURN_IF_ERROR(env_->RemoveFile(path));
  if (!doomed.empty()) TXP_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return result;
}

Status Partition::SyncLocked(std::unique_lock<std::mutex>& l) {
  syncing_ = true;
  uint64_t upto = next_;
  io::WritableFile* file = active_.get();
  l.unlock();
  Status s = file->Sync();
  l.lock();
  syncing_ = false;
  if (!s.ok()) {
    failed_ = s;  // after a failed fsync the page cache cannot be trusted
    sync_cv_.notify_all();
    return s;
  }
  synced_ = std::max(synced_, upto);
  visible_ = std::max(visible_, synced_);
  while (!pending_.empty() && pending_.front().first <= synced_) {
    visible_pos_ = pending_.front().second;
    pending_.erase(pending_.begin());
  }
  sync_cv_.notify_all();
  data_cv_.notify_all();
  if (options_.notifier) options_.notifier->Notify();
  return Status::OK();
}

Status Partition::Sync() {
  std::unique_lock<std::mutex> l(mu_);
  sync_cv_.wait(l, [&] { return !syncing_; });
  if (!failed_.ok()) return failed_;
  if (!active_ || synced_ >= next_) return Status::OK();
  return SyncLocked(l);
}

Status Partition::Read(uint64_t offset, size_t max_bytes, std::string* out) {
  out->clear();
  std::shared_ptr<io::RandomAccessFile> file;
  uint64_t pos = 0, limit = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t start = segments_.begin()->second.base;
    if (offset < start) {
      return Status::NotFound(
          fmt::format("{}: offset {} is before the first retained offset {}", dir_, offset, start));
    }
    if (offset >= visible_) return Status::OK();
    auto it = segments_.upper_bound(offset);
    --it;
    while (it != segments_.end() && offset >= it->second.end) ++it;  // past a gap
    if (it == segments_.end()) return Status::OK();
    const Segment& seg = it->second;
    file = seg.file;
    bool active = std::next(it) == segments_.end();
    limit = active ? visible_pos_ : seg.size;
    // The last index entry at or before `offset`.
    auto e = std::upper_bound(seg.index.begin(), seg.index.end(), offset,
                              [](uint64_t o, const auto& entry) { return o < entry.first; });
    pos = e == seg.index.begin() ? 0 : std::prev(e)->second;
  }
  // Skip batches that end before `offset`, reading only their headers.
  char hdr[kBatchHeaderSize];
  while (pos < limit) {
    std::string_view got;
    TXP_RETURN_IF_ERROR(file->Read(pos, kBatchHeaderSize, hdr, &got));
    BatchHeader h;
    TXP_RETURN_IF_ERROR(DecodeHeader(got, &h));
    if (h.next_offset() > offset) break;
    pos += h.total_size();
  }
  if (pos >= limit) return Status::OK();
  size_t n = static_cast<size_t>(
      std::min<uint64_t>(limit - pos, std::max<size_t>(max_bytes, kBatchHeaderSize)));
  out->resize(n);
  std::string_view got;
  TXP_RETURN_IF_ERROR(file->Read(pos, n, out->data(), &got));
  out->resize(got.size());
  // Keep whole batches only; always at least the first one.
  size_t at = 0;
  while (at + kBatchHeaderSize <= out->size()) {
    BatchHeader h;
    TXP_RETURN_IF_ERROR(DecodeHeader(std::string_view(*out).substr(at), &h));
    if (at + h.total_size() > out->size()) {
      if (at == 0) {  // the first batch is larger than max_bytes: read it whole
        out->resize(h.total_size());
        TXP_RETURN_IF_ERROR(file->Read(pos, h.total_size(), out->data(), &got));
        at = got.size();
      }
      break;
    }
    at += h.total_size();
  }
  out->resize(at);
  return Status::OK();
}

bool Partition::WaitFor(uint64_t offset, int64_t timeout_us) {
  std::unique_lock<std::mutex> l(mu_);
  return data_cv_.wait_for(l, std::chrono::microseconds(timeout_us),
                           [&] { return closed_ || visible_ > offset; }) &&
         visible_ > offset;
}

void Partition::Close() {
  std::unique_lock<std::mutex> l(mu_);
  if (closed_) return;
  closed_ = true;
  sync_cv_.wait(l, [&] { return !syncing_; });
  if (active_) {
    if (failed_.ok() && options_.flush != FlushPolicy::kNever && synced_ < next_) {
      active_->Sync().IgnoreError();
    }
    active_->Close().IgnoreError();
  }
  data_cv_.notify_all();
}

uint64_t Partition::start_offset() const {
  std::lock_guard<std::mutex> l(mu_);
  return segments_.begin()->second.base;
}
uint64_t Partition::next_offset() const {
  std::lock_guard<std::mutex> l(mu_);
  return next_;
}
uint64_t Partition::visible_offset() const {
  std::lock_guard<std::mutex> l(mu_);
  return visible_;
}
uint64_t Partition::size_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = 0;
  for (const auto& [b, s] : segments_) n += s.size;
  return n;
}
int Partition::segment_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(segments_.size());
}

}  // namespace txpipe::log
