#include "sinks/store/store_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "brokers/embedded/embedded_broker.h"
#include "sinks/store/query.h"
#include "sinks/store/testing_util.h"

namespace txpipe::sinks::store {
namespace {

using runtime::TopicPartition;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'795'442'400'000;  // 2026-11-23T14:00:00Z
using test_util::AlertRecordJson;
using test_util::WindowRecordJson;

class StoreSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir_.path() + "/log",
                                                     log::LogOptions{});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
    ASSERT_TRUE(broker_->CreateTopic("finance.windows", 2).ok());
    ASSERT_TRUE(broker_->CreateTopic("alerts", 1).ok());
    ASSERT_TRUE(broker_->CreateTopic("finance", 2).ok());
  }
  runtime::Context Ctx(base::Clock* clock) {
    runtime::Context c;
    c.broker = broker_.get();
    c.metrics = &metrics_;
    c.clock = clock;
    c.data_dir = dir_.path() + "/data";
    c.name = "st";
    return c;
  }
  static StoreOptions Opts() {
    StoreOptions o;
    o.topics = {"finance.windows", "alerts", "finance"};
    o.recent_rows = 10;
    o.stats_interval_ms = 0;
    return o;
  }
  // Events keyed <key_prefix><i>, with record times first_ms + i.
  void Produce(const std::string& topic, const std::vector<std::string>& bodies,
               const std::string& key_prefix = "k", int64_t first_ms = kT0) {
    auto p = broker_->NewProducer(topic, runtime::ProducerOptions{});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (size_t i = 0; i < bodies.size(); ++i) {
      std::string key = key_prefix + std::to_string(i);
      ASSERT_TRUE((*p)->Add({first_ms + static_cast<int64_t>(i), key, {}, bodies[i]}).ok());
    }
    ASSERT_TRUE((*p)->Flush().ok());
  }
  std::map<TopicPartition, uint64_t> Ends() {
    std::map<TopicPartition, uint64_t> out;
    for (const char* t : {"finance.windows", "alerts", "finance"}) {
      auto info = broker_->Describe(t);
      EXPECT_TRUE(info.ok());
      for (const auto& p : info->partitions) out[{t, p.partition}] = p.end_offset;
    }
    return out;
  }
  bool CaughtUp() {
    auto committed = broker_->GroupOffsets("store-st");
    for (const auto& [tp, end] : Ends()) {
      if (end > 0 && committed[tp] != end) return false;
    }
    return true;
  }
  // PollOnce until the group's offsets reach the ends of every topic.
  void Drain(StoreSink* sink) {
    for (int i = 0; i < 1000 && !CaughtUp(); ++i) {
      auto r = sink->PollOnce(0);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    ASSERT_TRUE(CaughtUp());
  }
  std::unique_ptr<StoreDb> Reader() {
    auto db = StoreDb::Open(dir_.path() + "/data/store.db", OpenMode::kReadOnly);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }
  std::vector<WindowRow> Windows(StoreDb* db, int64_t window_ms, const std::string& dim) {
    auto r = db->Windows("finance", window_ms, dim, INT64_MIN, INT64_MAX);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<WindowRow>{};
  }
  // Every row of every table, as text, for before/after comparisons.
  std::string Dump() {
    auto db = Reader();
    std::string out;
    for (int64_t w : {10'000, 60'000}) {
      for (const char* d : {"total", "transaction_type"}) {
        for (const auto& r : Windows(db.get(), w, d)) {
          out += fmt::format("W {} {} {} {} {} {}\n", r.window_ms, r.dimension, r.start_ms, r.value,
                             r.count, r.fields_json);
        }
      }
    }
    auto alerts = db->Alerts(0, kMaxLimit);
    EXPECT_TRUE(alerts.ok());
    for (const auto& a : *alerts) {
      out += fmt::format("A {} {} {}\n", a.id, a.time_ms, a.values_json);
    }
    auto recent = db->Recent("", kMaxLimit);
    EXPECT_TRUE(recent.ok());
    for (const auto& e : *recent) {
      out += fmt::format("R {} {} {} {}\n", e.topic, e.partition, e.offset, e.body);
    }
    return out;
  }
  std::vector<std::string> WindowBodies() {
    std::vector<std::string> b;
    for (int i = 0; i < 3; ++i) {
      b.push_back(WindowRecordJson("finance", "10s", 10'000, kT0 + i * 10'000, "total", "all",
                                   10 + i, 100.0 * i));
      b.push_back(WindowRecordJson("finance", "10s", 10'000, kT0 + i * 10'000, "transaction_type",
                                   "deposit", 4 + i, 40.0 * i));
    }
    b.push_back(WindowRecordJson("finance", "1m", 60'000, kT0, "total", "all", 33, 300));
    return b;
  }
  std::vector<std::string> RawBodies(int n) {
    std::vector<std::string> b;
    for (int i = 0; i < n; ++i) b.push_back(fmt::format(R"({{"n":{}}})", i));
    return b;
  }
  uint64_t Counter(const std::string& name, runtime::Labels l = {{"sink", "st"}}) {
    return metrics_.CounterValue(name, l);
  }

  test_util::TempDir dir_;
  std::unique_ptr<brokers::embedded::EmbeddedBroker> broker_;
  runtime::Metrics metrics_;
  base::FakeClock clock_{(kT0 + 60'000) * 1000};
};

TEST_F(StoreSinkTest, StoresWindowsAlertsAndTheNewestRawEvents) {
  Produce("finance.windows", WindowBodies());
  Produce("alerts", {AlertRecordJson("a|1", kT0 + 1), AlertRecordJson("a|2", kT0 + 2)});
  Produce("finance", RawBodies(30));
  StoreSink sink(Opts(), Ctx(&clock_));
  ASSERT_TRUE(sink.Open().ok());
  Drain(&sink);

  auto db = Reader();
  auto ten = Windows(db.get(), 10'000, "transaction_type");
  ASSERT_EQ(ten.size(), 3u);
  EXPECT_EQ(ten[2].start_ms, kT0 + 20'000);
  EXPECT_EQ(ten[2].count, 6);
  EXPECT_EQ(ten[2].fields_json,
            R"({"amount_sum":80,"amount_avg":13.333333333333334,"failed_ratio":0.25})");
  EXPECT_EQ(Windows(db.get(), 10'000, "total").size(), 3u);
  EXPECT_EQ(Windows(db.get(), 60'000, "total").size(), 1u);
  auto alerts = db->Alerts(0, 10);
  ASSERT_EQ(alerts->size(), 2u);
  EXPECT_EQ((*alerts)[0].id, "a|2");
  auto recent = db->Recent("finance", 100);
  ASSERT_EQ(recent->size(), 10u);  // recent_rows
  EXPECT_EQ((*recent)[0].time_ms, kT0 + 29);
  // The streams table, derived from the window records.
  auto streams = db->Streams();
  ASSERT_EQ(streams->size(), 1u);
  const StreamRow& s = (*streams)[0];
  EXPECT_EQ(s.schema, "finance");
  EXPECT_EQ(s.topic, "finance");
  EXPECT_EQ(s.windows_topic, "finance.windows");
  EXPECT_EQ(s.windows,
            (std::vector<std::pair<std::string, int64_t>>{{"10s", 10'000}, {"1m", 60'000}}));
  EXPECT_THAT(s.dimensions, ElementsAre("total", "transaction_type"));
  EXPECT_THAT(s.fields, ElementsAre("amount_avg", "amount_sum", "failed_ratio"));
  // And the query layer reads it: recent by stream name resolves to the topic.
  Query q(db.get());
  auto r = q.Recent({.stream = "finance", .limit = 3});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->events.size(), 3u);
  auto series = q.Series(
      {.stream = "finance", .window = "10s", .by = "transaction_type", .measure = "amount"});
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  EXPECT_THAT(series->ToJson(),
              HasSubstr(R"("data":[[1795442400,1795442410,1795442420],[0,40,80]])"));

  EXPECT_EQ(Counter("txpipe_store_rows_total", {{"sink", "st"}, {"table", "windows"}}), 7u);
  EXPECT_EQ(Counter("txpipe_store_rows_total", {{"sink", "st"}, {"table", "alerts"}}), 2u);
  EXPECT_GE(Counter("txpipe_store_batches_total"), 1u);
  EXPECT_GT(Counter("txpipe_store_recent_skipped_total"), 0u);  // 30 events, 10 kept
  ASSERT_TRUE(sink.Close().ok());
}

TEST_F(StoreSinkTest, BadRecordsAreCountedAndSkipped) {
  std::vector<std::string> bodies = WindowBodies();
  bodies.insert(bodies.begin() + 2, "not json at all");
  bodies.insert(bodies.begin() + 4, R"({"stream":"finance","window":"10s"})");
  bodies.push_back(R"({"stream":"finance"})");
  Produce("finance.windows", bodies);
  Produce("alerts", {"{]", AlertRecordJson("a|1", kT0)});
  StoreSink sink(Opts(), Ctx(&clock_));
  Drain(&sink);
  auto db = Reader();
  EXPECT_EQ(Windows(db.get(), 10'000, "transaction_type").size(), 3u);
  EXPECT_EQ(db->Alerts(0, 10)->size(), 1u);
  EXPECT_EQ(Counter("txpipe_store_rejected_total", {{"sink", "st"}, {"reason", "not_json"}}), 2u);
  EXPECT_EQ(Counter("txpipe_store_rejected_total", {{"sink", "st"}, {"reason", "missing_field"}}),
            2u);
}

TEST_F(StoreSinkTest, RedeliveryLeavesTheSameRowsAndReEmitsOverwrite) {
  Produce("finance.windows", WindowBodies());
  Produce("alerts", {AlertRecordJson("a|1", kT0 + 1)});
  Produce("finance", RawBodies(5));
  {
    StoreSink sink(Opts(), Ctx(&clock_));
    Drain(&sink);
    ASSERT_TRUE(sink.Close().ok());
  }
  const std::string before = Dump();
  EXPECT_THAT(before, HasSubstr("W 10000 transaction_type"));
  // Reset the group to the beginning: everything is delivered again.
  {
    auto c = broker_->NewConsumer("store-st", {"finance.windows", "alerts", "finance"}, {});
    ASSERT_TRUE(c.ok());
    std::map<TopicPartition, uint64_t> zero;
    for (const auto& [tp, end] : Ends()) zero[tp] = 0;
    ASSERT_TRUE((*c)->Commit(zero).ok());
  }
  {
    StoreSink sink(Opts(), Ctx(&clock_));
    Drain(&sink);
    ASSERT_TRUE(sink.Close().ok());
  }
  EXPECT_EQ(Dump(), before);
  // A re-emitted window (late event, update policy): same key, new values.
  Produce("finance.windows", {WindowRecordJson("finance", "10s", 10'000, kT0, "transaction_type",
                                               "deposit", 99, 990)});
  {
    StoreSink sink(Opts(), Ctx(&clock_));
    Drain(&sink);
  }
  auto db = Reader();
  auto rows = Windows(db.get(), 10'000, "transaction_type");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].count, 99);
}

TEST_F(StoreSinkTest, RetentionPerWindowSizeAndForAlertsAndStats) {
  Produce("finance.windows", WindowBodies());
  Produce("alerts", {AlertRecordJson("a|old", kT0)});
  StoreOptions o = Opts();
  o.retention_ms = {{10'000, 30'000}};  // 10s windows: 30 s; 1m: default_retention
  o.default_retention_ms = kDayMs;
  o.alerts_retention_ms = 3 * kHourMs;
  StoreSink sink(o, Ctx(&clock_));
  Drain(&sink);
  auto db = Reader();
  // now = t0 + 60 s: 10s windows starting before t0 + 30 s were never stored.
  EXPECT_EQ(Windows(db.get(), 10'000, "total").size(), 0u);
  EXPECT_EQ(Counter("txpipe_store_expired_total"), 6u);
  EXPECT_EQ(Windows(db.get(), 60'000, "total").size(), 1u);
  // Two hours on: alerts (3 h) stay; a day on: the 1m window and the alert go.
  clock_.Advance(2 * kHourMs * 1000);
  ASSERT_TRUE(sink.EnforceRetention().ok());
  EXPECT_EQ(db->Alerts(0, 10)->size(), 1u);
  EXPECT_EQ(Windows(db.get(), 60'000, "total").size(), 1u);
  clock_.Advance(kDayMs * 1000);
  ASSERT_TRUE(sink.EnforceRetention().ok());
  EXPECT_EQ(db->Alerts(0, 10)->size(), 0u);
  EXPECT_EQ(Windows(db.get(), 60'000, "total").size(), 0u);
  EXPECT_EQ(Counter("txpipe_store_retention_deleted_total"), 2u);
}

TEST_F(StoreSinkTest, StatsSnapshotsFeedRatesLagAndRejects) {
  Produce("finance", RawBodies(4));
  Produce("finance.windows", {"oops"});
  StoreOptions o = Opts();
  o.stats_interval_ms = 5'000;
  StoreSink sink(o, Ctx(&clock_));
  Drain(&sink);
  ASSERT_TRUE(sink.SnapshotStats().ok());
  Produce("finance", RawBodies(10));
  clock_.Advance(5'000'000);
  // The due snapshot is taken by PollOnce.
  Drain(&sink);
  auto db = Reader();
  EXPECT_EQ(db->StatsTimes(10)->size(), 2u);
  Query q(db.get());
  auto st = q.Stats();
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->interval_s, 5);
  bool found = false;
  for (const auto& t : st->topics) {
    if (t.topic != "finance") continue;
    found = true;
    EXPECT_EQ(t.events, 14);
    EXPECT_EQ(t.rate, std::optional<double>(2));  // 10 events in 5 s
  }
  EXPECT_TRUE(found);
  ASSERT_EQ(st->rejects.size(), 1u);
  EXPECT_EQ(st->rejects[0].reason, "not_json");
  EXPECT_EQ(st->rejects[0].component, "st");
  // Live lag from the broker: the sink has read everything.
  Query live(db.get(), broker_.get());
  auto l = live.Stats();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->lag_source, "broker");
  for (const auto& g : l->lag) {
    if (g.group == "store-st") {
      EXPECT_EQ(g.lag, 0) << g.topic;
    }
  }
}

TEST_F(StoreSinkTest, AWriteErrorRollsBackAndTheSameRecordsAreReadAgain) {
  Produce("finance.windows", WindowBodies());
  StoreOptions o = Opts();
  o.busy_timeout_ms = 1;
  StoreSink sink(o, Ctx(&clock_));
  ASSERT_TRUE(sink.Open().ok());
  // Another writer holds the write lock: the sink's transaction cannot begin.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(sink.db_path().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  bool failed = false;
  for (int i = 0; i < 100 && !failed; ++i) {
    auto r = sink.PollOnce(0);
    if (!r.ok()) {
      failed = true;
      EXPECT_EQ(r.status().code(), base::Code::kUnavailable) << r.status().ToString();
    }
  }
  EXPECT_TRUE(failed);
  EXPECT_FALSE(CaughtUp());
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  Drain(&sink);
  auto db = Reader();
  EXPECT_EQ(Windows(db.get(), 10'000, "transaction_type").size(), 3u);
  EXPECT_EQ(Windows(db.get(), 10'000, "total").size(), 3u);
}

TEST_F(StoreSinkTest, RawTopicsAreReadEveryRecentIntervalFromNearTheirEnd) {
  Produce("finance", RawBodies(100));
  StoreOptions o = Opts();
  o.topics = {"finance"};  // raw only
  o.recent_interval_ms = 1'000;
  StoreSink sink(o, Ctx(&clock_));
  ASSERT_TRUE(sink.PollOnce(0).ok());
  auto db = Reader();
  auto rows = db->Recent("finance", 100);
  ASSERT_EQ(rows->size(), 10u);
  EXPECT_EQ((*rows)[0].body, R"({"n":99})");
  // Only the newest recent_rows of each partition were read.
  EXPECT_LE(Counter("txpipe_store_records_total"), 20u);
  EXPECT_EQ(Counter("txpipe_store_recent_skipped_total") + Counter("txpipe_store_records_total"),
            100u);
  EXPECT_TRUE(CaughtUp());
  Produce("finance", {R"({"n":100})"}, "new", kT0 + 100);
  ASSERT_TRUE(sink.PollOnce(0).ok());  // not due yet
  EXPECT_EQ((*db->Recent("finance", 1))[0].body, R"({"n":99})");
  clock_.Advance(1'000'000);
  ASSERT_TRUE(sink.PollOnce(0).ok());
  EXPECT_EQ((*db->Recent("finance", 1))[0].body, R"({"n":100})");
  EXPECT_EQ(db->Recent("finance", 100)->size(), 10u);
  EXPECT_TRUE(CaughtUp());
}

TEST_F(StoreSinkTest, RunStoresWhatArrivesWhileItRunsAndStopsCleanly) {
  StoreOptions o = Opts();
  o.stats_interval_ms = 100;
  o.stats_retention_ms = kHourMs;
  StoreSink sink(o, Ctx(base::Clock::Real()));
  base::StopFlag stop;
  base::Status result;
  std::thread runner([&] { result = sink.Run(stop); });
  // Window starts near the real clock, so retention keeps them.
  const int64_t now = base::Clock::Real()->NowMicros() / 1000 / 10'000 * 10'000;
  Produce("finance.windows",
          {WindowRecordJson("finance", "10s", 10'000, now, "total", "all", 5, 50)});
  Produce("finance", RawBodies(3));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!CaughtUp() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(CaughtUp());
  stop.Request();
  runner.join();
  ASSERT_TRUE(result.ok()) << result.ToString();
  auto db = Reader();
  EXPECT_EQ(Windows(db.get(), 10'000, "total").size(), 1u);
  EXPECT_EQ(db->Recent("finance", 10)->size(), 3u);
}

}  // namespace
}  // namespace txpipe::sinks::store
