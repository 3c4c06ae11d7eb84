#include "processors/analytics/dedup.h"

namespace txpipe::processors::analytics {

namespace {
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
}  // namespace

DedupSet::DedupSet(int64_t bucket_us) : bucket_us_(bucket_us > 0 ? bucket_us : 1) {
  table_.assign(1024, 0);
  mask_ = table_.size() - 1;
}

bool DedupSet::Contains(uint64_t hash) const {
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    if (table_[i] == hash) return true;
    if (table_[i] == 0) return false;
  }
}

void DedupSet::Put(uint64_t hash) {
  uint64_t i = hash & mask_;
  while (table_[i] != 0) i = (i + 1) & mask_;
  table_[i] = hash;
}

void DedupSet::Grow() {
  std::vector<uint64_t> old;
  old.swap(table_);
  table_.assign(old.size() * 2, 0);
  mask_ = table_.size() - 1;
  for (uint64_t h : old) {
    if (h != 0) Put(h);
  }
}

bool DedupSet::Insert(uint64_t hash, int64_t time_us) {
  if (Contains(hash)) return false;
  if ((size_ + 1) * 2 > table_.size()) Grow();  // load factor <= 1/2
  Put(hash);
  ++size_;
  buckets_[FloorDiv(time_us, bucket_us_)].push_back(hash);
  return true;
}

void DedupSet::Erase(uint64_t hash) {
  uint64_t i = hash & mask_;
  while (table_[i] != hash) {
    if (table_[i] == 0) return;
    i = (i + 1) & mask_;
  }
  // Backward-shift: move later entries of the probe run into the hole.
  uint64_t hole = i;
  for (uint64_t j = (i + 1) & mask_; table_[j] != 0; j = (j + 1) & mask_) {
    uint64_t home = table_[j] & mask_;
    // Entry j may move to the hole when its home is not in (hole, j].
    bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!between) {
      table_[hole] = table_[j];
      hole = j;
    }
  }
  table_[hole] = 0;
  --size_;
}

void DedupSet::DropBucket(std::map<int64_t, std::vector<uint64_t>>::iterator it) {
  for (uint64_t h : it->second) Erase(h);
  buckets_.erase(it);
}

void DedupSet::ExpireBefore(int64_t cutoff_us) {
  while (!buckets_.empty() && (buckets_.begin()->first + 1) * bucket_us_ <= cutoff_us) {
    DropBucket(buckets_.begin());
  }
}

uint64_t DedupSet::Shrink(uint64_t max) {
  uint64_t before = size_;
  while (size_ > max && !buckets_.empty()) DropBucket(buckets_.begin());
  return before - size_;
}

void DedupSet::Clear() {
  table_.assign(1024, 0);
  mask_ = table_.size() - 1;
  size_ = 0;
  buckets_.clear();
}

void DedupSet::Restore(int64_t bucket, const std::vector<uint64_t>& hashes) {
  auto& list = buckets_[bucket];
  for (uint64_t h : hashes) {
    if (Contains(h)) continue;
    if ((size_ + 1) * 2 > table_.size()) Grow();
    Put(h);
    ++size_;
    list.push_back(h);
  }
}

}  // namespace txpipe::processors::analytics
