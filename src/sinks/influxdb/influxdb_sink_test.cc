// The InfluxDB sink against a scripted InfluxDB on loopback (a cpp-httplib
// server that stores points as InfluxDB does: one per series and time, the
// newest fields win) and the embedded broker: batching, commits after 2xx,
// retries (429 with Retry-After, 5xx, hangs), 413 splits, 400 partial writes
// to the dead-letter topic, 401. The real influxd is in tests/influxdb_test.py.
#include "sinks/influxdb/influxdb_sink.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "brokers/embedded/embedded_broker.h"

namespace txpipe::sinks::influxdb {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Gunzip(const std::string& in) {
  z_stream zs{};
  inflateInit2(&zs, 15 + 16);
  std::string out;
  char buf[1 << 16];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  }
  inflateEnd(&zs);
  return out;
}

// A scripted InfluxDB 1.x /write endpoint on a free 127.0.0.1 port.
class FakeInflux {
 public:
  struct Reply {
    int status = 204;
    std::string retry_after;  // "" = no header
    std::string body;
  };

  FakeInflux() {
    svr_.set_tcp_nodelay(true);
    svr_.Post("/write", [this](const httplib::Request& req, httplib::Response& res) {
      // (httplib may have unpacked the gzip body already.)
      const bool packed = req.body.size() > 2 && req.body[0] == '\x1f' && req.body[1] == '\x8b';
      std::string body = packed ? Gunzip(req.body) : req.body;
      gzip_ = gzip_ || req.get_header_value("Content-Encoding") == "gzip";
      std::unique_lock l(mu_);
      ++requests_;
      authorization_ = req.get_header_value("Authorization");
      query_ = req.get_param_value("db");
      std::vector<std::string> lines;
      for (size_t at = 0; at < body.size();) {
        size_t nl = body.find('\n', at);
        lines.push_back(body.substr(at, nl - at));
        at = nl == std::string::npos ? body.size() : nl + 1;
      }
      max_lines_seen_ = std::max(max_lines_seen_, lines.size());
      if (hang_next_) {
        hang_next_ = false;
        cv_.wait(l, [&] { return released_; });  // until the test ends the hang
        res.status = 204;
        return;
      }
      Reply r;
      if (!script_.empty()) {
        r = script_.front();
        script_.pop_front();
      } else if (max_lines_ > 0 && lines.size() > max_lines_) {
        r = {413, "", R"({"error":"Request Entity Too Large"})"};
      }
      if (r.status == 204) {
        // As influxd: store the lines it can, refuse the rest (400 partial write).
        size_t refused = 0;
        for (const auto& line : lines) {
          if (!refuse_.empty() && line.find(refuse_) != std::string::npos) {
            ++refused;
            continue;
          }
          size_t sp = 0;
          while ((sp = line.find(' ', sp + 1)) != std::string::npos && line[sp - 1] == '\\') {
          }
          points_[line.substr(0, sp) + line.substr(line.rfind(' '))] = line;
        }
        if (refused > 0) {
          r = {400, "",
               fmt::format(R"({{"error":"partial write: unable to parse '{}': bad value dropped=0"}})",
                           refuse_)};
        }
      }
      res.status = r.status;
      if (!r.retry_after.empty()) res.set_header("Retry-After", r.retry_after);
      if (!r.body.empty()) res.set_content(r.body, "application/json");
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] {
      svr_.listen_after_bind();
      listened_ = true;
    });
  }
  ~FakeInflux() {
    Release();
    while (!svr_.is_running() && !listened_) std::this_thread::yield();
    svr_.stop();
    thread_.join();
  }
  std::string Url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  void Script(std::vector<Reply> replies) {
    std::lock_guard l(mu_);
    script_.assign(replies.begin(), replies.end());
  }
  void MaxLines(size_t n) {
    std::lock_guard l(mu_);
    max_lines_ = n;
  }
  void Refuse(std::string marker) {
    std::lock_guard l(mu_);
    refuse_ = std::move(marker);
  }
  void HangNext() {
    std::lock_guard l(mu_);
    hang_next_ = true;
  }
  void Release() {
    std::lock_guard l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  size_t points() const {
    std::lock_guard l(mu_);
    return points_.size();
  }
  int requests() const {
    std::lock_guard l(mu_);
    return requests_;
  }
  size_t max_lines_seen() const {
    std::lock_guard l(mu_);
    return max_lines_seen_;
  }
  std::string authorization() const {
    std::lock_guard l(mu_);
    return authorization_;
  }
  bool gzip() const {
    std::lock_guard l(mu_);
    return gzip_;
  }

 private:
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> listened_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Reply> script_;
  size_t max_lines_ = 0;
  std::string refuse_;
  bool hang_next_ = false;
  bool released_ = false;
  bool gzip_ = false;
  int requests_ = 0;
  size_t max_lines_seen_ = 0;
  std::string authorization_, query_;
  std::map<std::string, std::string> points_;
};

// Polls `done` until it holds or 20 s pass (the outcome comes from other threads).
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::string FinanceEvent(int i, std::string_view description = "Deposit") {
  return fmt::format(
      R"({{"transaction_id": "T{}", "account_id": "A{:06}", "transaction_type": "deposit", )"
      R"("amount": 100.5, "currency": "USD", "transaction_date": "2026-11-23T10:00:00Z", )"
      R"("description": "{}", "branch": "Main Street", "customer_age": 30, )"
      R"("customer_gender": "Male", "account_balance": 1000.0, "transaction_channel": "ATM", )"
      R"("transaction_status": "completed", "merchant_id": "M1", "location_city": "London", )"
      R"("location_country": "UK"}})",
      i, i % 1000, description);
}

class InfluxSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            fmt::format("txpipe_influx_{}_{}", getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir_ + "/log",
                                                     log::LogOptions{});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
    ASSERT_TRUE(broker_->CreateTopic("finance", 2).ok());
  }
  void TearDown() override {
    StopSink();
    broker_.reset();
    fs::remove_all(dir_);
  }

  void Produce(int from, int to, std::function<std::string(int)> body = [](int i) {
    return FinanceEvent(i);
  }) {
    auto p = broker_->NewProducer("finance", runtime::ProducerOptions{});
    ASSERT_TRUE(p.ok());
    for (int i = from; i < to; ++i) {
      std::string b = body(i), key = fmt::format("A{}", i % 1000);
      core::EventView ev;
      ev.key = key;
      ev.body = b;
      ASSERT_TRUE((*p)->Add(ev).ok());
    }
    ASSERT_TRUE((*p)->Flush().ok());
  }

  InfluxOptions Options() {
    InfluxOptions o;
    o.topics = {"finance"};
    o.url = influx_.Url();
    o.database = "t";
    o.retry_initial_backoff_ms = 5;
    o.retry_max_backoff_ms = 20;
    o.batch_timeout_ms = 50;
    return o;
  }

  void StartSink(InfluxOptions o) {
    runtime::Context ctx;
    ctx.broker = broker_.get();
    ctx.metrics = &metrics_;
    ctx.name = "influx";
    sink_ = std::make_unique<InfluxSink>(std::move(o), ctx);
    ASSERT_TRUE(sink_->Open().ok());
    thread_ = std::thread([this] { status_ = sink_->Run(stop_); });
  }
  void StopSink() {
    if (!thread_.joinable()) return;
    stop_.Request();
    influx_.Release();
    thread_.join();
    EXPECT_TRUE(status_.ok()) << status_.ToString();
  }

  uint64_t Committed() const {
    uint64_t n = 0;
    for (const auto& [tp, off] : broker_->GroupOffsets("influxdb-influx")) n += off;
    return n;
  }
  std::vector<core::Event> DeadLetters() {
    std::vector<core::Event> out;
    auto c = broker_->NewConsumer("check", {"finance.dlq"}, runtime::ConsumerOptions{});
    EXPECT_TRUE(c.ok());
    while (true) {
      auto n = (*c)->Poll(100, [&](const runtime::Message& m) {
        core::Event e;
        e.body = std::string(m.event.body);
        for (const auto& h : m.event.headers) e.headers.emplace_back(h.key, h.value);
        out.push_back(std::move(e));
      });
      if (!n.ok() || *n == 0) break;
    }
    return out;
  }
  uint64_t Counter(const std::string& name, runtime::Labels labels = {{"sink", "influx"}}) {
    return metrics_.counter(name, "", labels)->value();
  }

  std::string dir_;
  FakeInflux influx_;
  std::unique_ptr<brokers::embedded::EmbeddedBroker> broker_;
  runtime::Metrics metrics_;
  std::unique_ptr<InfluxSink> sink_;
  base::StopFlag stop_;
  std::thread thread_;
  base::Status status_;
};

