// DedupSet: the ids seen within the dedup horizon, as 64-bit hashes.
//
// An open-addressing table (linear probing, backward-shift deletion: no
// tombstones) plus per-time-bucket lists for expiry. ~16-24 bytes per id.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace txpipe::processors::analytics {

class DedupSet {
 public:
  // Ids are grouped by event time into buckets of `bucket_us` for expiry.
  explicit DedupSet(int64_t bucket_us);

  // Inserts `hash` (non-zero) seen at event time `time_us`. Returns false when
  // it is already there (a duplicate).
  bool Insert(uint64_t hash, int64_t time_us);
  // Forgets ids whose time bucket ends at or before `cutoff_us`.
  void ExpireBefore(int64_t cutoff_us);
  // Forgets the oldest buckets until size() <= max. Returns ids dropped.
  uint64_t Shrink(uint64_t max);
  uint64_t size() const { return size_; }
  // Hints the cache about an Insert(hash) coming soon (the table is larger
  // than the caches at high rates: one miss per id otherwise).
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&table_[hash & mask_]); }

  // For checkpoints: every (bucket, hashes) pair, oldest first.
  const std::map<int64_t, std::vector<uint64_t>>& buckets() const { return buckets_; }
  void Clear();
  // Restores one bucket's hashes (as saved by buckets()).
  void Restore(int64_t bucket, const std::vector<uint64_t>& hashes);

 private:
  bool Contains(uint64_t hash) const;
  void Put(uint64_t hash);
  void Erase(uint64_t hash);
  void Grow();
  void DropBucket(std::map<int64_t, std::vector<uint64_t>>::iterator it);

  int64_t bucket_us_;
  std::vector<uint64_t> table_;  // 0 = empty; size a power of two
  uint64_t mask_ = 0;
  uint64_t size_ = 0;
  std::map<int64_t, std::vector<uint64_t>> buckets_;  // bucket index -> hashes
};

}  // namespace txpipe::processors::analytics
