#include "sinks/influxdb/points.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace txpipe::sinks::influxdb {
namespace {

using ::testing::HasSubstr;

constexpr const char* kFinance =
    R"({"transaction_id": "TD7F030FC3E74BEDA", "account_id": "A414595", "transaction_type": )"
    R"("transfer", "amount": 309.37, "currency": "GBP", "transaction_date": )"
    R"("2026-11-23T10:00:00.123456Z", "description": "Transfer of 309.37 GBP", "branch": )"
    R"("Third Boulevard", "customer_age": 65, "customer_gender": "Female", "account_balance": )"
    R"(28531.46, "transaction_channel": "ATM", "transaction_status": "pending", "merchant_id": )"
    R"("M6104", "location_city": "New York", "location_country": "USA"})";
constexpr const char* kCar =
    R"({"transaction_id": "CTD7F030FC3E74BEDA", "timestamp": "2026-11-23T10:00:00Z", )"
    R"("dealer_id": "D414", "brand": "Tesla", "model": "Model 3", "year": 2024, "price": )"
    R"(81495.4, "currency": "EUR", "payment_method": "loan", "customer_id": "C526341", )"
    R"("customer_age": 59, "status": "failed", "city": "Berlin", "country": "Germany", )"
    R"("log_level": "ERROR", "message": "Payment declined: 2024 Tesla Model 3"})";
constexpr int64_t kMs = 1'795'428'000'123;  // 2026-11-23T10:00:00.123Z

std::unique_ptr<PointEncoder> Encoder(std::string per_event = "lean") {
  InfluxOptions o;
  o.topics = {"finance", "car-transactions-logs", "finance.windows", "alerts"};
  o.per_event = per_event;
  auto e = PointEncoder::Create(o);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

std::string Line(PointEncoder& e, const std::string& topic, std::string_view body,
                 int partition = 0, uint64_t offset = 0) {
  std::string out;
  int lines = -1;
  EncodeError error;
  EXPECT_TRUE(e.Append(topic, partition, offset, body, &out, &lines, &error)) << error.message;
  EXPECT_EQ(lines, out.empty() ? 0 : 1);
  return out;
}

TEST(PointsTest, WindowRecordsBecomeStreamWindowsAtTheWindowStart) {
  auto e = Encoder();
  EXPECT_EQ(Line(*e, "finance.windows",
                 R"({"stream":"finance","window":"10s","window_ms":10000,"start_ms":1795428000000,)"
                 R"("dimension":"transaction_type","value":"deposit","count":12,)"
                 R"("fields":{"amount_sum":3012.5,"amount_avg":251.04,"nothing":null}})"),
            "finance_windows,dimension=transaction_type,value=deposit,window=10s "
            "count=12i,amount_sum=3012.5,amount_avg=251.04 1795428000000000000\n");
}

TEST(PointsTest, AlertsKeepEveryAlertAndAReEmitOverwritesItself) {
  auto e = Encoder();
  auto alert = [](const std::string& id) {
    return R"({"id":")" + id +
           R"(","rule":"big_online_payment","kind":"event","severity":"warning",)"
           R"("stream":"finance","time_ms":1795428000123,"key":"T1",)"
           R"("values":{"amount":4950.5},"message":"amount > 4900"})";
  };
  const std::string a = Line(*e, "alerts", alert("big_online_payment|T1"));
  EXPECT_THAT(a, HasSubstr("alerts,kind=event,rule=big_online_payment,severity=warning,"
                           "stream=finance id=\"big_online_payment|T1\",key=\"T1\","
                           "message=\"amount > 4900\",values=\"{\\\"amount\\\":4950.5}\" "
                           "1795428000123"));  // the ms; then the id's sub-ms part
  EXPECT_EQ(Line(*e, "alerts", alert("big_online_payment|T1")), a);
  const std::string b = Line(*e, "alerts", alert("big_online_payment|T2"));
  EXPECT_NE(a.substr(a.rfind(' ')), b.substr(b.rfind(' ')));  // same ms, two points
}

