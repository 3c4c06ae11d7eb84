#include "sinks/webhook/webhook_sink.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "brokers/embedded/embedded_broker.h"

namespace txpipe::sinks::webhook {
namespace {

namespace fs = std::filesystem;
using runtime::TopicPartition;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kT0Us = 1'795'442'400'000'000;  // 2026-11-23T14:00:00Z

std::string Alert(const std::string& id, const std::string& severity) {
  return fmt::format(
      R"({{"id":"{}","rule":"big_online_payment","kind":"event","severity":"{}",)"
      R"("stream":"finance","time":"2026-11-23T14:00:03.120Z","time_ms":1795442403120,)"
      R"("window":"","window_start_ms":0,"key":"T1","values":{{"amount":4950.5}},)"
      R"("message":"amount > 4900"}})",
      id, severity);
}

// A receiver on a free 127.0.0.1 port. It answers each POST with the next
// scripted reply, then 200 "ok", and records what it got.
class Receiver {
 public:
  struct Reply {
    Reply(int s = 200, std::string ra = "", std::string b = "ok")  // NOLINT: {503, "1"}
        : status(s), retry_after(std::move(ra)), body(std::move(b)) {}
    int status;
    std::string retry_after;  // "" = no header
    std::string body;
  };
  struct Request {
    std::string path, body, content_type, authorization;
  };

  Receiver() {
    svr_.set_tcp_nodelay(true);
    svr_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back({req.path, req.body, req.get_header_value("Content-Type"),
                           req.get_header_value("Authorization")});
      Reply r = always_ ? *always_ : Reply{};
      if (!always_ && !script_.empty()) {
        r = script_.front();
        script_.pop_front();
      }
      res.status = r.status;
      if (!r.retry_after.empty()) res.set_header("Retry-After", r.retry_after);
      res.set_content(r.body, "text/plain");
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");  // accepting connections from here on
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] {
      svr_.listen_after_bind();
      listened_ = true;
    });
  }
  ~Receiver() {
    // stop() does nothing until the listening loop runs: wait for it.
    while (!svr_.is_running() && !listened_) std::this_thread::yield();
    svr_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path = "/hook") const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }
  void Script(std::vector<Reply> replies) {
    std::lock_guard<std::mutex> l(mu_);
    script_.assign(replies.begin(), replies.end());
  }
  void Always(Reply r) {
    std::lock_guard<std::mutex> l(mu_);
    always_ = r;
  }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  std::vector<std::string> bodies() const {
    std::vector<std::string> out;
    for (const auto& r : requests()) out.push_back(r.body);
    return out;
  }

 private:
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> listened_{false};
  mutable std::mutex mu_;
  std::deque<Reply> script_;
  std::optional<Reply> always_;
  std::vector<Request> requests_;
};

// A port nothing listens on (bound, then closed).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Polls `done` until it holds or 10 s pass (the outcome comes from other threads).
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class WebhookSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (fs::temp_directory_path() / fmt::format("txpipe_webhook_{}_{}", getpid(), info->name()))
               .string();
    fs::remove_all(dir_);
    auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir_ + "/log",
                                                     log::LogOptions{});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(dir_);
  }
  runtime::Context Ctx(base::Clock* clock) {
    runtime::Context c;
    c.broker = broker_.get();
    c.metrics = &metrics_;
    c.clock = clock;
    c.data_dir = dir_ + "/data";
    c.name = "hook";
    return c;
  }
  WebhookOptions Opts() const {
    WebhookOptions o;
    o.url = receiver_.Url();
    return o;
  }
  void Produce(const std::vector<std::string>& bodies, const std::string& topic = "alerts") {
    if (!broker_->Describe(topic).ok()) {
      ASSERT_TRUE(broker_->CreateTopic(topic, 1).ok());
    }
    auto p = broker_->NewProducer(topic, runtime::ProducerOptions{});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (size_t i = 0; i < bodies.size(); ++i) {
      const std::string key = "k" + std::to_string(i);
      ASSERT_TRUE((*p)->Add({static_cast<int64_t>(i), key, {}, bodies[i]}).ok());
    }
    ASSERT_TRUE((*p)->Flush().ok());
  }
  // The group's committed offset of alerts/0 (0 when none).
  uint64_t Committed(const std::string& group = "webhook-hook") {
    auto offsets = broker_->GroupOffsets(group);
    auto it = offsets.find(TopicPartition{"alerts", 0});
    return it == offsets.end() ? 0 : it->second;
  }
  bool HasCommit(const std::string& group = "webhook-hook") {
    return broker_->GroupOffsets(group).count(TopicPartition{"alerts", 0}) > 0;
  }
  // PollOnce until the group has committed `end` (or 100 rounds).
  void Drain(WebhookSink* sink, uint64_t end) {
    for (int i = 0; i < 100 && Committed() < end; ++i) {
      auto r = sink->PollOnce(0, stop_);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    ASSERT_EQ(Committed(), end);
  }
  uint64_t Counter(const std::string& name, runtime::Labels extra = {}) {
    runtime::Labels l = {{"sink", "hook"}};
    l.insert(l.end(), extra.begin(), extra.end());
    return metrics_.CounterValue(name, l);
  }

  std::string dir_;
  std::unique_ptr<brokers::embedded::EmbeddedBroker> broker_;
  runtime::Metrics metrics_;
  Receiver receiver_;
  base::StopFlag stop_;
};

