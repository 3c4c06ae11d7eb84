#include "sinks/store/store_db.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "sinks/store/testing_util.h"

namespace txpipe::sinks::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'795'442'400'000;  // 2026-11-23T14:00:00Z

WindowRow Window(int64_t window_ms, int64_t start_ms, const std::string& value, int64_t count,
                 const std::string& fields = "{}") {
  WindowRow w;
  w.stream = "finance";
  w.window = window_ms == 10'000 ? "10s" : "1m";
  w.window_ms = window_ms;
  w.start_ms = start_ms;
  w.end_ms = start_ms + window_ms;
  w.dimension = "transaction_type";
  w.value = value;
  w.count = count;
  w.fields_json = fields;
  return w;
}

class StoreDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = StoreDb::Open(Path(), OpenMode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  std::string Path() const { return dir_.path() + "/store.db"; }
  void Write(const std::function<void(StoreDb*)>& fn) {
    ASSERT_TRUE(db_->Begin().ok());
    fn(db_.get());
    ASSERT_TRUE(db_->Commit().ok());
  }
  std::vector<WindowRow> All(int64_t window_ms) {
    auto r = db_->Windows("finance", window_ms, "transaction_type", INT64_MIN, INT64_MAX);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<WindowRow>{};
  }

  test_util::TempDir dir_;
  std::unique_ptr<StoreDb> db_;
};