TEST_F(InfluxSinkTest, WritesEveryEventOnceInBatchesAndCommitsAfterTheAnswer) {
  Produce(0, 12'000);
  StartSink(Options());
  ASSERT_TRUE(Eventually([&] { return Committed() == 12'000; })) << Committed();
  EXPECT_EQ(influx_.points(), 12'000u);
  EXPECT_LE(influx_.max_lines_seen(), 5'000u);
  EXPECT_GE(influx_.requests(), 3);
  EXPECT_TRUE(influx_.gzip());
  EXPECT_EQ(Counter("txpipe_influxdb_points_total"), 12'000u);
  // Events that come later are written too (the batch timeout sends them).
  Produce(12'000, 12'010);
  ASSERT_TRUE(Eventually([&] { return Committed() == 12'010; }));
  EXPECT_EQ(influx_.points(), 12'010u);
}

TEST_F(InfluxSinkTest, RetriesTooManyRequestsAndServerErrorsWithoutLoss) {
  influx_.Script({{429, "0", R"({"error":"slow down"})"}, {500, "", ""}, {503, "1", ""}});
  Produce(0, 100);
  StartSink(Options());
  ASSERT_TRUE(Eventually([&] { return Committed() == 100; }));
  EXPECT_EQ(influx_.points(), 100u);
  EXPECT_EQ(Counter("txpipe_influxdb_retries_total"), 3u);
  EXPECT_GT(metrics_.gauge("txpipe_influxdb_last_error_timestamp_seconds", "", {{"sink", "influx"}})
                ->value(),
            0);
  EXPECT_EQ(Counter("txpipe_influxdb_requests_total", {{"sink", "influx"}, {"status", "429"}}),
            1u);
  EXPECT_TRUE(DeadLetters().empty());
}

TEST_F(InfluxSinkTest, AHangingServerIsTimedOutAndTheBatchSentAgain) {
  influx_.HangNext();
  Produce(0, 50);
  InfluxOptions o = Options();
  o.timeout_ms = 200;
  StartSink(o);
  ASSERT_TRUE(Eventually([&] { return Committed() == 50; }));
  EXPECT_EQ(influx_.points(), 50u);
  EXPECT_GE(Counter("txpipe_influxdb_requests_total", {{"sink", "influx"}, {"status", "none"}}),
            1u);
}

TEST_F(InfluxSinkTest, TooLargeBatchesAreSplit) {
  influx_.MaxLines(300);
  Produce(0, 2'000);
  InfluxOptions o = Options();
  o.batch_max_lines = 2'000;
  o.batch_timeout_ms = 1'000;
  StartSink(o);
  ASSERT_TRUE(Eventually([&] { return Committed() == 2'000; }));
  EXPECT_EQ(influx_.points(), 2'000u);
  EXPECT_TRUE(DeadLetters().empty());
}

TEST_F(InfluxSinkTest, LinesRefusedInAPartialWriteGoToTheDeadLetterTopic) {
  influx_.Refuse("POISON");
  Produce(0, 1'000, [](int i) { return FinanceEvent(i, i % 250 == 7 ? "POISON" : "Deposit"); });
  StartSink(Options());
  ASSERT_TRUE(Eventually([&] { return Committed() == 1'000; }));
  EXPECT_EQ(influx_.points(), 996u);
  auto dead = DeadLetters();
  ASSERT_EQ(dead.size(), 4u);
  for (const auto& d : dead) {
    EXPECT_THAT(d.body, HasSubstr("description=\"POISON\""));
    EXPECT_THAT(d.body, ::testing::Not(HasSubstr("\n")));
    std::map<std::string, std::string> h(d.headers.begin(), d.headers.end());
    EXPECT_EQ(h["error"], "refused");
    EXPECT_THAT(h["error_message"], HasSubstr("HTTP 400: partial write"));
    EXPECT_EQ(h["source_topic"], "finance");
    EXPECT_EQ(h["component"], "influx");
  }
  EXPECT_EQ(Counter("txpipe_influxdb_dead_letters_total",
                    {{"sink", "influx"}, {"reason", "refused"}}),
            4u);
}

TEST_F(InfluxSinkTest, EventsThatCannotBeEncodedGoToTheDeadLetterTopic) {
  Produce(0, 10, [](int i) { return i == 3 ? std::string("not json") : FinanceEvent(i); });
  StartSink(Options());
  ASSERT_TRUE(Eventually([&] { return Committed() == 10; }));
  EXPECT_EQ(influx_.points(), 9u);
  auto dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].body, "not json");
}

TEST_F(InfluxSinkTest, RefusedCredentialsStopWritingAndKeepTheData) {
  influx_.Script({{401, "", R"({"error":"authorization failed"})"}});
  setenv("TXPIPE_TEST_INFLUX_TOKEN", "s3cret", 1);
  Produce(0, 100);
  InfluxOptions o = Options();
  o.token_env = "TXPIPE_TEST_INFLUX_TOKEN";
  StartSink(o);
  ASSERT_TRUE(Eventually([&] {
    return Counter("txpipe_influxdb_requests_total", {{"sink", "influx"}, {"status", "401"}}) == 1;
  }));
  EXPECT_EQ(influx_.authorization(), "Token s3cret");
  EXPECT_EQ(metrics_.gauge("txpipe_influxdb_up", "", {{"sink", "influx"}})->value(), 0);
  ASSERT_TRUE(Eventually([&] { return metrics_.Problems().count("sinks.influx") == 1; }));
  EXPECT_THAT(metrics_.Problems()["sinks.influx"], HasSubstr("HTTP 401: authorization failed"));
  StopSink();  // prompt: the sink does not wait out its minute before trying again
  EXPECT_EQ(Committed(), 0u);  // the data waits in the log
  EXPECT_TRUE(DeadLetters().empty());
  EXPECT_EQ(influx_.points(), 0u);
}

// With batches waiting behind the refused one (the sender's slot full, the
// next batch encoded), stopping still does not wait for InfluxDB.
TEST_F(InfluxSinkTest, StoppingWithBatchesQueuedBehindARefusedOneIsPrompt) {
  std::vector<FakeInflux::Reply> refused(100, {403, "", R"({"error":"forbidden"})"});
  influx_.Script(refused);
  Produce(0, 5'000);
  InfluxOptions o = Options();
  o.batch_max_lines = 1'000;
  StartSink(o);
  ASSERT_TRUE(Eventually([&] { return metrics_.Problems().count("sinks.influx") == 1; }));
  const auto start = std::chrono::steady_clock::now();
  StopSink();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(Committed(), 0u);
  EXPECT_EQ(influx_.requests(), 1);
}

TEST_F(InfluxSinkTest, StoppingWhileInfluxDbIsDownCommitsNothingUndelivered) {
  std::vector<FakeInflux::Reply> down(1000, {503, "", ""});
  influx_.Script(down);
  Produce(0, 100);
  StartSink(Options());
  ASSERT_TRUE(Eventually([&] { return Counter("txpipe_influxdb_retries_total") >= 3; }));
  StopSink();
  EXPECT_EQ(Committed(), 0u);  // read again at the next start
}

}  // namespace
}  // namespace txpipe::sinks::influxdb
