#include "sinks/store/query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sinks/store/testing_util.h"

namespace txpipe::sinks::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kT0 = 1'795'442'400'000;  // 2026-11-23T14:00:00Z
using Opt = std::optional<double>;

class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = StoreDb::Open(dir_.path() + "/store.db", OpenMode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    writer_ = std::move(db).value();
    StreamRow s;
    s.stream = "finance";
    s.schema = "finance";
    s.topic = "finance";
    s.windows_topic = "finance.windows";
    s.windows = {{"10s", 10'000}, {"1m", 60'000}};
    s.dimensions = {"total", "transaction_type"};
    s.fields = {"amount_avg", "amount_sum", "failed_ratio"};
    ASSERT_TRUE(writer_->Begin().ok());
    ASSERT_TRUE(writer_->PutStream(s).ok());
    // 1m windows by type: deposit at t0, t0+1m, t0+2m; payment only at t0+1m;
    // and the total at each.
    Put("deposit", kT0, 2, 100);
    Put("deposit", kT0 + 60'000, 3, 300);
    Put("deposit", kT0 + 120'000, 1, 50);
    Put("payment", kT0 + 60'000, 4, 40);
    ASSERT_TRUE(writer_->Commit().ok());
    auto ro = StoreDb::Open(dir_.path() + "/store.db", OpenMode::kReadOnly);
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    reader_ = std::move(ro).value();
    query_ = std::make_unique<Query>(reader_.get());
  }
  void Put(const std::string& value, int64_t start, int64_t count, double sum) {
    WindowRow w;
    w.stream = "finance";
    w.window = "1m";
    w.window_ms = 60'000;
    w.start_ms = start;
    w.end_ms = start + 60'000;
    w.dimension = "transaction_type";
    w.value = value;
    w.count = count;
    w.fields_json = fmt::format(R"({{"amount_sum":{},"amount_avg":{}}})", sum, sum / count);
    ASSERT_TRUE(writer_->UpsertWindow(w, 0).ok());
  }
  SeriesResult Series(SeriesRequest r) {
    auto s = query_->Series(r);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : SeriesResult{};
  }
  std::string SeriesError(SeriesRequest r) {
    auto s = query_->Series(r);
    EXPECT_FALSE(s.ok());
    if (s.ok()) return "";
    EXPECT_EQ(s.status().code(), base::Code::kInvalidArgument);
    return s.status().message();
  }

  test_util::TempDir dir_;
  std::unique_ptr<StoreDb> writer_;
  std::unique_ptr<StoreDb> reader_;
  std::unique_ptr<Query> query_;
};

TEST_F(QueryTest, SeriesColumnsAreTimeAlignedWithNullsForMissingValues) {
  SeriesResult s = Series({.stream = "finance", .window = "1m", .by = "transaction_type"});
  EXPECT_EQ(s.measure, "count");
  EXPECT_THAT(s.times_ms, ElementsAre(kT0, kT0 + 60'000, kT0 + 120'000));
  EXPECT_THAT(s.labels, ElementsAre("deposit", "payment"));
  ASSERT_EQ(s.columns.size(), 2u);
  EXPECT_THAT(s.columns[0], ElementsAre(Opt(2), Opt(3), Opt(1)));
  EXPECT_THAT(s.columns[1], ElementsAre(std::nullopt, Opt(4), std::nullopt));
  // The default range is the hour up to the newest window.
  EXPECT_EQ(s.to_ms, kT0 + 120'000);
  EXPECT_EQ(s.from_ms, kT0 + 120'000 - 3'600'000 + 60'000);
  EXPECT_EQ(s.ToJson(),
            R"({"stream":"finance","window":"1m","window_ms":60000,"by":"transaction_type",)"
            R"("measure":"count","from_ms":1795438980000,"to_ms":1795442520000,)"
            R"("series":["deposit","payment"],)"
            R"("data":[[1795442400,1795442460,1795442520],[2,3,1],[null,4,null]]})");
  std::string table = s.ToTable();
  EXPECT_THAT(table, HasSubstr("2026-11-23T14:01:00Z        3        4\n"));
  EXPECT_THAT(table, HasSubstr("2026-11-23T14:00:00Z        2        -\n"));
}

TEST_F(QueryTest, SeriesMeasureAliasesAndRanges) {
  SeriesResult bare =
      Series({.stream = "finance", .window = "1m", .by = "transaction_type", .measure = "amount"});
  EXPECT_EQ(bare.measure, "amount_sum");
  EXPECT_THAT(bare.columns[0], ElementsAre(Opt(100), Opt(300), Opt(50)));
  SeriesResult avg = Series(
      {.stream = "finance", .window = "60s", .by = "transaction_type", .measure = "amount_avg"});
  EXPECT_EQ(avg.window, "1m");  // the same size, spelled otherwise
  EXPECT_THAT(avg.columns[1], ElementsAre(std::nullopt, Opt(10), std::nullopt));
  // A field no row holds: all nulls.
  SeriesResult ratio = Series(
      {.stream = "finance", .window = "1m", .by = "transaction_type", .measure = "failed_ratio"});
  EXPECT_THAT(ratio.columns[0], ElementsAre(std::nullopt, std::nullopt, std::nullopt));
  SeriesResult ranged = Series({.stream = "finance",
                                .window = "1m",
                                .by = "transaction_type",
                                .from_ms = kT0 + 60'000,
                                .to_ms = kT0 + 60'000});
  EXPECT_THAT(ranged.times_ms, ElementsAre(kT0 + 60'000));
  EXPECT_THAT(ranged.columns[0], ElementsAre(Opt(3)));
  // The total has no rows: an empty series, not an error.
  SeriesResult total = Series({.stream = "finance", .window = "1m"});
  EXPECT_TRUE(total.times_ms.empty());
  EXPECT_EQ(total.ToJson().substr(total.ToJson().find("\"series\"")),
            R"("series":[],"data":[[]]})");
}

TEST_F(QueryTest, SeriesErrorsNameTheParameter) {
  EXPECT_THAT(SeriesError({.stream = "cars", .window = "1m"}),
              StartsWith("stream: unknown stream 'cars' (streams: finance)"));
  EXPECT_THAT(SeriesError({.stream = "finance", .window = "7s"}),
              StartsWith("window: unknown window '7s' for stream 'finance' (10s, 1m)"));
  EXPECT_THAT(SeriesError({.stream = "finance", .window = "1m", .by = "city"}),
              StartsWith("by: unknown dimension 'city'"));
  EXPECT_THAT(SeriesError({.stream = "finance", .window = "1m", .measure = "price"}),
              StartsWith("measure: unknown measure 'price' for stream 'finance' (count, amount, "));
  EXPECT_THAT(SeriesError({.stream = "finance", .window = "1m", .from_ms = kT0 + 1, .to_ms = kT0}),
              StartsWith("from: 2026-11-23T14:00:00.001Z is after to (2026-11-23T14:00:00Z)"));
  EXPECT_THAT(SeriesError({.stream = "finance", .window = "10s", .from_ms = 0, .to_ms = kT0}),
              StartsWith("from: "));
  EXPECT_THAT(SeriesError({.window = "1m"}), StartsWith("stream: required"));
  EXPECT_THAT(SeriesError({.stream = "finance"}), StartsWith("window: required"));
}

TEST_F(QueryTest, StreamsListsMeasuresAndWindows) {
  auto r = query_->Streams();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->streams.size(), 1u);
  EXPECT_THAT(r->streams[0].measures,
              ElementsAre("count", "amount", "amount_avg", "amount_sum", "failed_ratio"));
  EXPECT_THAT(r->ToJson(), HasSubstr(R"("windows":[{"window":"10s","window_ms":10000},)"));
  EXPECT_THAT(
      r->ToTable(),
      HasSubstr("finance  finance  finance  10s, 1m  total, transaction_type  count, amount"));
}

TEST_F(QueryTest, RecentIsNewestFirstWithALimitAndResolvesStreams) {
  ASSERT_TRUE(writer_->Begin().ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(writer_
                    ->PutRecent({"finance", 0, static_cast<uint64_t>(i), kT0 + i, "k",
                                 fmt::format(R"({{"n":{}}})", i)})
                    .ok());
  }
  ASSERT_TRUE(writer_->PutRecent({"raw_only", 0, 0, kT0, "", "x\"y"}).ok());
  ASSERT_TRUE(writer_->Commit().ok());
  auto r = query_->Recent({.stream = "finance", .limit = 2});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->topic, "finance");
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0].body, R"({"n":4})");
  EXPECT_EQ(r->events[1].body, R"({"n":3})");
  EXPECT_THAT(r->ToJson(), HasSubstr(R"("body":"{\"n\":4}")"));
  auto topic = query_->Recent({.stream = "raw_only"});
  ASSERT_TRUE(topic.ok());
  EXPECT_EQ(topic->events.size(), 1u);
  EXPECT_EQ(query_->Recent({})->events.size(), 6u);
  auto bad = query_->Recent({.stream = "nope"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), StartsWith("stream: unknown stream or topic 'nope'"));
  auto limit = query_->Recent({.stream = "finance", .limit = 0});
  ASSERT_FALSE(limit.ok());
  EXPECT_THAT(limit.status().message(), StartsWith("limit: "));
}

TEST_F(QueryTest, AlertsSinceAndLimit) {
  ASSERT_TRUE(writer_->Begin().ok());
  for (int i = 0; i < 4; ++i) {
    AlertRow a;
    a.id = "a" + std::to_string(i);
    a.rule = "r";
    a.time_ms = kT0 + i * 1000;
    a.values_json = R"({"amount":4950.5})";
    ASSERT_TRUE(writer_->UpsertAlert(a, 0).ok());
  }
  ASSERT_TRUE(writer_->Commit().ok());
  auto r = query_->Alerts({.since_ms = kT0 + 1000, .limit = 2});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->alerts.size(), 2u);
  EXPECT_EQ(r->alerts[0].id, "a3");
  EXPECT_EQ(r->alerts[1].id, "a2");
  EXPECT_THAT(r->ToJson(), HasSubstr(R"("time":"2026-11-23T14:00:03Z",)"));
  EXPECT_THAT(r->ToJson(), HasSubstr(R"("values":{"amount":4950.5},)"));
  EXPECT_EQ(query_->Alerts({.since_ms = kT0 + 5000})->alerts.size(), 0u);
  EXPECT_FALSE(query_->Alerts({.limit = kMaxLimit + 1}).ok());
}

TEST_F(QueryTest, StatsRatesLagAndRejectsFromTheLastTwoSnapshots) {
  ASSERT_TRUE(writer_->Begin().ok());
  ASSERT_TRUE(writer_
                  ->PutStats(kT0, {{"txpipe_topic_events_total", R"({"topic":"finance"})", 100},
                                   {"txpipe_store_rejected_total",
                                    R"({"sink":"store","reason":"not_json"})", 1}})
                  .ok());
  ASSERT_TRUE(
      writer_
          ->PutStats(
              kT0 + 5000,
              {{"txpipe_topic_events_total", R"({"topic":"finance"})", 600},
               {"txpipe_topic_events_total", R"({"topic":"alerts"})", 3},
               {"txpipe_group_lag", R"({"group":"store-store","topic":"finance"})", 7},
               {"txpipe_store_rejected_total", R"({"sink":"store","reason":"not_json"})", 11},
               {"txpipe_spooldir_events_total", R"({"component":"f"})", 9}})
          .ok());
  ASSERT_TRUE(writer_->Commit().ok());
  auto r = query_->Stats();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->time_ms, kT0 + 5000);
  EXPECT_EQ(r->interval_s, 5);
  ASSERT_EQ(r->topics.size(), 2u);
  EXPECT_EQ(r->topics[0].topic, "alerts");
  EXPECT_EQ(r->topics[0].rate, std::nullopt);  // not in the snapshot before
  EXPECT_EQ(r->topics[1].topic, "finance");
  EXPECT_EQ(r->topics[1].rate, Opt(100));
  EXPECT_EQ(r->lag_source, "snapshot");
  ASSERT_EQ(r->lag.size(), 1u);
  EXPECT_EQ(r->lag[0].group, "store-store");
  EXPECT_EQ(r->lag[0].lag, 7);
  ASSERT_EQ(r->rejects.size(), 1u);
  EXPECT_EQ(r->rejects[0].component, "store");
  EXPECT_EQ(r->rejects[0].reason, "not_json");
  EXPECT_EQ(r->rejects[0].count, 11);
  EXPECT_EQ(r->rejects[0].rate, Opt(2));
  EXPECT_THAT(r->ToJson(), HasSubstr(R"({"topic":"finance","events":600,"rate_per_s":100})"));
  EXPECT_THAT(r->ToTable(), HasSubstr("finance     600       100"));
}

TEST(QueryTimeTest, Rfc3339EpochMsNowAndRelative) {
  const int64_t now = kT0 + 123;
  EXPECT_EQ(*ParseQueryTime("2026-11-23T14:00:00Z", now), kT0);
  EXPECT_EQ(*ParseQueryTime("2026-11-23T15:00:00.5+01:00", now), kT0 + 500);
  EXPECT_EQ(*ParseQueryTime("1795442400000", now), kT0);
  EXPECT_EQ(*ParseQueryTime("now", now), now);
  EXPECT_EQ(*ParseQueryTime("-15m", now), now - 900'000);
  EXPECT_EQ(*ParseQueryTime("-2h", now), now - 7'200'000);
  EXPECT_FALSE(ParseQueryTime("", now).ok());
  EXPECT_FALSE(ParseQueryTime("-15 minutes", now).ok());
  EXPECT_FALSE(ParseQueryTime("yesterday", now).ok());
  EXPECT_FALSE(ParseQueryTime("99999999999999999999", now).ok());
}

}  // namespace
}  // namespace txpipe::sinks::store
