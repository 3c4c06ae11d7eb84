#include "log/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace txpipe::log {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using base::Result;
using base::Status;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("txpipe_log_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Log> Open() {
    auto l = Log::Open(io::Env::Default(), dir_, options_);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    return l.ok() ? std::move(l).value() : nullptr;
  }
  static void AppendOne(Partition* p, std::string_view body, int64_t ts_ms) {
    BatchBuilder b;
    b.Add({ts_ms, "", {}, body});
    auto batch = b.Finish();
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(p->Append(*batch).ok());
  }
  std::string dir_;
  LogOptions options_;
};

TEST_F(LogTest, TopicsPersistAcrossReopen) {
  {
    auto log = Open();
    auto t = log->CreateTopic("finance", 2);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ((*t)->partitions(), 2);
    AppendOne((*t)->partition(1), "x", 1);
    EXPECT_EQ(*log->CreateTopic("finance", 2), *t);  // idempotent
    // An existing topic is kept as it is, whatever count the caller asks for.
    EXPECT_EQ(*log->CreateTopic("finance", 3), *t);
    EXPECT_EQ((*t)->partitions(), 2);
  }
  auto log = Open();
  EXPECT_THAT(log->TopicNames(), ::testing::ElementsAre("finance"));
  Topic* t = log->FindTopic("finance");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->partition(0)->next_offset(), 0u);
  EXPECT_EQ(t->partition(1)->next_offset(), 1u);
  EXPECT_EQ(log->FindTopic("cars"), nullptr);
}

// Two components creating one topic at start-up (issue 10): whoever comes
// first creates it, the other gets the same topic, and neither fails.
TEST_F(LogTest, ConcurrentCreatorsOfOneTopicBothSucceed) {
  auto log = Open();
  for (int round = 0; round < 50; ++round) {
    const std::string name = "t" + std::to_string(round);
    Result<Topic*> a = Status::Internal("not run"), b = Status::Internal("not run");
    std::thread ta([&] { a = log->CreateTopic(name, 1); });
    std::thread tb([&] { b = log->CreateTopic(name, 2); });
    ta.join();
    tb.join();
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(*a, *b);
    EXPECT_TRUE((*a)->partitions() == 1 || (*a)->partitions() == 2);
  }
}

TEST_F(LogTest, NamesAreChecked) {
  auto log = Open();
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a/b", "../etc", "sp ace",
                                                          std::string(250, 'a')}) {
    EXPECT_EQ(log->CreateTopic(bad, 1).status().code(), base::Code::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(log->CreateTopic("car-transactions-logs", 1).ok());
  EXPECT_TRUE(log->CreateTopic("finance.windows", 1).ok());
  EXPECT_THAT(log->CreateTopic("t", 0).status().message(), HasSubstr("partitions must be"));
  EXPECT_FALSE(log->CommitOffsets("bad/group", {}).ok());
}

TEST_F(LogTest, SecondOpenOfTheSameDirectoryIsRefused) {
  auto log = Open();
  auto second = Log::Open(io::Env::Default(), dir_, options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), base::Code::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("is in use"));
  EXPECT_THAT(second.status().message(), HasSubstr("pid " + std::to_string(getpid())));
  log.reset();
  EXPECT_TRUE(Log::Open(io::Env::Default(), dir_, options_).ok());
}