TEST_F(StoreDbTest, UpsertOfTheSameKeyOverwritesTheRow) {
  Write([](StoreDb* db) {
    ASSERT_TRUE(
        db->UpsertWindow(Window(10'000, kT0, "deposit", 3, R"({"amount_sum":30})"), 1).ok());
    ASSERT_TRUE(db->UpsertWindow(Window(10'000, kT0, "payment", 1), 1).ok());
  });
  Write([](StoreDb* db) {
    ASSERT_TRUE(
        db->UpsertWindow(Window(10'000, kT0, "deposit", 5, R"({"amount_sum":55})"), 2).ok());
  });
  auto rows = All(10'000);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value, "deposit");
  EXPECT_EQ(rows[0].count, 5);
  EXPECT_EQ(rows[0].fields_json, R"({"amount_sum":55})");
  EXPECT_EQ(rows[1].value, "payment");
  EXPECT_EQ(*db_->CountRows("windows"), 2);
}

TEST_F(StoreDbTest, RetentionDeletesOldWindowsOfOneSizeAndKeepsTheRest) {
  Write([](StoreDb* db) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(db->UpsertWindow(Window(10'000, kT0 + i * 10'000, "deposit", i), 1).ok());
      ASSERT_TRUE(db->UpsertWindow(Window(60'000, kT0 + i * 60'000, "deposit", i), 1).ok());
    }
  });
  EXPECT_THAT(*db_->WindowSizes(), ElementsAre(10'000, 60'000));
  Write([](StoreDb* db) {
    auto n = db->DeleteWindowsBefore(10'000, kT0 + 30'000);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 3);
  });
  auto ten = All(10'000);
  ASSERT_EQ(ten.size(), 2u);
  EXPECT_EQ(ten[0].start_ms, kT0 + 30'000);
  EXPECT_EQ(All(60'000).size(), 5u);  // the other size is untouched
}

TEST_F(StoreDbTest, ReadOnlyOpenSeesCommittedWritesWhileTheWriterIsOpen) {
  Write([](StoreDb* db) { ASSERT_TRUE(db->UpsertWindow(Window(10'000, kT0, "a", 1), 1).ok()); });
  auto ro = StoreDb::Open(Path(), OpenMode::kReadOnly);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  EXPECT_EQ(*(*ro)->CountRows("windows"), 1);
  // A transaction in progress is invisible; its commit becomes visible.
  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE(db_->UpsertWindow(Window(10'000, kT0 + 10'000, "a", 1), 1).ok());
  EXPECT_EQ(*(*ro)->CountRows("windows"), 1);
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_EQ(*(*ro)->CountRows("windows"), 2);
  // Read-only means read-only.
  base::Status s = (*ro)->Begin();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("read-only"));
}

TEST(StoreDbOpenTest, ReadOnlyOpenOfAMissingOrForeignFileSaysWhat) {
  test_util::TempDir dir;
  auto missing = StoreDb::Open(dir.path() + "/nope.db", OpenMode::kReadOnly);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), base::Code::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no store at " + dir.path() + "/nope.db"));
  std::ofstream(dir.path() + "/junk.db")
      << "this is not a database, it is a text file of some length";
  auto junk = StoreDb::Open(dir.path() + "/junk.db", OpenMode::kReadOnly);
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), base::Code::kCorruption) << junk.status().ToString();
  // An empty file: the writer has not created the schema yet.
  std::ofstream(dir.path() + "/empty.db").flush();
  auto empty = StoreDb::Open(dir.path() + "/empty.db", OpenMode::kReadOnly);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), base::Code::kUnavailable);
}

TEST_F(StoreDbTest, AReopenedStoreKeepsItsRowsAndSchema) {
  Write([](StoreDb* db) { ASSERT_TRUE(db->UpsertWindow(Window(10'000, kT0, "a", 7), 1).ok()); });
  db_.reset();
  auto db = StoreDb::Open(Path(), OpenMode::kReadWrite);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  db_ = std::move(db).value();
  auto rows = All(10'000);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].count, 7);
}

TEST_F(StoreDbTest, RollbackLeavesNothing) {
  ASSERT_TRUE(db_->Begin().ok());
  ASSERT_TRUE(db_->UpsertWindow(Window(10'000, kT0, "a", 1), 1).ok());
  db_->Rollback();
  EXPECT_EQ(*db_->CountRows("windows"), 0);
  EXPECT_TRUE(db_->Begin().ok());  // a new transaction works
  db_->Rollback();
}

TEST_F(StoreDbTest, ScanWindowsExtractsAFieldOrTheCountWithNullsForGaps) {
  Write([](StoreDb* db) {
    ASSERT_TRUE(db->UpsertWindow(Window(10'000, kT0, "a", 2, R"({"amount_sum":10.5})"), 1).ok());
    ASSERT_TRUE(db->UpsertWindow(Window(10'000, kT0, "b", 3, R"({"amount_sum":null})"), 1).ok());
    ASSERT_TRUE(db->UpsertWindow(Window(10'000, kT0 + 10'000, "a", 4, "{}"), 1).ok());
  });
  std::vector<std::tuple<int64_t, std::string, std::optional<double>>> got;
  auto collect = [&](int64_t t, std::string_view v, std::optional<double> m) {
    got.emplace_back(t, std::string(v), m);
  };
  ASSERT_TRUE(db_->ScanWindows("finance", 10'000, "transaction_type", "amount_sum", kT0,
                               kT0 + 10'000, collect)
                  .ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], std::make_tuple(kT0, std::string("a"), std::optional<double>(10.5)));
  EXPECT_EQ(std::get<2>(got[1]), std::nullopt);  // null in the row
  EXPECT_EQ(std::get<2>(got[2]), std::nullopt);  // no such field
  got.clear();
  ASSERT_TRUE(db_->ScanWindows("finance", 10'000, "transaction_type", "", kT0, kT0, collect).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(std::get<2>(got[1]), std::optional<double>(3));
  auto latest = db_->LatestWindowStart("finance", 10'000, "transaction_type");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, kT0 + 10'000);
  EXPECT_EQ(*db_->LatestWindowStart("finance", 10'000, "currency"), std::nullopt);
}

TEST_F(StoreDbTest, AlertsUpsertByIdAndListNewestFirstSinceWithLimit) {
  auto alert = [](const std::string& id, int64_t t, const std::string& msg) {
    AlertRow a;
    a.id = id;
    a.rule = "r";
    a.kind = "event";
    a.time_ms = t;
    a.values_json = R"({"amount":1})";
    a.message = msg;
    return a;
  };
  Write([&](StoreDb* db) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(db->UpsertAlert(alert("a" + std::to_string(i), kT0 + i, "first"), 1).ok());
    }
    ASSERT_TRUE(db->UpsertAlert(alert("a2", kT0 + 2, "second"), 1).ok());
  });
  auto all = db_->Alerts(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id, "a4");
  EXPECT_EQ((*all)[2].message, "second");
  auto some = db_->Alerts(kT0 + 1, 2);
  ASSERT_EQ(some->size(), 2u);
  EXPECT_EQ((*some)[0].id, "a4");
  EXPECT_EQ((*some)[1].id, "a3");
  Write([](StoreDb* db) { EXPECT_EQ(*db->DeleteAlertsBefore(kT0 + 3), 3); });
  EXPECT_EQ(*db_->CountRows("alerts"), 2);
}

TEST_F(StoreDbTest, RecentKeepsTheNewestAndReplacesTheSameOffset) {
  Write([](StoreDb* db) {
    for (int i = 0; i < 10; ++i) {
      RecentRow r{"finance", i % 2, static_cast<uint64_t>(i / 2),
                  kT0 + i,   "k",   fmt::format(R"({{"n":{}}})", i)};
      ASSERT_TRUE(db->PutRecent(r).ok());
    }
    RecentRow again{"finance", 1, 4, kT0 + 9, "k", R"({"n":9})"};  // re-delivered
    ASSERT_TRUE(db->PutRecent(again).ok());
    ASSERT_TRUE(db->PutRecent({"cars", 0, 0, kT0, "", "{}"}).ok());
    ASSERT_TRUE(db->TrimRecent("finance", 4).ok());
  });
  auto rows = db_->Recent("finance", 100);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].body, R"({"n":9})");
  EXPECT_EQ((*rows)[3].body, R"({"n":6})");
  EXPECT_EQ(db_->Recent("", 100)->size(), 5u);  // every topic
  EXPECT_EQ(db_->Recent("finance", 2)->size(), 2u);
  EXPECT_THAT(*db_->RecentTopics(), ElementsAre("cars", "finance"));
}

TEST_F(StoreDbTest, StreamsAndStatsRoundTrip) {
  StreamRow s;
  s.stream = "finance";
  s.schema = "finance";
  s.topic = "finance";
  s.windows_topic = "finance.windows";
  s.windows = {{"10s", 10'000}, {"1m", 60'000}};
  s.dimensions = {"total", "transaction_type"};
  s.fields = {"amount_sum", "failed_ratio"};
  s.updated_ms = 5;
  Write([&](StoreDb* db) {
    ASSERT_TRUE(db->PutStream(s).ok());
    ASSERT_TRUE(db->PutStats(kT0, {{"m", R"({"topic":"t"})", 1}, {"n", "{}", 2}}).ok());
    ASSERT_TRUE(db->PutStats(kT0 + 5000, {{"m", R"({"topic":"t"})", 11}}).ok());
  });
  auto streams = db_->Streams();
  ASSERT_TRUE(streams.ok()) << streams.status().ToString();
  ASSERT_EQ(streams->size(), 1u);
  const StreamRow& got = (*streams)[0];
  EXPECT_EQ(got.windows_topic, "finance.windows");
  EXPECT_EQ(got.windows, s.windows);
  EXPECT_EQ(got.dimensions, s.dimensions);
  EXPECT_EQ(got.fields, s.fields);
  EXPECT_THAT(*db_->StatsTimes(2), ElementsAre(kT0 + 5000, kT0));
  auto at = db_->StatsAt(kT0);
  ASSERT_EQ(at->size(), 2u);
  EXPECT_EQ((*at)[0].labels_json, R"({"topic":"t"})");
  Write([](StoreDb* db) { EXPECT_EQ(*db->DeleteStatsBefore(kT0 + 1), 2); });
  EXPECT_EQ(*db_->CountRows("stats"), 1);
  EXPECT_FALSE(db_->CountRows("nope").ok());
}

}  // namespace
}  // namespace txpipe::sinks::store