TEST_F(WebhookSinkTest, DeliversRecordsInOrderAsJson) {
  std::vector<std::string> alerts;
  for (int i = 0; i < 5; ++i) alerts.push_back(Alert("a" + std::to_string(i), "warning"));
  Produce(alerts);
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.headers = {{"Authorization", "Bearer s3cret"}};
  WebhookSink sink(o, Ctx(&clock));
  ASSERT_TRUE(sink.Open().ok());
  EXPECT_EQ(sink.group(), "webhook-hook");
  Drain(&sink, 5);
  const auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].path, "/hook");
    EXPECT_EQ(reqs[i].body, alerts[i]);
    EXPECT_EQ(reqs[i].content_type, "application/json");
    EXPECT_EQ(reqs[i].authorization, "Bearer s3cret");
  }
  EXPECT_EQ(Counter("txpipe_webhook_sent_total"), 5u);
  EXPECT_EQ(Counter("txpipe_webhook_requests_total"), 5u);
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 0u);
  EXPECT_EQ(sink.pending(), 0u);
  ASSERT_TRUE(sink.Close().ok());
}

TEST_F(WebhookSinkTest, RetriesAfterRetryAfterAndCommitsOnlyAfterThe2xx) {
  Produce({Alert("a0", "critical")});
  receiver_.Script({{503, "1", "busy"}, {503, "1", "busy"}, {200, "", "ok"}});
  base::FakeClock clock(kT0Us);
  WebhookSink sink(Opts(), Ctx(&clock));

  auto r = sink.PollOnce(0, stop_);  // 503
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 1u);
  EXPECT_FALSE(HasCommit());
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 1u);
  EXPECT_EQ(sink.pending(), 1u);
  EXPECT_EQ(sink.retry_at_us(), kT0Us + 1'000'000);  // Retry-After: 1

  r = sink.PollOnce(0, stop_);  // waits 1 s (the fake clock jumps), 503
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(clock.MonotonicMicros(), kT0Us + 1'000'000);
  EXPECT_FALSE(HasCommit());
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 2u);

  r = sink.PollOnce(0, stop_);  // waits 1 s, 200
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(clock.MonotonicMicros(), kT0Us + 2'000'000);
  EXPECT_EQ(Committed(), 1u);
  EXPECT_EQ(sink.pending(), 0u);
  EXPECT_EQ(sink.retry_at_us(), 0);
  EXPECT_EQ(Counter("txpipe_webhook_sent_total"), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 2u);
  EXPECT_THAT(receiver_.bodies(), ElementsAre(Alert("a0", "critical"), Alert("a0", "critical"),
                                              Alert("a0", "critical")));
}

TEST_F(WebhookSinkTest, BackoffGrowsWithoutRetryAfter) {
  Produce({Alert("a0", "critical")});
  receiver_.Script({{500}, {502}, {504}, {200}});
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.retry_initial_backoff_ms = 1000;
  o.retry_max_backoff_ms = 3000;
  WebhookSink sink(o, Ctx(&clock));
  std::vector<int64_t> waits;
  int64_t last = clock.MonotonicMicros();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sink.PollOnce(0, stop_).ok());
    waits.push_back((sink.retry_at_us() - last) / 1000);
    last = sink.retry_at_us();
  }
  // Jitter takes at most half: [500, 1000], [1000, 2000], [1500, 3000] (capped).
  EXPECT_GE(waits[0], 500);
  EXPECT_LE(waits[0], 1000);
  EXPECT_GE(waits[1], 1000);
  EXPECT_LE(waits[1], 2000);
  EXPECT_GE(waits[2], 1500);
  EXPECT_LE(waits[2], 3000);
  Drain(&sink, 1);
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 3u);
}

