#include "sinks/influxdb/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace txpipe::sinks::influxdb {
namespace {

using ::testing::HasSubstr;

InfluxOptions Valid() {
  InfluxOptions o;
  o.topics = {"finance", "finance.windows", "alerts"};
  o.url = "http://127.0.0.1:8086";
  return o;
}

std::string Error(InfluxOptions o) {
  base::Status s = ValidateInfluxOptions(o);
  EXPECT_FALSE(s.ok());
  return s.message();
}

TEST(InfluxOptionsTest, ErrorsNameTheOption) {
  EXPECT_TRUE(ValidateInfluxOptions(Valid()).ok());
  InfluxOptions o = Valid();
  o.url = "";
  EXPECT_THAT(Error(o), HasSubstr("influxdb: url: is required"));
  o.url = "ftp://x";
  EXPECT_THAT(Error(o), HasSubstr("influxdb: url: must start with http:// or https://"));
  o = Valid();
  o.topics = {};
  EXPECT_THAT(Error(o), HasSubstr("'topics' is empty"));
  o = Valid();
  o.api = "v2";
  EXPECT_THAT(Error(o), HasSubstr("org: required"));
  o.org = "my-org";
  EXPECT_THAT(Error(o), HasSubstr("bucket: required"));
  o.bucket = "b";
  EXPECT_TRUE(ValidateInfluxOptions(o).ok());
  o.create_database = true;
  EXPECT_THAT(Error(o), HasSubstr("create_database: only with api = \"v1\""));
  o = Valid();
  o.token_env = "T";
  o.token_file = "/f";
  EXPECT_THAT(Error(o), HasSubstr("set one of them"));
  o = Valid();
  o.password_env = "P";
  EXPECT_THAT(Error(o), HasSubstr("password_env: set username too"));
  o = Valid();
  o.schemas = {{"cars", "cars"}};
  EXPECT_THAT(Error(o), HasSubstr("schemas: 'cars' is not one of the topics"));
  o = Valid();
  o.retry_initial_backoff_ms = 100;
  o.retry_max_backoff_ms = 10;
  EXPECT_THAT(Error(o), HasSubstr("retry_max_backoff (10 ms) is shorter"));
}

TEST(InfluxOptionsTest, SeedModeWarnsOfOneSeriesPerTransaction) {
  InfluxOptions o = Valid();
  EXPECT_TRUE(InfluxWarnings(o).empty());
  o.per_event = "seed";
  auto w = InfluxWarnings(o);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0], HasSubstr("one series per transaction"));
  EXPECT_THAT(w[0], HasSubstr("max-series-per-database"));
  o.topics = {"finance.windows", "alerts"};  // no raw topic: nothing to warn of
  EXPECT_TRUE(InfluxWarnings(o).empty());
}

}  // namespace
}  // namespace txpipe::sinks::influxdb
