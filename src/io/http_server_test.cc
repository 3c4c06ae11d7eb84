#include "io/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "io/http_client.h"

namespace txpipe::io {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

std::unique_ptr<HttpServer> StartServer(HttpServerOptions o = {}) {
  o.listen = "127.0.0.1:0";
  auto s = HttpServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return nullptr;
  EXPECT_GT((*s)->port(), 0);
  return std::move(s).value();
}

// A plain TCP connection to the server, for what clients do not do.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

TEST(HttpServerTest, RoutesByMethodAndPath) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  server->Get("/hello", [](const ServerRequest& req, ServerResponse& res) {
    res.body = "hello " + req.param("name").value_or("nobody") + " from " + req.remote_addr;
    res.headers.emplace_back("X-Test", req.header("x-in").value_or("-"));
  });
  httplib::Client client("127.0.0.1", server->port());

  auto r = client.Get("/hello?name=ada%20l", {{"X-In", "yes"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello ada l from 127.0.0.1");
  EXPECT_EQ(r->get_header_value("X-Test"), "yes");
  EXPECT_THAT(r->get_header_value("Content-Type"), StartsWith("text/plain"));

  r = client.Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->body, R"({"error":"no such path: /nope"})");

  r = client.Post("/hello", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  EXPECT_THAT(r->body, HasSubstr("method POST not allowed on /hello"));

  r = client.Head("/hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");

  // Routes may be added while serving.
  server->Post("/hello", [](const ServerRequest& req, ServerResponse& res) {
    res.status = 201;
    res.content_type = "application/json";
    res.body = req.body;
  });
  r = client.Post("/hello", R"({"a":1})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"a":1})");
}

// A request sent while Start is adding routes (the socket is bound, the
// client's connection waits in the backlog) is answered by those routes, not
// with a 404: txpipe up's POSTs during start-up (issue 10).
TEST(HttpServerTest, ARequestSentBeforeRoutesAreInIsServedByThem) {
  int fd = -1;
  auto server = HttpServer::Start({.listen = "127.0.0.1:0"}, [&](HttpServer& s) {
    fd = Connect(s.port());
    const std::string req = "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    // Nothing answers while routes are being added (a server that served
    // already would answer 404 within this wait; a correct one never does).
    pollfd pfd{fd, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 100), 0);
    s.Get("/ready", [](const ServerRequest&, ServerResponse& res) { res.body = "ready"; });
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_GE(fd, 0);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) answer.append(buf, n);
  close(fd);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("\r\n\r\nready"));
}

TEST(HttpServerTest, HandlerExceptionIs500) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  server->Get("/boom",
              [](const ServerRequest&, ServerResponse&) { throw std::runtime_error("kaput"); });
  httplib::Client client("127.0.0.1", server->port());
  auto r = client.Get("/boom");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, R"({"error":"kaput"})");
  // The server lives on.
  r = client.Get("/boom");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST(HttpServerTest, BodyOverMaxBodyBytesIs413) {
  auto server = StartServer();  // the default: 8 MiB
  ASSERT_TRUE(server);
  server->Post("/in", [](const ServerRequest& req, ServerResponse& res) {
    res.body = std::to_string(req.body.size());
  });
  auto client = HttpClient::Create();
  ASSERT_TRUE(client.ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/in";

  std::string body(8 << 20, 'x');  // exactly the limit: accepted
  auto r = (*client)->Post(url, body, {{"Content-Type", "text/plain"}}, 10'000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, std::to_string(8 << 20));

  body.push_back('x');
  r = (*client)->Post(url, body, {{"Content-Type", "text/plain"}}, 10'000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"error":"request body over 8388608 bytes"})");

  // And the server still answers.
  r = (*client)->Post(url, "small", {{"Content-Type", "text/plain"}}, 10'000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "5");
}

TEST(HttpServerTest, HugeBodyIs413AndNeverReachesTheHandler) {
  auto server = StartServer({.max_body_bytes = 1 << 20});
  ASSERT_TRUE(server);
  server->Post("/in", [](const ServerRequest&, ServerResponse& res) { res.body = "read"; });
  httplib::Client client("127.0.0.1", server->port());
  std::string body(64 << 20, 'x');
  auto r = client.Post("/in", body, "application/x-ndjson");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"error":"request body over 1048576 bytes"})");
}

TEST(HttpServerTest, BindErrorNamesTheAddress) {
  auto first = StartServer();
  ASSERT_TRUE(first);
  const std::string listen = "127.0.0.1:" + std::to_string(first->port());
  auto second = HttpServer::Start({.listen = listen});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), base::Code::kUnavailable);
  EXPECT_EQ(second.status().message(), "listen " + listen + ": address already in use");
}

TEST(HttpServerTest, BadListenIsInvalidArgument) {
  for (const char* listen :
       {"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ":8080", "::1:8080", "[::1]8080"}) {
    auto s = HttpServer::Start({.listen = listen});
    ASSERT_FALSE(s.ok()) << listen;
    EXPECT_EQ(s.status().code(), base::Code::kInvalidArgument) << listen;
    EXPECT_THAT(s.status().message(), StartsWith(std::string("listen '") + listen + "'"));
  }
  auto s = HttpServer::Start({.listen = "127.0.0.1:0", .max_connections = 0});
  EXPECT_EQ(s.status().code(), base::Code::kInvalidArgument);
}

TEST(HttpServerTest, StopIsPromptWithClientsConnected) {
  // Timeouts far longer than the test may take.
  auto server = StartServer(
      {.read_timeout_ms = 60'000, .write_timeout_ms = 60'000, .keep_alive_timeout_ms = 60'000});
  ASSERT_TRUE(server);
  server->Get("/x", [](const ServerRequest&, ServerResponse& res) { res.body = "x"; });
  // One client idle on a kept-alive connection after a request, one that
  // sent half a request line, one that sent nothing.
  httplib::Client keep("127.0.0.1", server->port());
  keep.set_keep_alive(true);
  auto r = keep.Get("/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  int half = Connect(server->port());
  ASSERT_EQ(write(half, "GET /x HT", 9), 9);
  int silent = Connect(server->port());
  // Wait until the server serves all three.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (server->open_connections() < 3 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(server->open_connections(), 3u);

  auto start = Clock::now();
  server->Stop();
  auto took = Clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(1))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  // The connections are closed: reads see end of file (or a reset).
  char c;
  EXPECT_LE(read(half, &c, 1), 0);
  EXPECT_LE(read(silent, &c, 1), 0);
  close(half);
  close(silent);
  EXPECT_EQ(server->open_connections(), 0u);
  server->Stop();  // idempotent
}

TEST(HttpServerTest, ServesConcurrentClients) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  server->Get("/n", [](const ServerRequest& req, ServerResponse& res) {
    res.body = req.param("i").value_or("");
  });
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server->port());
      for (int i = 0; i < 50; ++i) {
        std::string v = std::to_string(t * 1000 + i);
        auto r = client.Get("/n?i=" + v);
        if (r && r->status == 200 && r->body == v) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 400);
}


// Reads from `fd` until `want` is in what was read, end of file, or 10 s.
std::string ReadUntil(int fd, std::string_view want) {
  std::string got;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (got.find(want) == std::string::npos && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

TEST(HttpServerTest, SlowHeadersAreCutOffAtTheHeaderDeadline) {
  // Each byte comes well within the read timeout, but the headers as a whole
  // take longer than header_timeout_ms: the server closes the connection.
  auto server = StartServer({.read_timeout_ms = 5'000, .header_timeout_ms = 300});
  ASSERT_TRUE(server);
  server->Get("/x", [](const ServerRequest&, ServerResponse& res) { res.body = "x"; });
  int fd = Connect(server->port());
  const std::string request = "GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  auto start = Clock::now();
  bool cut = false;
  for (char c : request) {
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      cut = true;
      break;
    }
    // Is the connection closed yet? (Waits 50 ms: the slow client's pace.)
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      char b;
      if (read(fd, &b, 1) <= 0) {
        cut = true;
        break;
      }
    }
  }
  auto took = Clock::now() - start;
  EXPECT_TRUE(cut) << "the slow request was served";
  EXPECT_LT(took, std::chrono::seconds(3));
  close(fd);
  EXPECT_EQ(server->stats().header_timeouts, 1u);
  // A normal client on the same server is unaffected.
  httplib::Client client("127.0.0.1", server->port());
  auto r = client.Get("/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "x");
}

TEST(HttpServerTest, ConnectionsOverTheCapGet503) {
  auto server = StartServer({.max_connections = 2});
  ASSERT_TRUE(server);
  server->Get("/x", [](const ServerRequest&, ServerResponse& res) { res.body = "x"; });
  int a = Connect(server->port());
  int b = Connect(server->port());
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (server->open_connections() < 2 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(server->open_connections(), 2u);
  int c = Connect(server->port());
  std::string got = ReadUntil(c, "}");
  EXPECT_THAT(got, StartsWith("HTTP/1.1 503 "));
  EXPECT_THAT(got, HasSubstr("too many open connections"));
  EXPECT_EQ(server->stats().connections_rejected, 1u);
  close(a);
  close(b);
  close(c);
  // Once those close, there is room again.
  deadline = Clock::now() + std::chrono::seconds(10);
  while (server->open_connections() > 0 && Clock::now() < deadline) std::this_thread::yield();
  httplib::Client client("127.0.0.1", server->port());
  auto r = client.Get("/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerTest, StreamsChunksUntilTheHandlerReturns) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  server->Get("/count", [](const ServerRequest& req, ServerResponse& res) {
    int n = std::stoi(req.param("n").value_or("3"));
    res.content_type = "application/x-ndjson";
    res.stream = [n](ResponseStream& out) {
      for (int i = 0; i < n; ++i) {
        if (!out.Write("{\"i\":" + std::to_string(i) + "}\n")) return;
        if (!out.Wait(1)) return;
      }
    };
  });
  httplib::Client client("127.0.0.1", server->port());
  std::vector<std::string> chunks;
  auto r = client.Get("/count?n=5", [&](const char* data, size_t len) {
    chunks.emplace_back(data, len);
    return true;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  std::string all;
  for (auto& c : chunks) all += c;
  EXPECT_EQ(all, "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n");
  // HEAD gets the headers only.
  auto h = client.Head("/count?n=5");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_TRUE(h->body.empty());
}

TEST(HttpServerTest, StreamEndsWhenTheClientGoesAwayAndOnStop) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  std::atomic<int> running{0};
  std::atomic<int> ended{0};
  server->Get("/forever", [&](const ServerRequest&, ServerResponse& res) {
    res.content_type = "text/event-stream";
    res.stream = [&](ResponseStream& out) {
      ++running;
      // Quiet stream: writes only every 10 s, so only Wait can notice.
      while (out.Write(": ping\n\n") && out.Wait(10'000)) {
      }
      --running;
      ++ended;
    };
  });
  auto wait_for = [](auto cond) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!cond() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return cond();
  };
  const std::string get = "GET /forever HTTP/1.1\r\nHost: a\r\n\r\n";
  int a = Connect(server->port());
  ASSERT_EQ(send(a, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  EXPECT_THAT(ReadUntil(a, ": ping"), HasSubstr("text/event-stream"));
  int b = Connect(server->port());
  ASSERT_EQ(send(b, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  EXPECT_THAT(ReadUntil(b, ": ping"), HasSubstr(": ping"));
  ASSERT_TRUE(wait_for([&] { return running == 2; }));
  close(a);  // the client goes away: its stream ends long before 10 s
  EXPECT_TRUE(wait_for([&] { return ended == 1; }));
  auto start = Clock::now();
  server->Stop();  // ends the other one
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(ended, 2);
  close(b);
}

}  // namespace
}  // namespace txpipe::io