TEST_F(WebhookSinkTest, NonRetryableAnswerIsCountedAndTheNextRecordDelivered) {
  Produce({Alert("bad", "warning"), Alert("good", "warning")});
  receiver_.Script({{400, "", "payload rejected"}});
  base::FakeClock clock(kT0Us);
  WebhookSink sink(Opts(), Ctx(&clock));
  Drain(&sink, 2);
  EXPECT_THAT(receiver_.bodies(), ElementsAre(Alert("bad", "warning"), Alert("good", "warning")));
  EXPECT_EQ(Counter("txpipe_webhook_failed_total", {{"status", "400"}}), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_sent_total"), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 0u);
  EXPECT_EQ(clock.MonotonicMicros(), kT0Us);  // no waiting
}

TEST_F(WebhookSinkTest, GivesUpAfterMaxRetries) {
  Produce({Alert("a0", "warning"), Alert("a1", "warning")});
  receiver_.Script({{500}, {500}, {500}});
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.max_retries = 2;
  WebhookSink sink(o, Ctx(&clock));
  Drain(&sink, 2);
  EXPECT_THAT(receiver_.bodies(), ElementsAre(Alert("a0", "warning"), Alert("a0", "warning"),
                                              Alert("a0", "warning"), Alert("a1", "warning")));
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 2u);
  EXPECT_EQ(Counter("txpipe_webhook_failed_total", {{"status", "500"}}), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_sent_total"), 1u);
}

TEST_F(WebhookSinkTest, SkipsBelowMinSeverityAndBodiesThatAreNotJsonObjects) {
  const std::string no_severity = R"({"id":"x","message":"from another writer"})";
  Produce({Alert("i", "info"), Alert("w", "warning"), "not json", "[1,2]", Alert("c", "critical"),
           no_severity, Alert("u", "urgent")});
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.min_severity = "warning";
  WebhookSink sink(o, Ctx(&clock));
  Drain(&sink, 7);
  // Unknown or missing severities are sent: one alert too many beats one lost.
  EXPECT_THAT(receiver_.bodies(), ElementsAre(Alert("w", "warning"), Alert("c", "critical"),
                                              no_severity, Alert("u", "urgent")));
  EXPECT_EQ(Counter("txpipe_webhook_skipped_total", {{"reason", "below_min_severity"}}), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_skipped_total", {{"reason", "not_json"}}), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_skipped_total", {{"reason", "not_object"}}), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_sent_total"), 4u);
}

TEST_F(WebhookSinkTest, SkippedRecordsAloneAreCommitted) {
  Produce({Alert("i0", "info"), Alert("i1", "info")});
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.min_severity = "critical";
  WebhookSink sink(o, Ctx(&clock));
  Drain(&sink, 2);
  EXPECT_TRUE(receiver_.requests().empty());
}

TEST_F(WebhookSinkTest, BatchesAreJsonArrays) {
  Produce({Alert("a", "critical"), Alert("b", "info"), Alert("c", "critical"),
           Alert("d", "critical"), Alert("e", "critical"), Alert("f", "critical")});
  receiver_.Script({{200}, {503, "1"}});
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.batch = true;
  o.max_batch = 2;
  o.min_severity = "warning";
  WebhookSink sink(o, Ctx(&clock));
  Drain(&sink, 6);
  EXPECT_THAT(receiver_.bodies(),
              ElementsAre("[" + Alert("a", "critical") + "," + Alert("c", "critical") + "]",
                          "[" + Alert("d", "critical") + "," + Alert("e", "critical") + "]",
                          "[" + Alert("d", "critical") + "," + Alert("e", "critical") + "]",
                          "[" + Alert("f", "critical") + "]"));
  EXPECT_EQ(Counter("txpipe_webhook_sent_total"), 5u);  // records, not requests
  EXPECT_EQ(Counter("txpipe_webhook_requests_total"), 4u);
  EXPECT_EQ(Counter("txpipe_webhook_retries_total"), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_skipped_total", {{"reason", "below_min_severity"}}), 1u);
  EXPECT_EQ(receiver_.requests()[0].content_type, "application/json");
}

TEST_F(WebhookSinkTest, NoResponseIsRetried) {
  Produce({Alert("a0", "critical")});
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.url = fmt::format("http://127.0.0.1:{}/hook", ClosedPort());
  WebhookSink sink(o, Ctx(&clock));
  for (int i = 1; i <= 3; ++i) {
    auto r = sink.PollOnce(0, stop_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Counter("txpipe_webhook_retries_total"), static_cast<uint64_t>(i));
  }
  EXPECT_FALSE(HasCommit());
  EXPECT_EQ(sink.pending(), 1u);
  EXPECT_EQ(Counter("txpipe_webhook_failed_total", {{"status", "no_response"}}), 0u);
}

TEST_F(WebhookSinkTest, UndeliveredRecordsAreSentAgainAfterARestart) {
  Produce({Alert("a0", "critical"), Alert("a1", "critical")});
  receiver_.Script({{200}, {503}});
  base::FakeClock clock(kT0Us);
  {
    WebhookSink sink(Opts(), Ctx(&clock));
    ASSERT_TRUE(sink.PollOnce(0, stop_).ok());  // a0 delivered, a1 answered 503
    EXPECT_EQ(Committed(), 1u);
    EXPECT_EQ(sink.pending(), 1u);
    ASSERT_TRUE(sink.Close().ok());
  }
  WebhookSink again(Opts(), Ctx(&clock));
  Drain(&again, 2);
  EXPECT_THAT(receiver_.bodies(), ElementsAre(Alert("a0", "critical"), Alert("a1", "critical"),
                                              Alert("a1", "critical")));
}

TEST_F(WebhookSinkTest, StopDuringBackoffReturnsPromptly) {
  Produce({Alert("a0", "critical")});
  receiver_.Always({503, "3600", "down for maintenance"});
  WebhookOptions o = Opts();
  o.retry_max_backoff_ms = 3'600'000;  // Retry-After: an hour
  WebhookSink sink(o, Ctx(base::Clock::Real()));
  base::StopFlag stop;
  base::Status status;
  std::thread t([&] { status = sink.Run(stop); });
  ASSERT_TRUE(Eventually([&] { return Counter("txpipe_webhook_retries_total") >= 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  stop.Request();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_FALSE(HasCommit());
  EXPECT_EQ(receiver_.requests().size(), 1u);
}

// The real clock, counting the sink's waits (read from the test thread).
class CountingClock : public base::Clock {
 public:
  int64_t NowMicros() const override { return Real()->NowMicros(); }
  int64_t MonotonicMicros() const override { return Real()->MonotonicMicros(); }
  bool SleepUntil(int64_t deadline, const base::StopFlag& stop) override {
    ++sleeps;
    return Real()->SleepUntil(deadline, stop);
  }
  std::atomic<int> sleeps{0};
};

TEST_F(WebhookSinkTest, RunWaitsForItsTopicThenDelivers) {
  {
    base::FakeClock clock(kT0Us);
    WebhookSink sink(Opts(), Ctx(&clock));
    EXPECT_EQ(sink.Open().code(), base::Code::kNotFound);
  }
  CountingClock clock;
  WebhookSink sink(Opts(), Ctx(&clock));
  base::StopFlag stop;
  base::Status status;
  std::thread t([&] { status = sink.Run(stop); });
  // No topic yet: Run waits for it, by the clock.
  const bool waited = Eventually([&] { return clock.sleeps >= 1; });
  Produce({Alert("late", "critical")});  // creates `alerts`, as the processor would
  const bool delivered = Eventually([&] { return Committed() == 1; });
  stop.Request();
  t.join();
  ASSERT_TRUE(waited);
  ASSERT_TRUE(delivered);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_THAT(receiver_.bodies(), ElementsAre(Alert("late", "critical")));
}

TEST_F(WebhookSinkTest, AUrlLibcurlRejectsStopsTheSink) {
  Produce({Alert("a0", "critical")});
  base::FakeClock clock(kT0Us);
  WebhookOptions o = Opts();
  o.url = "http://[::1/hook";  // passes the pure checks, not libcurl's
  WebhookSink sink(o, Ctx(&clock));
  base::StopFlag stop;
  base::Status s = sink.Run(stop);
  EXPECT_EQ(s.code(), base::Code::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("webhook: url http://[::1/..."));
  EXPECT_FALSE(HasCommit());
}

}  // namespace
}  // namespace txpipe::sinks::webhook
