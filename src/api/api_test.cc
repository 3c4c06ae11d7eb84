#include "api/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sinks/store/query.h"
#include "sinks/store/store_db.h"
#include "sinks/store/testing_util.h"

namespace txpipe::api {
namespace {

namespace st = sinks::store;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kT0 = 1'795'442'400'000;  // 2026-11-23T14:00:00Z

// A broker with no topics and no groups: enough for /readyz and live lag.
class EmptyBroker : public runtime::Broker {
 public:
  base::Status CreateTopic(const std::string&, int) override { return base::Status::OK(); }
  base::Result<runtime::TopicInfo> Describe(const std::string& topic) const override {
    return base::Status::NotFound(topic);
  }
  std::vector<std::string> Topics() const override { return {}; }
  base::Result<std::unique_ptr<runtime::Producer>> NewProducer(
      const std::string&, const runtime::ProducerOptions&) override {
    return base::Status::NotSupported("test broker");
  }
  base::Result<std::unique_ptr<runtime::Consumer>> NewConsumer(
      const std::string&, const std::vector<std::string>&,
      const runtime::ConsumerOptions&) override {
    return base::Status::NotSupported("test broker");
  }
  std::map<runtime::TopicPartition, uint64_t> GroupOffsets(const std::string&) const override {
    return {};
  }
  std::vector<std::string> Groups() const override { return {}; }
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_path_ = dir_.path() + "/store.db";
    metrics_.counter("txpipe_test_events_total", "Events.", {{"component", "t"}})->Add(3);
    auto server = io::HttpServer::Start({.listen = "127.0.0.1:0"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    RegisterApi(server_.get(),
                {.store_path = store_path_, .broker = &broker_, .metrics = &metrics_});
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  // Fills the store as the store sink would.
  void FillStore() {
    auto db = st::StoreDb::Open(store_path_, st::OpenMode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto& w = *db;
    st::StreamRow s;
    s.stream = "finance";
    s.schema = "finance";
    s.topic = "finance";
    s.windows_topic = "finance.windows";
    s.windows = {{"10s", 10'000}, {"1m", 60'000}};
    s.dimensions = {"total", "transaction_type"};
    s.fields = {"amount_avg", "amount_sum", "failed_ratio"};
    ASSERT_TRUE(w->Begin().ok());
    ASSERT_TRUE(w->PutStream(s).ok());
    int64_t i = 0;
    for (const char* value : {"deposit", "payment"}) {
      for (int64_t t = kT0; t < kT0 + 180'000; t += 60'000) {
        st::WindowRow row{.stream = "finance",
                          .window = "1m",
                          .window_ms = 60'000,
                          .start_ms = t,
                          .end_ms = t + 60'000,
                          .dimension = "transaction_type",
                          .value = value,
                          .count = ++i,
                          .fields_json = R"({"amount_sum":10.5})"};
        ASSERT_TRUE(w->UpsertWindow(row, 0).ok());
      }
    }
    for (int n = 0; n < 3; ++n) {
      st::AlertRow a{.id = "a" + std::to_string(n),
                     .rule = "big_online_payment",
                     .kind = "event",
                     .severity = "warning",
                     .stream = "finance",
                     .time_ms = kT0 + n * 1000,
                     .window = "",
                     .window_start_ms = 0,
                     .key = "T" + std::to_string(n),
                     .values_json = R"({"amount":4950.5})",
                     .message = "amount > 4900"};
      ASSERT_TRUE(w->UpsertAlert(a, 0).ok());
    }
    for (uint64_t n = 0; n < 5; ++n) {
      ASSERT_TRUE(w->PutRecent({"finance", 0, n, kT0 + static_cast<int64_t>(n), "k",
                                R"({"transaction_id":")" + std::to_string(n) + "\"}"})
                      .ok());
    }
    ASSERT_TRUE(
        w->PutStats(kT0, {{"txpipe_topic_events_total", R"({"topic":"finance"})", 100}}).ok());
    ASSERT_TRUE(
        w->PutStats(kT0 + 5000,
                    {{"txpipe_topic_events_total", R"({"topic":"finance"})", 600},
                     {"txpipe_store_rejected_total", R"({"sink":"store","reason":"not_json"})", 2}})
            .ok());
    ASSERT_TRUE(w->Commit().ok());
  }

  // What the query layer answers, for comparison with the endpoint.
  template <typename Fn>
  std::string Expected(Fn fn) {
    auto db = st::StoreDb::Open(store_path_, st::OpenMode::kReadOnly);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return "";
    st::Query q(db->get(), &broker_);
    auto r = fn(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->ToJson() : "";
  }

  httplib::Result Get(const std::string& path) { return client_->Get(path); }

  // The body of a 200 JSON answer to `path`.
  std::string GetJson(const std::string& path) {
    auto r = Get(path);
    EXPECT_TRUE(r) << path;
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path;
    return r->body;
  }

  // The error of a `status` answer to `path`.
  std::string GetError(const std::string& path, int status) {
    auto r = Get(path);
    EXPECT_TRUE(r) << path;
    if (!r) return "";
    EXPECT_EQ(r->status, status) << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path;
    EXPECT_THAT(r->body, StartsWith(R"({"error":")")) << path;
    return r->body;
  }

  st::test_util::TempDir dir_;
  std::string store_path_;
  EmptyBroker broker_;
  runtime::Metrics metrics_;
  std::unique_ptr<io::HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiTest, HealthzAndMetrics) {
  auto r = Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");

  r = Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));
  EXPECT_THAT(r->body, HasSubstr("txpipe_test_events_total{component=\"t\"} 3\n"));
  // The routes' own figures, and the process's.
  EXPECT_THAT(r->body, HasSubstr("txpipe_http_requests_total{path=\"/healthz\",code=\"200\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("txpipe_http_request_duration_seconds_count{path=\"/healthz\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("# TYPE txpipe_process_resident_memory_bytes gauge\n"));
  EXPECT_THAT(r->body, HasSubstr("# TYPE txpipe_process_cpu_seconds_total counter\n"));
}

TEST_F(ApiTest, WithoutAStoreReadyzAndQueriesAre503) {
  auto r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "not ready: no store at " + store_path_ + " yet\n");
  for (const char* path : {"/api/v1/streams", "/api/v1/series?stream=finance&window=1m",
                           "/api/v1/alerts", "/api/v1/recent", "/api/v1/stats"}) {
    EXPECT_EQ(GetError(path, 503), R"({"error":"no store at )" + store_path_ + R"( yet"})");
  }
  // Still, a bad parameter is a 400 first.
  EXPECT_THAT(GetError("/api/v1/alerts?limit=x", 400), HasSubstr("limit: not an integer"));
}

TEST_F(ApiTest, ReadyzWantsTheStoreAndTheBroker) {
  FillStore();
  auto r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ready\n");

  // A component that reports a problem makes it not ready, until it clears it.
  metrics_.SetProblem("sinks.influx", "http://h:8086/... answers HTTP 401: unauthorized");
  r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "not ready: sinks.influx: http://h:8086/... answers HTTP 401: unauthorized\n");
  metrics_.SetProblem("sinks.influx", "");
  r = Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  auto server = io::HttpServer::Start({.listen = "127.0.0.1:0"});
  ASSERT_TRUE(server.ok());
  RegisterApi(server->get(), {.store_path = store_path_});
  httplib::Client client("127.0.0.1", (*server)->port());
  r = client.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "not ready: no broker\n");
  // No registry given: the routes' and the process's figures still.
  r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("txpipe_http_requests_total{path=\"/readyz\",code=\"503\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("txpipe_process_resident_memory_bytes "));
}

TEST_F(ApiTest, RoutesAnswerWhatTheQueryLayerDoes) {
  FillStore();
  EXPECT_EQ(GetJson("/api/v1/streams"), Expected([](st::Query& q) { return q.Streams(); }));
  EXPECT_THAT(GetJson("/api/v1/streams"), HasSubstr(R"("stream":"finance")"));

  std::string series = GetJson(
      "/api/v1/series?stream=finance&window=60s&by=transaction_type&measure=amount"
      "&from=2026-11-23T14:01:00Z&to=1795442520000");
  EXPECT_EQ(series, Expected([](st::Query& q) {
              return q.Series({.stream = "finance",
                               .window = "1m",
                               .by = "transaction_type",
                               .measure = "amount",
                               .from_ms = kT0 + 60'000,
                               .to_ms = kT0 + 120'000});
            }));
  EXPECT_THAT(series, HasSubstr(R"("measure":"amount_sum")"));
  EXPECT_THAT(series, HasSubstr(R"("data":[[1795442460,1795442520],[10.5,10.5],[10.5,10.5]])"));
  // Defaults: by total, measure count, the last hour.
  EXPECT_EQ(GetJson("/api/v1/series?stream=finance&window=1m"),
            Expected([](st::Query& q) { return q.Series({.stream = "finance", .window = "1m"}); }));

  std::string alerts = GetJson("/api/v1/alerts?limit=2&since=1795442400000");
  EXPECT_EQ(alerts, Expected([](st::Query& q) { return q.Alerts({.since_ms = kT0, .limit = 2}); }));
  EXPECT_THAT(alerts, HasSubstr(R"("id":"a2")"));
  EXPECT_THAT(alerts, Not(HasSubstr(R"("id":"a0")")));
  EXPECT_EQ(GetJson("/api/v1/alerts"), Expected([](st::Query& q) { return q.Alerts({}); }));

  std::string recent = GetJson("/api/v1/recent?stream=finance&limit=3");
  EXPECT_EQ(recent,
            Expected([](st::Query& q) { return q.Recent({.stream = "finance", .limit = 3}); }));
  EXPECT_THAT(recent, HasSubstr(R"("topic":"finance")"));

  std::string stats = GetJson("/api/v1/stats");
  EXPECT_EQ(stats, Expected([](st::Query& q) { return q.Stats(); }));
  EXPECT_THAT(stats, HasSubstr(R"("lag_source":"broker")"));
  EXPECT_THAT(stats, HasSubstr(R"("rate_per_s":100)"));
}

TEST_F(ApiTest, BadParametersAre400NamingTheParameter) {
  FillStore();
  EXPECT_THAT(GetError("/api/v1/series?stream=finance&window=7s", 400),
              HasSubstr(R"({"error":"window: unknown window '7s' for stream 'finance')"));
  EXPECT_THAT(GetError("/api/v1/series?window=1m", 400), HasSubstr(R"({"error":"stream: )"));
  EXPECT_THAT(GetError("/api/v1/series?stream=cars&window=1m", 400),
              HasSubstr(R"({"error":"stream: unknown stream 'cars')"));
  EXPECT_THAT(GetError("/api/v1/series?stream=finance&window=1m&by=colour", 400),
              HasSubstr(R"({"error":"by: )"));
  EXPECT_THAT(GetError("/api/v1/series?stream=finance&window=1m&measure=speed", 400),
              HasSubstr(R"({"error":"measure: )"));
  EXPECT_THAT(GetError("/api/v1/series?stream=finance&window=1m&from=yesterday", 400),
              HasSubstr(R"({"error":"from: )"));
  EXPECT_THAT(GetError("/api/v1/series?stream=finance&window=1m&from=now&to=-1h", 400),
              HasSubstr(R"({"error":"from: )"));
  EXPECT_THAT(GetError("/api/v1/alerts?limit=0", 400),
              HasSubstr(R"({"error":"limit: must be between 1 and 10000, got 0"})"));
  EXPECT_THAT(GetError("/api/v1/alerts?since=soon", 400), HasSubstr(R"({"error":"since: )"));
  EXPECT_THAT(GetError("/api/v1/recent?limit=1e3", 400),
              HasSubstr(R"({"error":"limit: not an integer: '1e3'"})"));
  EXPECT_THAT(GetError("/api/v1/alerts?limt=5", 400),
              HasSubstr(R"js({"error":"limt: unknown parameter (known: since, limit)"})js"));
  EXPECT_THAT(GetError("/api/v1/streams?x=1", 400), HasSubstr(R"({"error":"x: unknown parameter)"));
}

TEST_F(ApiTest, UnknownPathIs404AndWrongMethodIs405) {
  EXPECT_EQ(GetError("/api/v1/nope", 404), R"({"error":"no such path: /api/v1/nope"})");
  auto r = client_->Post("/api/v1/streams", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
}

}  // namespace
}  // namespace txpipe::api
