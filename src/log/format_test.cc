#include "log/format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

namespace txpipe::log {
namespace {

struct Owned {
  int64_t ts;
  std::string key;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

std::vector<Owned> Sample(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Owned> out;
  for (int i = 0; i < n; ++i) {
    Owned o;
    o.ts = 1795428513000 + static_cast<int64_t>(rng() % 5000) - 2500;  // not monotonic
    o.key = i % 3 == 0 ? "" : "A" + std::to_string(rng() % 1000000);
    for (uint64_t h = 0; h < rng() % 4; ++h) o.headers.emplace_back("h" + std::to_string(h), "v");
    o.body = std::string(rng() % 600, static_cast<char>('a' + i % 26));
    out.push_back(o);
  }
  return out;
}

std::string Build(const std::vector<Owned>& recs, Codec codec, uint64_t base) {
  BatchBuilder b(codec);
  for (const auto& o : recs) {
    std::vector<HeaderView> hs;
    for (const auto& [k, v] : o.headers) hs.push_back({k, v});
    b.Add({o.ts, o.key, hs, o.body});
  }
  auto r = b.Finish();
  EXPECT_TRUE(r.ok());
  std::string batch(r->data(), r->size());
  SetBaseOffset(batch.data(), base);
  return batch;
}

void ExpectDecodes(const std::string& batch, const std::vector<Owned>& want, uint64_t base) {
  BatchHeader h;
  ASSERT_TRUE(DecodeHeader(batch, &h).ok());
  EXPECT_EQ(h.base_offset, base);
  EXPECT_EQ(h.record_count, want.size());
  EXPECT_EQ(h.total_size(), batch.size());
  ASSERT_TRUE(VerifyCrc(h, batch).ok());
  BatchDecoder d;
  std::vector<RecordView> got;
  ASSERT_TRUE(d.Decode(h, batch, &got).ok());
  ASSERT_EQ(got.size(), want.size());
  int64_t max_ts = INT64_MIN;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].timestamp_ms, want[i].ts);
    EXPECT_EQ(got[i].key, want[i].key);
    EXPECT_EQ(got[i].body, want[i].body);
    ASSERT_EQ(got[i].headers.size(), want[i].headers.size());
    for (size_t k = 0; k < want[i].headers.size(); ++k) {
      EXPECT_EQ(got[i].headers[k].key, want[i].headers[k].first);
      EXPECT_EQ(got[i].headers[k].value, want[i].headers[k].second);
    }
    max_ts = std::max(max_ts, want[i].ts);
  }
  EXPECT_EQ(h.first_timestamp_ms, want[0].ts);
  EXPECT_EQ(h.max_timestamp_ms, max_ts);
}

TEST(FormatTest, RoundTripsUncompressedAndZstd) {
  auto recs = Sample(500, 1);
  std::string plain = Build(recs, Codec::kNone, 42);
  std::string packed = Build(recs, Codec::kZstd, 42);
  ExpectDecodes(plain, recs, 42);
  ExpectDecodes(packed, recs, 42);
  BatchHeader h;
  ASSERT_TRUE(DecodeHeader(packed, &h).ok());
  EXPECT_EQ(h.codec(), Codec::kZstd);
  EXPECT_LT(packed.size(), plain.size() / 4);  // repetitive bodies compress
}

TEST(FormatTest, IncompressibleZstdBatchIsStoredPlain) {
  std::mt19937_64 rng(3);
  std::vector<Owned> recs(1);
  recs[0].ts = 1;
  for (int i = 0; i < 4000; ++i) recs[0].body.push_back(static_cast<char>(rng()));
  std::string b = Build(recs, Codec::kZstd, 0);
  BatchHeader h;
  ASSERT_TRUE(DecodeHeader(b, &h).ok());
  EXPECT_EQ(h.codec(), Codec::kNone);
  ExpectDecodes(b, recs, 0);
}

TEST(FormatTest, BaseOffsetIsOutsideTheCrc) {
  auto recs = Sample(3, 2);
  std::string b = Build(recs, Codec::kNone, 0);
  SetBaseOffset(b.data(), 1'000'000);
  ExpectDecodes(b, recs, 1'000'000);
}

TEST(FormatTest, EveryBitFlipIsDetected) {
  auto recs = Sample(20, 4);
  for (Codec codec : {Codec::kNone, Codec::kZstd}) {
    std::string good = Build(recs, codec, 7);
    for (size_t byte = 8; byte < good.size(); ++byte) {  // the base offset is not protected
      for (int bit = 0; bit < 8; bit += 3) {
        std::string bad = good;
        bad[byte] ^= static_cast<char>(1 << bit);
        BatchHeader h;
        base::Status s = DecodeHeader(bad, &h);
        if (s.ok()) s = bad.size() < h.total_size() ? base::Status::Corruption("short")
                                                    : VerifyCrc(h, bad);
        ASSERT_FALSE(s.ok()) << "byte " << byte << " bit " << bit;
        EXPECT_EQ(s.code(), base::Code::kCorruption);
      }
    }
  }
}

TEST(FormatTest, HeaderChecksNameTheProblem) {
  BatchHeader h;
  EXPECT_THAT(DecodeHeader("short", &h).message(), ::testing::HasSubstr("truncated"));
  std::string zeros(kBatchHeaderSize, '\0');
  EXPECT_THAT(DecodeHeader(zeros, &h).message(), ::testing::HasSubstr("bad batch magic 0"));
}

}  // namespace
}  // namespace txpipe::log
