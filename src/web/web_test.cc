#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "web/dashboard.h"

namespace txpipe::web {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = io::HttpServer::Start({.listen = "127.0.0.1:0"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    RegisterDashboard(server_.get());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  std::unique_ptr<io::HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardTest, ServesThePage) {
  auto r = client_->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-cache");
  EXPECT_THAT(r->body, StartsWith("<!doctype html>"));
  EXPECT_THAT(r->body, HasSubstr(R"(src="app.js")"));
  EXPECT_THAT(r->body, HasSubstr(R"(href="app.css")"));

  auto same = client_->Get("/index.html");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->body, r->body);
}

TEST_F(DashboardTest, ServesTheAssets) {
  auto js = client_->Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js->get_header_value("Cache-Control"), "no-cache");
  EXPECT_THAT(js->body, HasSubstr("/api/v1/live"));

  auto css = client_->Get("/app.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");
  EXPECT_THAT(css->body, HasSubstr(".uplot"));  // uPlot's CSS is bundled in

  // Every embedded asset is served as embedded.
  for (const Asset& a : Assets()) {
    auto r = client_->Get(std::string(a.path));
    ASSERT_TRUE(r) << a.path;
    EXPECT_EQ(r->status, 200) << a.path;
    EXPECT_EQ(r->body, a.bytes) << a.path;
  }
}

TEST_F(DashboardTest, UnknownPathsAre404) {
  auto r = client_->Get("/nope.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("no such path"));
  // POST is not a route of the page: the server's 405.
  auto p = client_->Post("/", "x", "text/plain");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 405);
}

}  // namespace
}  // namespace txpipe::web
