#include "sinks/store/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace txpipe::sinks::store {
namespace {

using ::testing::HasSubstr;

base::Status Parse(std::string_view toml, StoreOptions* o) {
  auto root = config::ParseToml(toml, "p.toml");
  if (!root.ok()) return root.status();
  TXP_RETURN_IF_ERROR(StoreOptionTable().Parse(*root->Get("sinks")->Get("store"), o));
  return ValidateStoreOptions(*o);
}

TEST(StoreOptionsTest, DefaultsAndATypicalConfig) {
  StoreOptions o;
  ASSERT_TRUE(Parse(R"(
[sinks.store]
type = "store"
topics = ["finance.windows", "alerts", "finance"]
retention = {"10s" = "2h", "5m" = "90d"}
stats_interval = "10s"
)",
                    &o)
                  .ok());
  EXPECT_EQ(o.path, "store.db");
  EXPECT_EQ(o.recent_rows, 1000);
  EXPECT_EQ(WindowRetentionMs(o, 10'000), 2 * kHourMs);
  EXPECT_EQ(WindowRetentionMs(o, 300'000), 90 * kDayMs);
  EXPECT_EQ(WindowRetentionMs(o, 60'000), 7 * kDayMs);  // the table replaced the default
  EXPECT_EQ(o.stats_interval_ms, 10'000);
  EXPECT_EQ(KindOfTopic(o, "finance.windows"), TopicKind::kWindows);
  EXPECT_EQ(KindOfTopic(o, "alerts"), TopicKind::kAlerts);
  EXPECT_EQ(KindOfTopic(o, "finance"), TopicKind::kRaw);

  StoreOptions d;
  EXPECT_EQ(WindowRetentionMs(d, 10'000), kDayMs);
  EXPECT_EQ(WindowRetentionMs(d, 60'000), 30 * kDayMs);
  EXPECT_THAT(StoreOptionTable().Describe(), HasSubstr(R"({"10s" = "1d", "1m" = "30d"})"));
}

TEST(StoreOptionsTest, ErrorsNameTheOption) {
  auto err = [](const std::string& body) {
    StoreOptions o;
    base::Status s = Parse("[sinks.store]\n" + body + "\n", &o);
    EXPECT_FALSE(s.ok()) << body;
    return s.message();
  };
  EXPECT_THAT(err(""), HasSubstr("'topics' is required"));
  EXPECT_THAT(err("topics = [\"a\", \"a\"]"), HasSubstr("topic 'a' is listed twice"));
  EXPECT_THAT(err("topics = [\"a\"]\nrecent_rows = -1"), HasSubstr("sinks.store.recent_rows"));
  EXPECT_THAT(err("topics = [\"a\"]\nretention = {\"0s\" = \"1d\"}"),
              HasSubstr("window sizes must be greater than 0"));
  EXPECT_THAT(err("topics = [\"a\"]\nretention = {\"10s\" = \"soon\"}"),
              HasSubstr("sinks.store.retention"));
  EXPECT_THAT(err("topics = [\"a\"]\nstats_interval = \"10ms\""), HasSubstr("stats_interval"));
  EXPECT_THAT(err("topics = [\"a\"]\nstats_interval = \"1m\"\nstats_retention = \"1m\""),
              HasSubstr("two snapshots"));
  EXPECT_THAT(err("topics = [\"a\"]\ncolour = 1"), HasSubstr("unknown option for store"));
}

}  // namespace
}  // namespace txpipe::sinks::store
