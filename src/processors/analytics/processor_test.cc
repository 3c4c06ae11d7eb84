// The processor on the embedded broker: topics in, topics out, checkpoints,
// restarts, dead letters; results equal the brute-force recomputation and do
// not depend on the number of workers.
#include "processors/analytics/processor.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "brokers/embedded/embedded_broker.h"
#include "processors/analytics/testing_util.h"

namespace txpipe::processors::analytics {
namespace {

namespace fs = std::filesystem;
using testing::FinanceEvent;
using testing::RandomFinance;

constexpr int64_t kT0 = 1795010400LL * 1'000'000;

class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            fmt::format("txpipe_processor_{}_{}", getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/data");
    auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir_ + "/log",
                                                     log::LogOptions{});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
    ASSERT_TRUE(broker_->CreateTopic("finance", 2).ok());
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(dir_);
  }

  // Produces `n` finance events keyed by account: 8% late, 3% re-sent,
  // and every 500th a bad body. Returns the per-partition event lists.
  std::vector<std::vector<FinanceEvent>> Produce(int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto p = broker_->NewProducer("finance", runtime::ProducerOptions{});
    EXPECT_TRUE(p.ok());
    std::vector<std::vector<FinanceEvent>> parts(2);
    std::vector<FinanceEvent> recent;
    for (int i = 0; i < n; ++i) {
      core::EventView ev;
      ev.timestamp_ms = 1;
      if (i % 500 == 499) {
        std::string body = fmt::format("{{\"transaction_id\": \"bad{}\"}}", i);
        ev.key = "A100000";
        ev.body = body;
        ++bad_;
        EXPECT_TRUE((*p)->Add(ev).ok());
        continue;
      }
      int64_t t = kT0 + i * 20'000 + static_cast<int64_t>(rng() % 4'000'000) - 2'000'000;
      if (rng() % 100 < 8) t -= 5'000'000 + static_cast<int64_t>(rng() % 175'000'000);
      FinanceEvent e = RandomFinance(rng, t, static_cast<uint64_t>(i));
      if (rng() % 100 < 3 && recent.size() > 10) e = recent[recent.size() - 1 - rng() % 10];
      recent.push_back(e);
      std::string body = e.Json();
      ev.key = e.account;
      ev.body = body;
      EXPECT_TRUE((*p)->Add(ev).ok());
      parts[runtime::PartitionForKey(e.account, 2)].push_back(e);
    }
    EXPECT_TRUE((*p)->Flush().ok());
    return parts;
  }

  runtime::Context Ctx(base::Clock* clock, const std::string& name) {
    runtime::Context c;
    c.broker = broker_.get();
    c.metrics = &metrics_;
    c.clock = clock;
    c.data_dir = dir_ + "/data";
    c.name = name;
    return c;
  }

  static std::shared_ptr<const Plan> MakePlan(const std::string& name, int workers,
                                              const std::string& out_prefix) {
    AnalyticsOptions o;
    o.topic = "finance";
    o.schema = "finance";
    o.workers = workers;
    o.late_horizon_ms = 24 * 3'600'000LL;
    o.windows_topic = out_prefix + ".windows";
    o.dlq_topic = out_prefix + ".dlq";
    o.alerts_topic = out_prefix + ".alerts";
    auto p = CompilePlan(name, o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return *p;
  }

  uint64_t EndOffset(int partition) {
    return broker_->Describe("finance")->partitions[partition].end_offset;
  }

  // Steps until the processor has applied everything in the input topic.
  void Drain(AnalyticsProcessor* p) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      ASSERT_TRUE(p->Step(50).ok());
      auto o = p->applied_offsets();
      if (o[0] == EndOffset(0) && o[1] == EndOffset(1)) return;
    }
    FAIL() << "the processor did not catch up within 60 s";
  }

  // Last body per key in `topic` (what an upserting store would hold).
  std::map<std::string, std::string> ReadLast(const std::string& topic, size_t* records = nullptr) {
    auto c = broker_->NewConsumer("reader-" + std::to_string(readers_++), {topic}, {});
    EXPECT_TRUE(c.ok());
    std::map<std::string, std::string> out;
    size_t n = 0;
    while (true) {
      auto r = (*c)->Poll(0, [&](const runtime::Message& m) {
        out[std::string(m.event.key)] = std::string(m.event.body);
        ++n;
      });
      EXPECT_TRUE(r.ok());
      if (!r.ok() || *r == 0) break;
    }
    if (records) *records = n;
    return out;
  }

  std::string dir_;
  std::unique_ptr<brokers::embedded::EmbeddedBroker> broker_;
  runtime::Metrics metrics_;
  int readers_ = 0;
  int bad_ = 0;
};

