#include "processors/analytics/dedup.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace txpipe::processors::analytics {
namespace {

// Against std::unordered_map as a model: random inserts, expiries and
// shrinks, with many colliding low bits (backward-shift deletion).
TEST(DedupSetTest, MatchesModel) {
  std::mt19937_64 rng(7);
  DedupSet set(1000);
  std::unordered_map<uint64_t, int64_t> model;  // hash -> bucket
  int64_t cutoff = 0;
  for (int step = 0; step < 200000; ++step) {
    int op = static_cast<int>(rng() % 100);
    if (op < 95) {
      uint64_t h = rng() % 2 ? rng() % 5000 + 1 : ((rng() % 200) << 12) + 1;  // clusters
      int64_t t = cutoff + static_cast<int64_t>(rng() % 20000);
      bool fresh = model.find(h) == model.end();
      ASSERT_EQ(set.Insert(h, t), fresh) << step;
      if (fresh) model[h] = t / 1000;
    } else if (op < 99) {
      cutoff += static_cast<int64_t>(rng() % 3000);
      set.ExpireBefore(cutoff);
      for (auto it = model.begin(); it != model.end();) {
        it = (it->second + 1) * 1000 <= cutoff ? model.erase(it) : std::next(it);
      }
    } else {
      uint64_t max = model.size() / 2;
      set.Shrink(max);
      // The model drops whole oldest buckets until at most `max` remain.
      while (model.size() > max) {
        int64_t oldest = INT64_MAX;
        for (auto& [h, b] : model) oldest = std::min(oldest, b);
        for (auto it = model.begin(); it != model.end();) {
          it = it->second == oldest ? model.erase(it) : std::next(it);
        }
      }
    }
    ASSERT_EQ(set.size(), model.size()) << step;
  }
  for (auto& [h, b] : model) EXPECT_FALSE(set.Insert(h, b * 1000)) << h;
}

TEST(DedupSetTest, RestoreRoundTrip) {
  DedupSet a(1000);
  for (uint64_t h = 1; h < 5000; ++h) ASSERT_TRUE(a.Insert(h * 7919, static_cast<int64_t>(h)));
  DedupSet b(1000);
  for (const auto& [bucket, hashes] : a.buckets()) b.Restore(bucket, hashes);
  EXPECT_EQ(b.size(), a.size());
  EXPECT_FALSE(b.Insert(7919 * 10, 0));
  EXPECT_TRUE(b.Insert(3, 0));
  b.ExpireBefore(3000);
  EXPECT_TRUE(b.Insert(7919 * 10, 0));   // its bucket [0, 1000) expired
  EXPECT_FALSE(b.Insert(7919 * 4000, 0));  // bucket 3 still there
}

}  // namespace
}  // namespace txpipe::processors::analytics
