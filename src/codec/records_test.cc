// The record reader both record sinks share; the store's tests
// (sinks/store/records_test.cc) cover every field and error through it.
#include "codec/records.h"

#include <gtest/gtest.h>

namespace txpipe::codec {
namespace {

TEST(RecordsTest, WindowFieldsKeepTheirOrderValuesAndNulls) {
  RecordParser p;
  WindowRecord w;
  RecordError e;
  ASSERT_TRUE(p.ParseWindow(
      R"({"stream":"finance","window":"10s","window_ms":10000,"start_ms":5,"dimension":"total",)"
      R"("value":"all","count":3,"fields":{"b_sum":2,"a_avg":0.5,"c":null}})",
      &w, &e))
      << e.message;
  ASSERT_EQ(w.fields.size(), 3u);
  EXPECT_EQ(w.fields[0].first, "b_sum");
  EXPECT_EQ(w.fields[0].second, 2.0);
  EXPECT_EQ(w.fields[1].first, "a_avg");
  EXPECT_EQ(w.fields[1].second, 0.5);
  EXPECT_EQ(w.fields[2].first, "c");
  EXPECT_FALSE(w.fields[2].second.has_value());
  EXPECT_EQ(w.fields_json, R"({"b_sum":2,"a_avg":0.5,"c":null})");
  EXPECT_EQ(w.end_ms, 10005);
}

TEST(RecordsTest, AFieldThatIsNotANumberIsWrongType) {
  RecordParser p;
  WindowRecord w;
  RecordError e;
  EXPECT_FALSE(p.ParseWindow(
      R"({"stream":"s","window":"10s","window_ms":10000,"start_ms":5,"dimension":"total",)"
      R"("value":"all","count":3,"fields":{"x":"1"}})",
      &w, &e));
  EXPECT_EQ(e.reason, "wrong_type");
  EXPECT_EQ(e.message, "field 'fields.x': expected a number or null");
}

}  // namespace
}  // namespace txpipe::codec
