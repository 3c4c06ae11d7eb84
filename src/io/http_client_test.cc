#include "io/http_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace txpipe::io {
namespace {

using ::testing::HasSubstr;

// A cpp-httplib server on a free 127.0.0.1 port, stopped at destruction.
class Server {
 public:
  explicit Server(std::function<void(httplib::Server*)> routes) {
    svr_.set_tcp_nodelay(true);
    routes(&svr_);
    port_ = svr_.bind_to_any_port("127.0.0.1");  // listening from here on
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] {
      svr_.listen_after_bind();
      listened_ = true;
    });
  }
  ~Server() {
    // stop() does nothing until the listening loop runs: wait for it.
    while (!svr_.is_running() && !listened_) std::this_thread::yield();
    svr_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> listened_{false};
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

std::unique_ptr<HttpClient> NewClient(HttpClientOptions o = {}) {
  auto c = HttpClient::Create(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(c).value();
}

TEST(HttpClientTest, PostsBodyAndHeadersAndReadsTheResponse) {
  std::mutex mu;
  std::string got_body, got_type, got_auth, got_agent, got_expect = "unset";
  Server server([&](httplib::Server* s) {
    s->Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu);
      got_body = req.body;
      got_type = req.get_header_value("Content-Type");
      got_auth = req.get_header_value("Authorization");
      got_agent = req.get_header_value("User-Agent");
      if (req.has_header("Expect")) got_expect = req.get_header_value("Expect");
      res.status = 503;
      res.set_header("Retry-After", "7");
      res.set_content("busy", "text/plain");
    });
  });
  auto client = NewClient();
  // Large enough that libcurl would ask for 100-continue by default.
  const std::string body = R"({"id":"a","pad":")" + std::string(70'000, 'x') + "\"}";
  auto r =
      client->Post(server.Url("/hook"), body,
                   {{"Content-Type", "application/json"}, {"Authorization", "Bearer s3"}}, 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 503);  // a response, not an error
  EXPECT_EQ(r->body, "busy");
  ASSERT_TRUE(r->header("retry-after"));
  EXPECT_EQ(*r->header("Retry-After"), "7");
  EXPECT_FALSE(r->header("X-Nope"));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(got_body, body);
  EXPECT_EQ(got_type, "application/json");
  EXPECT_EQ(got_auth, "Bearer s3");
  EXPECT_EQ(got_agent, "txpipe");
  EXPECT_EQ(got_expect, "unset");
}

TEST(HttpClientTest, KeepsTheConnectionAlive) {
  std::mutex mu;
  std::vector<int> ports;
  Server server([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu);
      ports.push_back(req.remote_port);
      res.set_content("{}", "application/json");
    });
  });
  auto client = NewClient();
  for (int i = 0; i < 3; ++i) {
    auto r = client->Post(server.Url("/"), "{}", {{"Content-Type", "application/json"}}, 5000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
  }
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0], ports[1]);  // one client port: the same connection
  EXPECT_EQ(ports[1], ports[2]);
}

TEST(HttpClientTest, CutsLongResponseBodies) {
  Server server([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_content(std::string(10'000, 'e'), "text/plain");
    });
  });
  HttpClientOptions o;
  o.max_response_bytes = 100;
  auto client = NewClient(o);
  auto r = client->Post(server.Url("/"), "{}", {}, 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, std::string(100, 'e'));
}

TEST(HttpClientTest, NoResponseIsUnavailable) {
  auto client = NewClient();
  auto r = client->Post("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/", "{}", {}, 5000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), base::Code::kUnavailable) << r.status().ToString();
  EXPECT_TRUE(r.status().retryable());
}

TEST(HttpClientTest, TimeoutIsUnavailable) {
  base::StopFlag release;
  Server server([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request&, httplib::Response& res) {
      base::Clock::Real()->SleepUntil(base::Clock::Real()->MonotonicMicros() + 5'000'000, release);
      res.set_content("late", "text/plain");
    });
  });
  auto client = NewClient();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client->Post(server.Url("/"), "{}", {}, 200);
  const auto took = std::chrono::steady_clock::now() - t0;
  release.Request();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), base::Code::kUnavailable) << r.status().ToString();
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(HttpClientTest, CancelAbortsAWaitingRequest) {
  base::StopFlag release, cancel;
  std::atomic<bool> arrived{false};
  Server server([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request&, httplib::Response& res) {
      arrived = true;
      base::Clock::Real()->SleepUntil(base::Clock::Real()->MonotonicMicros() + 30'000'000, release);
      res.set_content("late", "text/plain");
    });
  });
  auto client = NewClient();
  // Raised from another thread once the server holds the request (a stop
  // arriving while a sink waits for its receiver).
  std::chrono::steady_clock::time_point raised;
  std::thread canceller([&] {
    while (!arrived) std::this_thread::yield();
    raised = std::chrono::steady_clock::now();
    cancel.Request();
  });
  auto r = client->Post(server.Url("/"), "{}", {}, 60'000, &cancel);
  const auto took = std::chrono::steady_clock::now() - raised;
  canceller.join();
  release.Request();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), base::Code::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("cancelled"));
  EXPECT_LT(took, std::chrono::milliseconds(2500));  // libcurl looks at least once a second
}

TEST(HttpClientTest, BadUrlsAreInvalidArguments) {
  auto client = NewClient();
  auto r = client->Post("ftp://127.0.0.1/x", "{}", {}, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), base::Code::kInvalidArgument) << r.status().ToString();
  r = client->Post("http://[::1/x", "{}", {}, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), base::Code::kInvalidArgument) << r.status().ToString();
}

TEST(HttpClientTest, IgnoresProxyEnvironmentVariables) {
  Server server([&](httplib::Server* s) {
    s->Post("/", [&](const httplib::Request&, httplib::Response& res) {
      res.set_content("direct", "text/plain");
    });
  });
  // A proxy that does not exist: used, it would fail the request.
  const std::string proxy = "http://127.0.0.1:" + std::to_string(ClosedPort());
  setenv("http_proxy", proxy.c_str(), 1);
  setenv("HTTP_PROXY", proxy.c_str(), 1);
  auto client = NewClient();
  auto r = client->Post(server.Url("/"), "{}", {}, 5000);
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "direct");
}

}  // namespace
}  // namespace txpipe::io
