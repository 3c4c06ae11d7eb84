#include "log/partition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "io/testing/fault_env.h"

namespace txpipe::log {
namespace {

namespace fs = std::filesystem;

struct Rec {
  uint64_t offset;
  std::string body;
  bool operator==(const Rec&) const = default;
};

// Builds one batch of bodies.
std::string MakeBatch(const std::vector<std::string>& bodies, Codec codec = Codec::kNone) {
  BatchBuilder b(codec);
  HeaderView h{"source", "test"};
  for (const auto& body : bodies) b.Add({1795428513000, "k", std::span(&h, 1), body});
  auto r = b.Finish();
  EXPECT_TRUE(r.ok());
  return std::string(r->data(), r->size());
}

uint64_t Append(Partition* p, const std::vector<std::string>& bodies, Codec codec = Codec::kNone) {
  std::string b = MakeBatch(bodies, codec);
  auto r = p->Append(std::span(b.data(), b.size()));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : UINT64_MAX;
}

// Every visible record from `from` on.
std::vector<Rec> ReadAll(Partition* p, uint64_t from, size_t max_bytes = 1000) {
  std::vector<Rec> out;
  std::string bytes;
  BatchDecoder d;
  uint64_t next = from;
  for (;;) {
    base::Status s = p->Read(next, max_bytes, &bytes);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok() || bytes.empty()) break;
    std::string_view rest = bytes;
    while (!rest.empty()) {
      BatchHeader h;
      EXPECT_TRUE(DecodeHeader(rest, &h).ok());
      EXPECT_TRUE(VerifyCrc(h, rest).ok());
      std::vector<RecordView> recs;
      EXPECT_TRUE(d.Decode(h, rest, &recs).ok());
      for (uint32_t i = 0; i < recs.size(); ++i) {
        if (h.base_offset + i >= next) out.push_back({h.base_offset + i, std::string(recs[i].body)});
      }
      next = h.next_offset();
      rest.remove_prefix(h.total_size());
    }
  }
  return out;
}

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("txpipe_part_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Partition> Open(io::Env* env = io::Env::Default()) {
    report_ = {};
    auto p = Partition::Open(env, dir_, options_, &report_);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  std::string LastSegment() const {
    std::string last;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ".log" && e.path().string() > last) last = e.path().string();
    }
    return last;
  }

  std::string dir_;
  PartitionOptions options_;
  RecoveryReport report_;
};

TEST_F(PartitionTest, AppendsGetConsecutiveOffsetsAndReadBack) {
  auto p = Open();
  EXPECT_EQ(Append(p.get(), {"a", "b", "c"}), 0u);
  EXPECT_EQ(Append(p.get(), {"d"}, Codec::kZstd), 3u);
  EXPECT_EQ(p->next_offset(), 4u);
  EXPECT_EQ(p->visible_offset(), 4u);
  EXPECT_EQ(ReadAll(p.get(), 0),
            (std::vector<Rec>{{0, "a"}, {1, "b"}, {2, "c"}, {3, "d"}}));
  EXPECT_EQ(ReadAll(p.get(), 2), (std::vector<Rec>{{2, "c"}, {3, "d"}}));
  EXPECT_TRUE(ReadAll(p.get(), 4).empty());
}

TEST_F(PartitionTest, RollsSegmentsAndRecoversAfterReopen) {
  options_.max_segment_bytes = 1000;
  options_.index_interval_bytes = 200;
  std::vector<Rec> want;
  {
    auto p = Open();
    for (int i = 0; i < 300; ++i) {
      std::string body = "event-" + std::to_string(i) + std::string(i % 50, 'x');
      uint64_t off = Append(p.get(), {body}, i % 2 ? Codec::kZstd : Codec::kNone);
      ASSERT_EQ(off, static_cast<uint64_t>(i));
      want.push_back({off, body});
    }
    EXPECT_GT(p->segment_count(), 5);
    EXPECT_EQ(ReadAll(p.get(), 0), want);
  }
  auto p = Open();
  EXPECT_TRUE(report_.messages.empty());
  EXPECT_EQ(p->next_offset(), 300u);
  EXPECT_EQ(ReadAll(p.get(), 0, 1), want);  // one batch per read
  for (uint64_t from : {1u, 77u, 150u, 299u}) {
    auto got = ReadAll(p.get(), from, 300);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front().offset, from);
    EXPECT_EQ(got.size(), 300 - from);
  }
  EXPECT_EQ(Append(p.get(), {"after"}), 300u);
}

