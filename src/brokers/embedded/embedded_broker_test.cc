#include "brokers/embedded/embedded_broker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

namespace txpipe::brokers::embedded {
namespace {

namespace fs = std::filesystem;
using runtime::TopicPartition;

class EmbeddedBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("txpipe_broker_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    broker_.reset();
    auto b = EmbeddedBroker::Open(io::Env::Default(), dir_, log::LogOptions{});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
  }
  void Produce(const std::string& topic, int from, int n, bool keyed) {
    auto p = broker_->NewProducer(topic, runtime::ProducerOptions{});
    ASSERT_TRUE(p.ok());
    core::HeaderView h{"source", "test"};
    for (int i = from; i < from + n; ++i) {
      std::string key = keyed ? "A" + std::to_string(i % 97) : "";
      std::string body = "{\"n\": " + std::to_string(i) + "}";
      ASSERT_TRUE((*p)->Add({i, key, std::span(&h, 1), body}).ok());
    }
    EXPECT_EQ((*p)->pending(), static_cast<size_t>(n));
    ASSERT_TRUE((*p)->Flush().ok());
    EXPECT_EQ((*p)->pending(), 0u);
  }
  // Polls until `n` messages arrived; returns their bodies by partition.
  std::map<int, std::vector<std::string>> Consume(runtime::Consumer* c, size_t n) {
    std::map<int, std::vector<std::string>> out;
    size_t got = 0;
    while (got < n) {
      auto r = c->Poll(5000, [&](const runtime::Message& m) {
        EXPECT_EQ(m.event.header("source"), "test");
        out[m.tp->partition].emplace_back(m.event.body);
        ++got;
      });
      EXPECT_TRUE(r.ok());
      if (!r.ok() || *r == 0) break;
    }
    return out;
  }

  std::string dir_;
  std::unique_ptr<EmbeddedBroker> broker_;
};

TEST_F(EmbeddedBrokerTest, KeyedEventsKeepPerKeyOrderAndCommittedOffsetsResume) {
  ASSERT_TRUE(broker_->CreateTopic("finance", 2).ok());
  Produce("finance", 0, 1000, true);
  auto info = broker_->Describe("finance");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->partitions[0].end_offset + info->partitions[1].end_offset, 1000u);
  EXPECT_GT(info->partitions[0].end_offset, 300u);  // keys spread

  auto c = broker_->NewConsumer("archive", {"finance"}, {});
  ASSERT_TRUE(c.ok());
  auto got = Consume(c->get(), 1000);
  std::set<std::string> all;
  for (auto& [p, bodies] : got) all.insert(bodies.begin(), bodies.end());
  EXPECT_EQ(all.size(), 1000u);
  // Commit only partition 0, then a restarted member resumes there and
  // re-reads partition 1 from the start.
  ASSERT_TRUE((*c)->Commit({{{"finance", 0}, (*c)->position({"finance", 0})}}).ok());
  c->reset();
  Reopen();
  Produce("finance", 1000, 10, true);
  auto again = broker_->NewConsumer("archive", {"finance"}, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Committed({"finance", 1}), std::nullopt);
  auto rest = Consume(again->get(), got[1].size() + 10);
  size_t p0_new = rest[0].size();
  EXPECT_EQ(rest[1].size() + p0_new, got[1].size() + 10);
  EXPECT_LT(p0_new, 10u + 1);
}

TEST_F(EmbeddedBrokerTest, KeylessEventsUseAllPartitions) {
  ASSERT_TRUE(broker_->CreateTopic("cars", 2).ok());
  for (int i = 0; i < 10; ++i) Produce("cars", i * 10, 10, false);
  auto info = broker_->Describe("cars");
  EXPECT_EQ(info->partitions[0].end_offset, 50u);
  EXPECT_EQ(info->partitions[1].end_offset, 50u);
}

TEST_F(EmbeddedBrokerTest, PollWaitsForDataAndWakeupInterrupts) {
  ASSERT_TRUE(broker_->CreateTopic("t", 2).ok());
  auto c = broker_->NewConsumer("g", {"t"}, {});
  ASSERT_TRUE(c.ok());
  std::thread producer([&] { Produce("t", 0, 1, true); });
  size_t got = 0;
  auto r = (*c)->Poll(30'000, [&](const runtime::Message&) { ++got; });
  producer.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(got, 1u);
  std::thread waker([&] { (*c)->Wakeup(); });
  auto idle = (*c)->Poll(30'000, [&](const runtime::Message&) { ++got; });
  waker.join();
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(*idle, 0u);  // returned on the wakeup, not after 30 s
}

TEST_F(EmbeddedBrokerTest, SeekInsidePollCallbackWins) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  Produce("t", 0, 20, false);
  auto c = broker_->NewConsumer("g", {"t"}, {});
  ASSERT_TRUE(c.ok());
  std::vector<uint64_t> seen;
  bool rewound = false;
  auto poll = [&] {
    return (*c)->Poll(1000, [&](const runtime::Message& m) {
      seen.push_back(m.offset);
      if (m.offset == 5 && !rewound) {
        rewound = true;
        ASSERT_TRUE((*c)->Seek(*m.tp, 2).ok());
      }
    });
  };
  ASSERT_TRUE(poll().ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ((*c)->position({"t", 0}), 2u);
  seen.clear();
  ASSERT_TRUE(poll().ok());
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), 2u);
}

TEST_F(EmbeddedBrokerTest, LatestStartSeekAndPartitionSubsets) {
  ASSERT_TRUE(broker_->CreateTopic("t", 2).ok());
  Produce("t", 0, 100, true);
  runtime::ConsumerOptions latest;
  latest.start = runtime::StartFrom::kLatest;
  auto c = broker_->NewConsumer("late", {"t"}, latest);
  ASSERT_TRUE(c.ok());
  size_t got = 0;
  EXPECT_EQ(*(*c)->Poll(10, [&](const runtime::Message&) { ++got; }), 0u);
  ASSERT_TRUE((*c)->Seek({"t", 0}, 0).ok());
  auto back = Consume(c->get(), broker_->Describe("t")->partitions[0].end_offset);
  EXPECT_EQ(back[0].size(), broker_->Describe("t")->partitions[0].end_offset);
  runtime::ConsumerOptions only1;
  only1.partitions = {1};
  auto one = broker_->NewConsumer("split", {"t"}, only1);
  ASSERT_TRUE(one.ok());
  EXPECT_THAT((*one)->assignment(), ::testing::ElementsAre(TopicPartition{"t", 1}));
  EXPECT_EQ(broker_->NewConsumer("g", {"nope"}, {}).status().code(), base::Code::kNotFound);
}

}  // namespace
}  // namespace txpipe::brokers::embedded