TEST_F(ProcessorTest, WindowsEqualBruteForceAndDoNotDependOnWorkers) {
  auto parts = Produce(30000, 1);
  std::map<std::string, std::string> results[2];
  for (int workers : {1, 2}) {
    base::FakeClock clock(1'000'000);
    std::string prefix = fmt::format("w{}", workers);
    AnalyticsProcessor p(MakePlan(prefix, workers, prefix), Ctx(&clock, prefix));
    ASSERT_TRUE(p.Open().ok());
    Drain(&p);
    clock.Advance(3'600'000'000LL);  // everything idle: the last windows close
    ASSERT_TRUE(p.Step(0).ok());
    ASSERT_TRUE(p.Close().ok());
    results[workers - 1] = ReadLast(prefix + ".windows");
    EXPECT_EQ(metrics_.CounterValue("txpipe_processor_rejected_total",
                                    {{"processor", prefix}, {"reason", "missing_field"}}),
              static_cast<uint64_t>(bad_));
    EXPECT_GT(metrics_.CounterValue("txpipe_processor_duplicates_total", {{"processor", prefix}}), 100u);
  }
  ASSERT_FALSE(results[0].empty());
  // The stream name is part of every key: compare them under one name.
  std::map<std::string, std::string> w2;
  for (auto& [k, v] : results[1]) {
    std::string key = "w1" + k.substr(2);
    std::string body = v;
    for (size_t at; (at = body.find("\"w2\"")) != std::string::npos;) body.replace(at, 4, "\"w1\"");
    w2[key] = body;
  }
  EXPECT_EQ(results[0], w2);

  // And the values are right: the brute force over the same per-partition order.
  std::map<std::string, testing::Expected> want;
  for (const auto& events : parts) {
    int64_t max_t = INT64_MIN;
    std::set<std::string> seen;
    for (const FinanceEvent& e : events) {
      if (seen.insert(e.id).second) {
        for (auto [size, name] : {std::pair<int64_t, const char*>{10'000'000, "10s"}, {60'000'000, "1m"}}) {
          int64_t start = (e.time_us / size) * size;
          testing::AddExpected(e, fmt::format("w1|{}|{}", name, start / 1000), &want);
        }
      }
      max_t = std::max(max_t, e.time_us);
    }
  }
  ASSERT_EQ(want.size(), results[0].size());
  simdjson::dom::parser json;
  for (const auto& [key, x] : want) {
    auto it = results[0].find(key);
    ASSERT_NE(it, results[0].end()) << key;
    simdjson::dom::element doc = json.parse(it->second);
    ASSERT_EQ(int64_t(doc["count"]), x.count) << key;
    EXPECT_NEAR(double(doc["fields"]["amount_usd_sum"]), static_cast<double>(x.sum.at("amount_usd")), 1e-3);
  }

  // Dead letters keep the event and say why.
  auto dlq = broker_->NewConsumer("dlq-reader", {"w1.dlq"}, {});
  ASSERT_TRUE(dlq.ok());
  int dead = 0;
  ASSERT_TRUE((*dlq)->Poll(0, [&](const runtime::Message& m) {
    ++dead;
    EXPECT_EQ(m.event.header("error"), "missing_field");
    EXPECT_NE(m.event.header("error_message").find("account_id"), std::string_view::npos)
        << m.event.header("error_message");
    EXPECT_EQ(m.event.header("source_topic"), "finance");
    EXPECT_FALSE(m.event.header("source_offset").empty());
    EXPECT_TRUE(m.event.body.starts_with("{\"transaction_id\": \"bad"));
  }).ok());
  EXPECT_EQ(dead, bad_);
}

// A crash (no Close, so no final checkpoint) after an earlier checkpoint:
// the restarted processor re-reads from the checkpoint's offsets and the
// latest value of every window equals an uninterrupted run's.
TEST_F(ProcessorTest, CrashAndRestartEqualsUninterruptedRun) {
  Produce(30000, 2);
  auto run_clean = [&] {
    base::FakeClock clock(1'000'000);
    AnalyticsProcessor p(MakePlan("s", 2, "clean"), Ctx(&clock, "clean"));
    EXPECT_TRUE(p.Open().ok());
    Drain(&p);
    clock.Advance(3'600'000'000LL);
    EXPECT_TRUE(p.Step(0).ok());
    EXPECT_TRUE(p.Close().ok());
  };
  run_clean();
  base::FakeClock clock(1'000'000);
  std::string ckpt;
  {
    AnalyticsProcessor p(MakePlan("s", 2, "crash"), Ctx(&clock, "crash"));
    ASSERT_TRUE(p.Open().ok());
    // One poll's batch (~8,000 events of 4 MiB), a checkpoint, one more batch.
    ASSERT_TRUE(p.Step(5000).ok());
    ASSERT_TRUE(p.Checkpoint().ok());
    ASSERT_TRUE(p.Step(5000).ok());
    ckpt = p.checkpoint_path();
  }  // destroyed without Close: what was applied after the checkpoint is lost
  ASSERT_TRUE(fs::exists(ckpt));
  {
    AnalyticsProcessor p(MakePlan("s", 1, "crash"), Ctx(&clock, "crash"));  // fewer workers now
    ASSERT_TRUE(p.Open().ok());
    auto restored = p.applied_offsets();
    EXPECT_GT(restored[0] + restored[1], 0u);
    EXPECT_LT(restored[0] + restored[1], EndOffset(0) + EndOffset(1));  // a real replay follows
    Drain(&p);
    clock.Advance(3'600'000'000LL);
    ASSERT_TRUE(p.Step(0).ok());
    ASSERT_TRUE(p.Close().ok());
  }
  size_t clean_records = 0, crash_records = 0;
  auto clean = ReadLast("clean.windows", &clean_records);
  auto crashed = ReadLast("crash.windows", &crash_records);
  EXPECT_FALSE(clean.empty());
  EXPECT_EQ(clean, crashed);
  EXPECT_GE(crash_records, clean_records);  // re-emits after the restart, same keys and values
  // A clean restart on the same checkpoint has nothing left to do.
  AnalyticsProcessor again(MakePlan("s", 2, "crash"), Ctx(&clock, "crash"));
  ASSERT_TRUE(again.Open().ok());
  EXPECT_EQ(again.applied_offsets()[0], EndOffset(0));
  ASSERT_TRUE(again.Close().ok());
  EXPECT_EQ(broker_->GroupOffsets("processor-crash")[runtime::TopicPartition({"finance", 0})],
            EndOffset(0));
}

TEST_F(ProcessorTest, RefusesACheckpointOfAnotherConfiguration) {
  Produce(1000, 3);
  base::FakeClock clock(1'000'000);
  {
    AnalyticsProcessor p(MakePlan("s", 1, "x"), Ctx(&clock, "x"));
    ASSERT_TRUE(p.Open().ok());
    Drain(&p);
    ASSERT_TRUE(p.Close().ok());
  }
  AnalyticsOptions o;
  o.topic = "finance";
  o.schema = "finance";
  o.windows = {"30s"};
  o.windows_topic = "x.windows";
  o.dlq_topic = "x.dlq";
  o.alerts_topic = "x.alerts";
  AnalyticsProcessor p(*CompilePlan("x", o), Ctx(&clock, "x"));
  base::Status s = p.Open();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("processors/x/checkpoint"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("other windows"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace txpipe::processors::analytics
