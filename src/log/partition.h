// Partition: one ordered, durable sequence of record batches, stored as
// segment files in one directory. The unit of ordering and of parallelism.
//
// Thread-safe: many producers may Append and many readers Read at once.
// Appends are serialized; with FlushPolicy::kBatch an Append returns only
// once its batch is on disk, and concurrent appenders share one fdatasync
// (group commit). Readers see only what is durable under the policy (the
// "visible" end), so nothing a reader acted on can vanish in a crash.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/env.h"
#include "log/format.h"

namespace txpipe::log {

enum class FlushPolicy {
  kBatch,     // fdatasync before an append is acknowledged (group commit)
  kInterval,  // the owner calls Sync() every flush_interval_ms; appends visible at once
  kNever,     // the OS decides; appends visible at once
};

// Wakes waiters when any of the partitions sharing it gets visible data:
// lets one reader wait on many partitions. Thread-safe.
class Notifier {
 public:
  uint64_t seq() const {
    std::lock_guard<std::mutex> l(mu_);
    return seq_;
  }
  void Notify() {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++seq_;
    }
    cv_.notify_all();
  }
  // Waits until seq() != `seen` or the timeout passes; returns whether it moved.
  bool WaitChanged(uint64_t seen, int64_t timeout_us) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::microseconds(timeout_us), [&] { return seq_ != seen; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t seq_ = 0;
};

struct PartitionOptions {
  uint64_t max_segment_bytes = 128ull << 20;  // roll to a new segment past this size
  uint32_t index_interval_bytes = 4096;       // one index entry per this many bytes
  FlushPolicy flush = FlushPolicy::kBatch;
  Notifier* notifier = nullptr;               // told when visible data arrives
  // Inspect only: nothing is written or truncated (a damaged tail is reported
  // and hidden), appends fail. For tools reading a log another process owns.
  bool read_only = false;
};

// What Open found and repaired.
struct RecoveryReport {
  uint64_t truncated_bytes = 0;  // dropped from segment tails
  std::vector<std::string> messages;  // one line per repair, for the log
};

class Partition {
 public:
  // Opens (creating if needed) the partition in `dir`, checking the tail of
  // every segment and truncating a torn or corrupt tail (see RecoveryReport).
  static base::Result<std::unique_ptr<Partition>> Open(io::Env* env, const std::string& dir,
                                                       const PartitionOptions& options,
                                                       RecoveryReport* report);
  ~Partition();

  // Appends a batch built by BatchBuilder; writes its base offset into it.
  // Returns the base offset. kBatch: returns after the batch is durable.
  // After a failed write or sync the partition refuses appends (the state of
  // the file is unknown) until reopened; reads go on.
  base::Result<uint64_t> Append(std::span<char> batch);

  // Reads whole batches: the one holding `offset` (or the first after it,
  // past a gap) and those after it, up to about `max_bytes` (at least one).
  // Empty when nothing at or after `offset` is visible yet. kNotFound when
  // `offset` is before the first retained offset.
  base::Status Read(uint64_t offset, size_t max_bytes, std::string* batches);

  // Blocks until an offset >= `offset` is visible, `timeout_us` passes, or
  // Close(). Returns whether data is there.
  bool WaitFor(uint64_t offset, int64_t timeout_us);

  // Deletes whole sealed segments from the front (never the active one):
  // those whose newest record is older than `min_timestamp_ms`, as long as
  // every reader that matters has passed them (segment end <= `safe_offset`);
  // and then, regardless of readers, as many as keep the partition under
  // `max_bytes` (0 = no cap). Returns what was removed.
  struct RetentionResult {
    int segments = 0;
    uint64_t bytes = 0;
    int forced_segments = 0;  // removed over the byte cap before readers passed them
  };
  base::Result<RetentionResult> Retain(int64_t min_timestamp_ms, uint64_t safe_offset,
                                       uint64_t max_bytes);

  // Makes every append durable (for FlushPolicy::kInterval and kNever).
  base::Status Sync();
  // Wakes waiting readers and refuses further appends.
  void Close();

  uint64_t start_offset() const;    // first retained offset
  uint64_t next_offset() const;     // offset the next append gets
  uint64_t visible_offset() const;  // readers see offsets below this
  uint64_t size_bytes() const;      // all segments
  int segment_count() const;

 private:
  struct Segment {
    uint64_t base = 0;  // first offset (from the file name)
    uint64_t end = 0;   // offset after its last batch
    uint64_t size = 0;  // bytes of valid batches
    int64_t max_timestamp_ms = INT64_MIN;
    std::string path;
    std::shared_ptr<io::RandomAccessFile> file;
    std::vector<std::pair<uint64_t, uint64_t>> index;  // (offset, position), sparse
    uint64_t last_indexed_pos = 0;
  };

  Partition(io::Env* env, std::string dir, PartitionOptions options)
      : env_(env), dir_(std::move(dir)), options_(options) {}
  base::Status Recover(RecoveryReport* report);
  base::Status ScanSegment(Segment* seg, bool is_last, RecoveryReport* report);
  base::Status OpenActive();
  base::Status Roll();  // requires mu_ held and no sync running
  // Syncs everything written so far and publishes it to readers. Requires
  // `l` to hold mu_ and no sync running; unlocks it during the fsync.
  base::Status SyncLocked(std::unique_lock<std::mutex>& l);
  static void IndexBatch(Segment* seg, const BatchHeader& h, uint64_t pos, uint32_t interval);
  std::string SegmentPath(uint64_t base) const;

  io::Env* const env_;
  const std::string dir_;
  const PartitionOptions options_;

  mutable std::mutex mu_;
  std::condition_variable sync_cv_;  // a group sync finished
  std::condition_variable data_cv_;  // visible_ moved, or closed
  std::map<uint64_t, Segment> segments_;  // by base offset; the last is active
  std::unique_ptr<io::WritableFile> active_;
  uint64_t next_ = 0;
  uint64_t visible_ = 0;
  uint64_t visible_pos_ = 0;  // bytes of the active segment that are visible
  // Appended but not yet visible (kBatch): (offset after, position after) per batch.
  std::vector<std::pair<uint64_t, uint64_t>> pending_;
  uint64_t synced_ = 0;
  bool syncing_ = false;
  bool closed_ = false;
  base::Status failed_;  // sticky write/sync error
};

}  // namespace txpipe::log
