// Start-up of a pipeline (issue 10): every topic is created once, before any
// component opens, with one agreed partition count; creators that meet an
// existing topic accept it, in either order; a component that cannot start
// stops the pipeline before anything runs.
#include "app/pipeline.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "api/ingest.h"
#include "brokers/embedded/embedded_broker.h"
#include "config/node.h"

namespace txpipe::app {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class PipelineStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (fs::temp_directory_path() / fmt::format("txpipe_app_{}_{}", getpid(), info->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Pipeline Parse(const std::string& body) {
    auto root = config::ParseToml(fmt::format("data_dir = \"{}\"\n{}", dir_, body), "test.toml");
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    auto p = ParsePipeline(*root);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return std::move(p).value();
  }

  // Runs `p` until every component has started, and returns each topic's
  // partition count as seen at that moment (or the error).
  base::Result<std::map<std::string, int>> StartAndStop(const Pipeline& p) {
    runtime::Metrics metrics;
    base::StopFlag stop;
    std::map<std::string, int> topics;
    PipelineHooks hooks;
    hooks.on_start = [&](runtime::Broker* broker) {
      for (const auto& t : broker->Topics()) {
        topics[t] = static_cast<int>(broker->Describe(t)->partitions.size());
      }
      stop.Request();
      return base::Status::OK();
    };
    base::Status s = RunPipeline(p, stop, &metrics, hooks);
    if (!s.ok()) return s;
    return topics;
  }

  std::unique_ptr<brokers::embedded::EmbeddedBroker> OpenBroker() {
    auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir_ + "/log",
                                                     log::LogOptions{});
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return std::move(b).value();
  }

  std::string dir_;
};

constexpr const char* kCars = R"(
[broker]
partitions = 3
[http]
listen = ""
topics = ["car-transactions-logs"]
[processors.cars]
type = "analytics"
topic = "car-transactions-logs"
schema = "cars"
[sinks.store]
type = "store"
topics = ["car-transactions-logs.windows", "alerts"]
)";

// The race of issue 10 came from the cars processor and POST /api/logs both
// creating car-transactions-logs.dlq, with different counts. Now the pipeline
// creates every topic first, each with [broker] partitions.
TEST_F(PipelineStartTest, EveryTopicIsCreatedWithBrokerPartitionsBeforeComponentsOpen) {
  auto topics = StartAndStop(Parse(kCars));
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  EXPECT_EQ(*topics, (std::map<std::string, int>{{"alerts", 3},
                                                 {"car-transactions-logs", 3},
                                                 {"car-transactions-logs.dlq", 3},
                                                 {"car-transactions-logs.windows", 3}}));
}

// A topic that exists keeps its count (a data dir made by an older version,
// or a topic a user made by hand), and the pipeline runs on it.
TEST_F(PipelineStartTest, AnExistingTopicKeepsItsPartitionCount) {
  {
    auto broker = OpenBroker();
    ASSERT_TRUE(broker->CreateTopic("car-transactions-logs.dlq", 1).ok());
  }
  auto topics = StartAndStop(Parse(kCars));
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  EXPECT_EQ(topics->at("car-transactions-logs.dlq"), 1);
  EXPECT_EQ(topics->at("car-transactions-logs.windows"), 3);
}

// Standing alone (no pipeline to create topics first), the two creators of a
// dead-letter topic meet in either order, even asking for different counts:
// the first creates it, the second accepts it.
TEST_F(PipelineStartTest, CreatorsOfOneTopicAgreeInEitherOrder) {
  Pipeline p = Parse(kCars);
  const ComponentSpec& cars = p.components.at(0);
  ASSERT_EQ(cars.name, "cars");
  for (bool ingest_first : {true, false}) {
    SCOPED_TRACE(ingest_first ? "POST /api/logs first" : "processor first");
    fs::remove_all(dir_ + "/log");
    auto broker = OpenBroker();
    ASSERT_TRUE(broker->CreateTopic("car-transactions-logs", 2).ok());
    runtime::Metrics metrics;
    runtime::Context ctx;
    ctx.broker = broker.get();
    ctx.metrics = &metrics;
    ctx.data_dir = dir_ + "/data" + (ingest_first ? "1" : "2");
    ctx.name = "cars";
    ctx.topic_partitions = 1;  // the processor would create it with 1, the ingest with 2
    auto processor = cars.factory(ctx);
    ASSERT_TRUE(processor.ok()) << processor.status().ToString();
    std::unique_ptr<api::Ingest> ingest;
    auto open_ingest = [&] {
      api::IngestOptions options;
      options.topics = {"car-transactions-logs"};
      auto i = api::Ingest::Create(broker.get(), &metrics, options);
      ASSERT_TRUE(i.ok()) << i.status().ToString();
      ingest = std::move(i).value();
    };
    if (ingest_first) open_ingest();
    base::Status s = (*processor)->Open();
    ASSERT_TRUE(s.ok()) << s.ToString();
    if (!ingest_first) open_ingest();
    auto dlq = broker->Describe("car-transactions-logs.dlq");
    ASSERT_TRUE(dlq.ok());
    EXPECT_EQ(dlq->partitions.size(), ingest_first ? 2u : 1u);
  }
}

TEST_F(PipelineStartTest, TwoExplicitCountsForOneTopicAreAnError) {
  Pipeline p = Parse(R"(
[sources.a]
type = "spooldir"
spool_dir = "a"
topic = "t"
topic_partitions = 3
[sources.b]
type = "spooldir"
spool_dir = "b"
topic = "t"
topic_partitions = 4
)");
  auto topics = StartAndStop(p);
  ASSERT_FALSE(topics.ok());
  EXPECT_THAT(topics.status().message(),
              HasSubstr("topic 't': sources.a asks for 3 partitions and sources.b for 4"));
}

// A component that cannot open stops the pipeline before any component runs:
// the spool file is not read, the hooks never run, and the error names the
// component.
TEST_F(PipelineStartTest, AComponentThatCannotStartStopsThePipelineBeforeAnythingRuns) {
  fs::create_directories(dir_ + "/spool");
  std::ofstream(dir_ + "/spool/f.json") << R"({"a": 1})" << "\n";
  std::ofstream(dir_ + "/blocker") << "a file where the store wants a folder\n";
  Pipeline p = Parse(R"(
[sources.files]
type = "spooldir"
spool_dir = "spool"
topic = "t"
min_file_age_ms = 0
[sinks.store]
type = "store"
path = "blocker/store.db"
topics = ["t"]
)");
  auto topics = StartAndStop(p);
  ASSERT_FALSE(topics.ok());
  EXPECT_THAT(topics.status().message(), HasSubstr("sinks.store: cannot start: "));
  EXPECT_TRUE(fs::exists(dir_ + "/spool/f.json"));
  EXPECT_FALSE(fs::exists(dir_ + "/spool/f.json.COMPLETED"));
  auto broker = OpenBroker();
  auto t = broker->Describe("t");
  ASSERT_TRUE(t.ok());
  for (const auto& part : t->partitions) EXPECT_EQ(part.end_offset, 0u);
}

}  // namespace
}  // namespace txpipe::app
