#include "sinks/store/records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sinks/store/testing_util.h"

namespace txpipe::sinks::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RecordParserTest, WindowRecordOfTheProcessor) {
  RecordParser p;
  WindowRecord r;
  RecordError e;
  ASSERT_TRUE(p.ParseWindow(test_util::WindowRecordJson("finance", "10s", 10'000, 1000,
                                                        "transaction_type", "deposit", 4, 100.5),
                            &r, &e))
      << e.message;
  EXPECT_EQ(r.row.stream, "finance");
  EXPECT_EQ(r.row.window, "10s");
  EXPECT_EQ(r.row.window_ms, 10'000);
  EXPECT_EQ(r.row.start_ms, 1000);
  EXPECT_EQ(r.row.end_ms, 11'000);
  EXPECT_EQ(r.row.dimension, "transaction_type");
  EXPECT_EQ(r.row.value, "deposit");
  EXPECT_EQ(r.row.count, 4);
  EXPECT_EQ(r.row.fields_json, R"({"amount_sum":100.5,"amount_avg":25.125,"failed_ratio":0.25})");
  EXPECT_EQ(r.schema, "finance");
  EXPECT_EQ(r.topic, "finance");
  EXPECT_THAT(r.field_names, ElementsAre("amount_sum", "amount_avg", "failed_ratio"));
}

TEST(RecordParserTest, WindowDefaultsAndScalarValues) {
  RecordParser p;
  WindowRecord r;
  RecordError e;
  ASSERT_TRUE(p.ParseWindow(
      R"({"stream":"s","window":"1m","window_ms":60000,"start_ms":1.2e5,"dimension":"d","value":7,"count":0})",
      &r, &e))
      << e.message;
  EXPECT_EQ(r.row.value, "7");
  EXPECT_EQ(r.row.start_ms, 120'000);
  EXPECT_EQ(r.row.end_ms, 180'000);
  EXPECT_EQ(r.row.fields_json, "{}");
  EXPECT_EQ(r.schema, "");
}

TEST(RecordParserTest, BadWindowRecordsHaveAReason) {
  const std::string ok =
      R"("stream":"s","window":"1m","window_ms":60000,"start_ms":0,"dimension":"d","value":"v")";
  struct Case {
    std::string body;
    std::string reason;
    std::string what;
  } cases[] = {
      {"not json", "not_json", "not JSON"},
      {"[1,2]", "not_object", "not a JSON object"},
      {"{" + ok + "}", "missing_field", "no 'count'"},
      {"{" + ok + R"(,"count":"3"})", "wrong_type", "'count'"},
      {"{" + ok + R"(,"count":-1})", "bad_value", "'count'"},
      {R"({"stream":"s","window":"1m","window_ms":0,"start_ms":0,"dimension":"d","value":"v","count":1})",
       "bad_value", "'window_ms'"},
      {R"({"stream":"","window":"1m","window_ms":1,"start_ms":0,"dimension":"d","value":"v","count":1})",
       "bad_value", "'stream'"},
      {"{" + ok + R"(,"count":1,"fields":[1]})", "wrong_type", "'fields'"},
      {"{" + ok + R"(,"count":1,"fields":{"a":"x"}})", "wrong_type", "'fields.a'"},
      {R"({"stream":"s","window":"1m","window_ms":1,"start_ms":0,"dimension":"d","value":[],"count":1})",
       "wrong_type", "'value'"},
  };
  RecordParser p;
  for (const auto& c : cases) {
    WindowRecord r;
    RecordError e;
    EXPECT_FALSE(p.ParseWindow(c.body, &r, &e)) << c.body;
    EXPECT_EQ(e.reason, c.reason) << c.body;
    EXPECT_THAT(e.message, HasSubstr(c.what)) << c.body;
  }
}

TEST(RecordParserTest, AlertRecords) {
  RecordParser p;
  AlertRow a;
  RecordError e;
  ASSERT_TRUE(p.ParseAlert(test_util::AlertRecordJson("r|T1", 5), &a, &e)) << e.message;
  EXPECT_EQ(a.id, "r|T1");
  EXPECT_EQ(a.rule, "big_online_payment");
  EXPECT_EQ(a.kind, "event");
  EXPECT_EQ(a.severity, "warning");
  EXPECT_EQ(a.stream, "finance");
  EXPECT_EQ(a.time_ms, 5);
  EXPECT_EQ(a.key, "T1");
  EXPECT_EQ(a.values_json, R"({"amount":4950.5,"transaction_channel":"online"})");
  EXPECT_EQ(a.message, "amount > 4900");
  ASSERT_TRUE(p.ParseAlert(R"({"id":"x","rule":"r","time_ms":1})", &a, &e));
  EXPECT_EQ(a.values_json, "{}");
  EXPECT_FALSE(p.ParseAlert(R"({"rule":"r","time_ms":1})", &a, &e));
  EXPECT_EQ(e.reason, "missing_field");
  EXPECT_FALSE(p.ParseAlert(R"({"id":"x","rule":"r","time_ms":1,"values":3})", &a, &e));
  EXPECT_EQ(e.reason, "wrong_type");
}

}  // namespace
}  // namespace txpipe::sinks::store