// The corruption table: every way the last batch can be damaged ends with
// that batch dropped, the ones before intact, and the next offset reused.
TEST_F(PartitionTest, DamagedTailIsTruncatedToTheLastValidBatch) {
  std::vector<Rec> want;
  {
    auto p = Open();
    for (int i = 0; i < 5; ++i) {
      Append(p.get(), {"keep-" + std::to_string(i)});
      want.push_back({static_cast<uint64_t>(i), "keep-" + std::to_string(i)});
    }
    Append(p.get(), {"last-1", "last-2"}, Codec::kZstd);
  }
  std::string seg = LastSegment();
  std::string pristine;
  {
    std::ifstream in(seg, std::ios::binary);
    pristine.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t good = MakeBatch({"keep-0"}).size() * 5;
  ASSERT_LT(good, pristine.size());
  struct Damage {
    std::string name;
    std::string bytes;
  };
  std::vector<Damage> cases;
  for (size_t cut = good; cut < pristine.size(); ++cut) {
    cases.push_back({"truncated at " + std::to_string(cut), pristine.substr(0, cut)});
  }
  for (size_t byte = good + 8; byte < pristine.size(); ++byte) {  // base offset is not checked
    std::string b = pristine;
    b[byte] ^= 0x10;
    cases.push_back({"bit flip at " + std::to_string(byte), b});
  }
  cases.push_back({"zero-filled tail", pristine.substr(0, good) + std::string(4096, '\0')});
  cases.push_back({"zeroed last batch", pristine.substr(0, good) +
                                            std::string(pristine.size() - good, '\0')});
  cases.push_back({"garbage tail", pristine + "garbage"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    {
      std::ofstream out(seg, std::ios::binary | std::ios::trunc);
      out << c.bytes;
    }
    auto p = Open();
    ASSERT_NE(p, nullptr);
    if (c.name == "garbage tail") {
      EXPECT_EQ(p->next_offset(), 7u);  // the last batch survives; the garbage goes
    } else {
      EXPECT_EQ(p->next_offset(), 5u);
      EXPECT_EQ(ReadAll(p.get(), 0), want);
    }
    if (c.bytes.size() != good) {
      ASSERT_EQ(report_.messages.size(), 1u);
      EXPECT_THAT(report_.messages[0], ::testing::HasSubstr("truncated"));
    }
    EXPECT_EQ(fs::file_size(seg), c.name == "garbage tail" ? pristine.size() : good);
  }
}

// Group commit: appenders that write while a sync runs share the next one.
// The first sync is held until every appender has written its batch, so the
// test does not depend on how long fsync takes (free on a tmpfs).
TEST_F(PartitionTest, ConcurrentAppendersShareSyncs) {
  io::FaultEnv env;
  auto p = Open(&env);
  constexpr int kThreads = 4;
  std::mutex mu;
  std::condition_variable cv;
  bool held = false, release = false;
  env.SetSyncHook([&] {
    std::unique_lock l(mu);
    if (held) return;
    held = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  const uint64_t syncs_before = env.syncs();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { Append(p.get(), {"t" + std::to_string(t)}); });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (p->next_offset() < kThreads && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(p->next_offset(), static_cast<uint64_t>(kThreads));  // all written, none acked
  {
    std::lock_guard l(mu);
    EXPECT_TRUE(held);
    release = true;
  }
  cv.notify_all();
  for (auto& th : threads) th.join();
  const uint64_t syncs = env.syncs() - syncs_before;
  EXPECT_GE(syncs, 1u);
  EXPECT_LE(syncs, 2u);  // the held one, and at most one for all who wrote meanwhile
  env.SetSyncHook(nullptr);
}

// Many appenders at once: every batch lands once, each producer's order is kept.
TEST_F(PartitionTest, ConcurrentAppendersKeepTheirOrder) {
  auto p = Open();
  constexpr int kThreads = 4, kEach = 300;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> offsets(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        offsets[t].push_back(Append(p.get(), {"t" + std::to_string(t) + "-" + std::to_string(i)}));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& v : offsets) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));  // each producer's order is kept
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*all.rbegin(), kThreads * kEach - 1u);
  EXPECT_EQ(ReadAll(p.get(), 0).size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(PartitionTest, ReaderWakesOnAppend) {
  auto p = Open();
  std::thread writer([&] { Append(p.get(), {"late"}); });
  EXPECT_TRUE(p->WaitFor(0, 30'000'000));
  writer.join();
  EXPECT_EQ(ReadAll(p.get(), 0), (std::vector<Rec>{{0, "late"}}));
  EXPECT_FALSE(p->WaitFor(1, 1000));  // nothing more: times out
}

TEST_F(PartitionTest, FailedSyncStopsAppendsAndLosesNothingAcknowledged) {
  io::FaultEnv env;
  std::vector<Rec> want;
  {
    auto p = Open(&env);
    for (int i = 0; i < 10; ++i) {
      want.push_back({Append(p.get(), {"ok-" + std::to_string(i)}), "ok-" + std::to_string(i)});
    }
    env.FailSyncs(true);
    std::string b = MakeBatch({"unacked"});
    EXPECT_FALSE(p->Append(std::span(b.data(), b.size())).ok());
    env.FailSyncs(false);
    EXPECT_FALSE(p->Append(std::span(b.data(), b.size())).ok());  // sticky
    EXPECT_EQ(ReadAll(p.get(), 0), want);  // the unacknowledged batch is not visible
  }
  ASSERT_TRUE(env.Crash(/*torn=*/true, 3).ok());
  auto p = Open();
  auto got = ReadAll(p.get(), 0);
  ASSERT_GE(got.size(), want.size());
  EXPECT_EQ(std::vector<Rec>(got.begin(), got.begin() + want.size()), want);
}

// Randomized test against an in-memory model: appends of random batches,
// reads from random offsets, reopens, and crashes in the middle of a write
// (torn tail). Acknowledged records are never lost or changed; offsets never
// go back.
class PartitionModelTest : public PartitionTest,
                           public ::testing::WithParamInterface<uint64_t> {};

TEST_P(PartitionModelTest, RandomOperationsAgreeWithModel) {
  options_.max_segment_bytes = 4096;
  options_.index_interval_bytes = 512;
  std::mt19937_64 rng(GetParam());
  io::FaultEnv env;
  std::vector<Rec> model;
  auto p = Open(&env);
  for (int step = 0; step < 1500; ++step) {
    int op = static_cast<int>(rng() % 100);
    if (op < 70) {
      std::vector<std::string> bodies;
      for (uint64_t i = 0, n = 1 + rng() % 8; i < n; ++i) {
        bodies.push_back(std::string(rng() % 300, static_cast<char>('a' + rng() % 26)) +
                         std::to_string(step));
      }
      std::string b = MakeBatch(bodies, rng() % 2 ? Codec::kZstd : Codec::kNone);
      auto r = p->Append(std::span(b.data(), b.size()));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(*r, model.size());
      for (size_t i = 0; i < bodies.size(); ++i) model.push_back({*r + i, bodies[i]});
    } else if (op < 85) {
      uint64_t from = model.empty() ? 0 : rng() % (model.size() + 1);
      auto got = ReadAll(p.get(), from, 1 + rng() % 3000);
      ASSERT_EQ(got, std::vector<Rec>(model.begin() + from, model.end())) << "step " << step;
    } else if (op < 92) {
      p.reset();
      p = Open(&env);
      ASSERT_TRUE(report_.messages.empty());
    } else {
      // A write fails partway (as a kill mid-write would leave it), then power is lost.
      env.FailWritesAfter(static_cast<int64_t>(rng() % 600));
      std::string b = MakeBatch({std::string(700, 'z')});
      EXPECT_FALSE(p->Append(std::span(b.data(), b.size())).ok());
      p.reset();
      ASSERT_TRUE(env.Crash(/*torn=*/true, rng()).ok());
      p = Open(&env);
    }
    ASSERT_EQ(p->next_offset(), model.size()) << "step " << step;
  }
  EXPECT_EQ(ReadAll(p.get(), 0), model);
}

INSTANTIATE_TEST_SUITE_P(Seeds, PartitionModelTest, ::testing::Values(20261123, 1, 2, 3));

}  // namespace
}  // namespace txpipe::log
