#include "sinks/webhook/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace txpipe::sinks::webhook {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

base::Status Parse(std::string_view toml, WebhookOptions* o) {
  auto root = config::ParseToml(toml, "p.toml");
  if (!root.ok()) return root.status();
  TXP_RETURN_IF_ERROR(WebhookOptionTable().Parse(*root->Get("sinks")->Get("hook"), o));
  return ValidateWebhookOptions(*o);
}

TEST(WebhookOptionsTest, DefaultsNeedOnlyAUrl) {
  WebhookOptions o;
  ASSERT_TRUE(Parse(R"(
[sinks.hook]
type = "webhook"
url = "https://hooks.example.com/services/T0/B0/secret"
)",
                    &o)
                  .ok());
  EXPECT_EQ(o.topics, std::vector<std::string>{"alerts"});
  EXPECT_EQ(o.group, "");
  EXPECT_TRUE(o.headers.empty());
  EXPECT_EQ(o.timeout_ms, 5'000);
  EXPECT_EQ(o.max_retries, 0);
  EXPECT_EQ(o.retry_initial_backoff_ms, 500);
  EXPECT_EQ(o.retry_max_backoff_ms, 30'000);
  EXPECT_EQ(o.min_severity, "info");
  EXPECT_FALSE(o.batch);
  EXPECT_EQ(o.max_batch, 100);
}

TEST(WebhookOptionsTest, ParsesEveryOption) {
  WebhookOptions o;
  auto s = Parse(R"(
[sinks.hook]
type = "webhook"
url = "http://127.0.0.1:9000/alerts"
topics = ["alerts", "alerts.cars"]
group = "pager"
headers = {Authorization = "Bearer abc", X-Team = "payments"}
timeout = "2s"
max_retries = 5
retry_initial_backoff = "100ms"
retry_max_backoff = "1m"
min_severity = "warning"
batch = true
max_batch = 20
proxy = "http://proxy:3128"
)",
                 &o);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(o.topics, (std::vector<std::string>{"alerts", "alerts.cars"}));
  EXPECT_EQ(o.group, "pager");
  EXPECT_EQ(o.headers, (std::map<std::string, std::string>{{"Authorization", "Bearer abc"},
                                                           {"X-Team", "payments"}}));
  EXPECT_EQ(o.timeout_ms, 2'000);
  EXPECT_EQ(o.max_retries, 5);
  EXPECT_EQ(o.retry_initial_backoff_ms, 100);
  EXPECT_EQ(o.retry_max_backoff_ms, 60'000);
  EXPECT_EQ(o.min_severity, "warning");
  EXPECT_TRUE(o.batch);
  EXPECT_EQ(o.max_batch, 20);
  EXPECT_EQ(o.proxy, "http://proxy:3128");
}

TEST(WebhookOptionsTest, ErrorsNameTheOption) {
  struct Case {
    const char* toml;
    const char* error;
  };
  const Case cases[] = {
      {"", "'url' is required"},
      {"url = \"ftp://example.com/x\"", "url: must start with http:// or https://"},
      {"url = \"hooks.example.com/x\"", "url: must start with http:// or https://"},
      {"url = \"http:///x\"", "url: no host"},
      {"url = \"http://h/a b\"", "url: holds a space"},
      {"url = \"http://h/\"\ntopics = []", "'topics' is empty"},
      {"url = \"http://h/\"\ntopics = [\"a\", \"a\"]", "'a' is listed twice"},
      {"url = \"http://h/\"\nheaders = {\"Bad Name\" = \"x\"}", "'Bad Name' is not a header name"},
      {"url = \"http://h/\"\nheaders = {X = \"a\\nb\"}", "the value of 'X' holds a line break"},
      {"url = \"http://h/\"\nheaders = {Content-Length = \"3\"}", "set by the sink"},
      {"url = \"http://h/\"\nretry_initial_backoff = \"10s\"\nretry_max_backoff = \"1s\"",
       "retry_max_backoff (1000 ms) is shorter than retry_initial_backoff (10000 ms)"},
      {"url = \"http://h/\"\nmin_severity = \"high\"",
       "sinks.hook.min_severity: 'high' is not one of"},
      {"url = \"http://h/\"\nmax_batch = 0", "sinks.hook.max_batch: must be between 1 and 10000"},
      {"url = \"http://h/\"\nmax_retries = -1", "sinks.hook.max_retries: must be >= 0"},
      {"url = \"http://h/\"\ntimeout = \"0s\"", "sinks.hook.timeout: must be at least 1 ms"},
      {"url = \"http://h/\"\nproxy = \"proxy:3128\"", "proxy: expected a URL"},
      {"url = \"http://h/\"\nretries = 3", "sinks.hook.retries: unknown option for webhook"},
  };
  for (const auto& c : cases) {
    WebhookOptions o;
    auto s = Parse(std::string("[sinks.hook]\ntype = \"webhook\"\n") + c.toml + "\n", &o);
    EXPECT_FALSE(s.ok()) << c.toml;
    EXPECT_THAT(s.message(), HasSubstr(c.error)) << c.toml;
  }
}

TEST(WebhookOptionsTest, ErrorsDoNotShowTheUrlsSecretParts) {
  WebhookOptions o;
  auto s = Parse(R"(
[sinks.hook]
type = "webhook"
url = "gopher://user:pw@example.com/services/T0/B0/secret"
)",
                 &o);
  EXPECT_THAT(s.message(), HasSubstr("'gopher://example.com/...'"));
  EXPECT_THAT(s.message(), Not(HasSubstr("secret")));
  EXPECT_THAT(s.message(), Not(HasSubstr("pw")));
}

TEST(WebhookOptionsTest, RedactUrlKeepsSchemeHostAndPort) {
  EXPECT_EQ(RedactUrl("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/...");
  EXPECT_EQ(RedactUrl("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  EXPECT_EQ(RedactUrl("http://u:p@h:1/x?token=s"), "http://h:1/...");
  EXPECT_EQ(RedactUrl("http://h?token=s"), "http://h/...");
  EXPECT_EQ(RedactUrl("nonsense"), "<not a URL>");
}

TEST(WebhookOptionsTest, SeverityRanks) {
  EXPECT_LT(SeverityRank("info"), SeverityRank("warning"));
  EXPECT_LT(SeverityRank("warning"), SeverityRank("critical"));
  EXPECT_EQ(SeverityRank("CRITICAL"), -1);
  EXPECT_EQ(SeverityRank(""), -1);
}

TEST(WebhookOptionsTest, DescribeListsEveryOption) {
  const std::string d = WebhookOptionTable().Describe();
  for (const char* name :
       {"url", "topics", "group", "headers", "timeout", "max_retries", "retry_initial_backoff",
        "retry_max_backoff", "min_severity", "batch", "max_batch", "proxy"}) {
    EXPECT_THAT(d, HasSubstr(std::string("  ") + name + " ")) << name;
  }
  EXPECT_THAT(d, HasSubstr("[alerts]"));
}

}  // namespace
}  // namespace txpipe::sinks::webhook