TEST_F(LogTest, ReadOnlyOpenInspectsALogAnotherOwnerHolds) {
  auto owner = Open();
  Partition* p = (*owner->CreateTopic("t", 1))->partition(0);
  AppendOne(p, "one", 1);
  AppendOne(p, "two", 2);
  ASSERT_TRUE(owner->CommitOffsets("g", {{{"t", 0}, 1}}).ok());
  LogOptions ro = options_;
  ro.read_only = true;
  auto reader = Log::Open(io::Env::Default(), dir_, ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Topic* t = (*reader)->FindTopic("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->partition(0)->next_offset(), 2u);
  EXPECT_EQ((*reader)->CommittedOffset("g", {"t", 0}), 1u);
  std::string bytes;
  ASSERT_TRUE(t->partition(0)->Read(0, 1 << 20, &bytes).ok());
  EXPECT_FALSE(bytes.empty());
  EXPECT_EQ((*reader)->CreateTopic("u", 1).status().code(), base::Code::kNotSupported);
  BatchBuilder b;
  b.Add({1, "", {}, "x"});
  EXPECT_FALSE(t->partition(0)->Append(*b.Finish()).ok());
  EXPECT_EQ(Log::Open(io::Env::Default(), dir_ + "/nope", ro).status().code(),
            base::Code::kNotFound);
}

TEST_F(LogTest, CommittedOffsetsSurviveReopen) {
  {
    auto log = Open();
    ASSERT_TRUE(log->CommitOffsets("archive", {{{"finance", 0}, 10}, {{"finance", 1}, 7}}).ok());
    ASSERT_TRUE(log->CommitOffsets("archive", {{{"finance", 0}, 12}}).ok());  // merges
    ASSERT_TRUE(log->CommitOffsets("processor", {{{"finance", 0}, 3}}).ok());
  }
  auto log = Open();
  EXPECT_EQ(log->CommittedOffset("archive", {"finance", 0}), 12u);
  EXPECT_EQ(log->CommittedOffset("archive", {"finance", 1}), 7u);
  EXPECT_EQ(log->CommittedOffset("processor", {"finance", 0}), 3u);
  EXPECT_EQ(log->CommittedOffset("processor", {"finance", 1}), std::nullopt);
  EXPECT_EQ(log->CommittedOffset("nobody", {"finance", 0}), std::nullopt);
  EXPECT_THAT(log->GroupNames(), ::testing::ElementsAre("archive", "processor"));
}

TEST_F(LogTest, RetentionDeletesOnlySegmentsEveryGroupHasPassed) {
  options_.partition.max_segment_bytes = 200;  // about one record per segment
  options_.retention_ms = 1000;
  auto log = Open();
  Partition* p = (*log->CreateTopic("t", 1))->partition(0);
  for (int i = 0; i < 10; ++i) AppendOne(p, std::string(150, 'a' + i), 1000 + i);
  int before = p->segment_count();
  ASSERT_GE(before, 10);
  ASSERT_TRUE(log->CommitOffsets("slow", {{{"t", 0}, 4}}).ok());
  ASSERT_TRUE(log->CommitOffsets("fast", {{{"t", 0}, 10}}).ok());
  ASSERT_TRUE(log->EnforceRetention(/*now_ms=*/100'000).ok());
  EXPECT_EQ(p->start_offset(), 4u);  // "slow" still needs offset 4
  EXPECT_EQ(log->stats().retention_segments, 4u);
  std::string bytes;
  EXPECT_EQ(p->Read(0, 100, &bytes).code(), base::Code::kNotFound);
  ASSERT_TRUE(p->Read(4, 100, &bytes).ok());
  EXPECT_FALSE(bytes.empty());
  // Young data stays even when every group has read it.
  ASSERT_TRUE(log->CommitOffsets("slow", {{{"t", 0}, 10}}).ok());
  ASSERT_TRUE(log->EnforceRetention(/*now_ms=*/2005).ok());
  EXPECT_EQ(p->start_offset(), 5u);  // records at 1004 ms and older are over 1000 ms old
  EXPECT_EQ(p->next_offset(), 10u);  // the active segment is never deleted
}

TEST_F(LogTest, ByteCapDeletesUnreadSegmentsAndCountsThem) {
  options_.partition.max_segment_bytes = 200;
  options_.retention_ms = 0;  // no age limit
  options_.retention_bytes = 600;
  auto log = Open();
  Partition* p = (*log->CreateTopic("t", 1))->partition(0);
  for (int i = 0; i < 10; ++i) AppendOne(p, std::string(150, 'x'), 1);
  ASSERT_TRUE(log->CommitOffsets("reader", {{{"t", 0}, 0}}).ok());
  ASSERT_TRUE(log->EnforceRetention(0).ok());
  EXPECT_LE(p->size_bytes(), 600u);
  EXPECT_GT(log->stats().retention_forced_segments, 0u);
  EXPECT_EQ(log->stats().retention_forced_segments, log->stats().retention_segments);
}

}  // namespace
}  // namespace txpipe::log