TEST(PointsTest, LeanRawEventsHaveEnumTagsAndIdsAsFields) {
  auto e = Encoder();
  EXPECT_EQ(Line(*e, "finance", kFinance, 1, 100000),
            "finance_transactions,branch=Third\\ Boulevard,currency=GBP,customer_gender=Female,"
            "location_city=New\\ York,location_country=USA,transaction_channel=ATM,"
            "transaction_status=pending,transaction_type=transfer "
            "transaction_id=\"TD7F030FC3E74BEDA\",account_id=\"A414595\",amount=309.37,"
            "description=\"Transfer of 309.37 GBP\",customer_age=65i,account_balance=28531.46,"
            "merchant_id=\"M6104\" " +
                std::to_string(kMs * 1'000'000 + (100000 % 15625) * 64 + 1) + "\n");
  EXPECT_THAT(Line(*e, "car-transactions-logs", kCar),
              HasSubstr("car_transactions,brand=Tesla,currency=EUR,log_level=ERROR,"
                        "payment_method=loan,status=failed transaction_id="));
}

TEST(PointsTest, SeedModeWritesTheSeedJobsMeasurement) {
  auto e = Encoder("seed");
  const std::string line = Line(*e, "finance", kFinance);
  EXPECT_THAT(line, HasSubstr("finance_transaction_data,account_id=A414595,branch=Third\\ "
                              "Boulevard,currency=GBP,transaction_id=TD7F030FC3E74BEDA,"
                              "transaction_type=transfer amount=309.37,"
                              "transaction_date=\"2026-11-23T10:00:00.123456Z\","));
  EXPECT_THAT(line, HasSubstr("customer_age=65i"));
  EXPECT_THAT(line, HasSubstr("location_country=\"USA\""));
  // Schemas the seed did not write stay lean.
  EXPECT_THAT(Line(*e, "car-transactions-logs", kCar), HasSubstr("car_transactions,"));
}

TEST(PointsTest, TimestampsAreDistinctPerEventAndStablePerReplay) {
  auto e = Encoder();
  std::set<std::string> times;
  for (int partition = 0; partition < 2; ++partition) {
    for (uint64_t offset = 0; offset < 1000; ++offset) {
      std::string l = Line(*e, "finance", kFinance, partition, offset);
      times.insert(l.substr(l.rfind(' ')));
      EXPECT_EQ(Line(*e, "finance", kFinance, partition, offset), l);  // a replay
    }
  }
  EXPECT_EQ(times.size(), 2000u);  // same tags, same ms: still 2,000 points
}

TEST(PointsTest, PerEventOffWritesNothingForRawTopics) {
  auto e = Encoder("off");
  EXPECT_EQ(Line(*e, "finance", kFinance), "");
}

TEST(PointsTest, RecordsThatCannotBeWrittenSayWhy) {
  auto e = Encoder();
  std::string out;
  int lines = 0;
  EncodeError error;
  EXPECT_FALSE(e->Append("finance", 0, 0, "not json", &out, &lines, &error));
  EXPECT_EQ(error.reason, "not_json");
  EXPECT_FALSE(e->Append("finance.windows", 0, 0, R"({"stream":"s"})", &out, &lines, &error));
  EXPECT_EQ(error.reason, "missing_field");
  EXPECT_FALSE(e->Append("finance.windows", 0, 0,
                         R"({"stream":"s","window":"10s","window_ms":10000,"start_ms":1,)"
                         R"("dimension":"d","value":"ends\\","count":1})",
                         &out, &lines, &error));
  EXPECT_EQ(error.reason, "not_writable");
  EXPECT_THAT(error.message, HasSubstr("backslash"));
  EXPECT_EQ(out, "");
}

TEST(PointsTest, ARawTopicWithoutASchemaIsAnErrorNamingIt) {
  InfluxOptions o;
  o.topics = {"mystery"};
  auto e = PointEncoder::Create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("topic 'mystery' holds raw events"));
  o.per_event = "off";
  EXPECT_TRUE(PointEncoder::Create(o).ok());
  o.per_event = "lean";
  o.schemas = {{"mystery", "cars"}};
  EXPECT_TRUE(PointEncoder::Create(o).ok());
}

}  // namespace
}  // namespace txpipe::sinks::influxdb
