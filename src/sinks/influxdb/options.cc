#include "sinks/influxdb/options.h"

#include <fmt/format.h>

#include <set>

#include "sinks/common/url.h"

namespace txpipe::sinks::influxdb {

using base::Status;
using O = InfluxOptions;

const config::OptionTable<InfluxOptions>& InfluxOptionTable() {
  static const auto* t =
      &(*new config::OptionTable<InfluxOptions>("influxdb"))
           .StringList("topics", &O::topics,
                       "Topics to read: <stream>.windows, alerts, raw event topics (required)")
           .String("group", &O::group, "Consumer group; \"\" = influxdb-<component name>")
           .String("url", &O::url, "InfluxDB URL, e.g. http://127.0.0.1:8086 (required)")
           .Enum("api", &O::api, {"v1", "v2"},
                 "v1: /write?db= (1.x); v2: /api/v2/write?org=&bucket= (2.x, Cloud)")
           .String("database", &O::database, "v1: the database")
           .String("retention_policy", &O::retention_policy,
                   "v1: the retention policy (\"\" = the database's default)")
           .Bool("create_database", &O::create_database, "v1: CREATE DATABASE before writing")
           .String("username", &O::username, "v1: user name (HTTP Basic auth)")
           .String("password_env", &O::password_env,
                   "v1: environment variable holding the password")
           .String("org", &O::org, "v2: organization (required with api = \"v2\")")
           .String("bucket", &O::bucket, "v2: bucket (required with api = \"v2\")")
           .String("token_env", &O::token_env,
                   "Environment variable holding the API token (Authorization: Token)")
           .String("token_file", &O::token_file, "File whose first line is the API token")
           .Enum("per_event", &O::per_event, {"off", "lean", "seed"},
                 "Raw events: off | lean (low-cardinality tags) | seed (finance_transaction_data)")
           .StringMap("schemas", &O::schemas,
                      "Raw topic -> schema; default: the built-in schema of that topic")
           .String("alerts_topic", &O::alerts_topic, "The topic of alert records")
           .Integer("batch_max_lines", &O::batch_max_lines, "Lines per request at most",
                    int64_t{1}, int64_t{1'000'000})
           .DurationMs("batch_timeout", &O::batch_timeout_ms,
                       "A batch is sent this long after its first line at the latest", 1, 1)
           .Bool("gzip", &O::gzip, "Compress request bodies (Content-Encoding: gzip)")
           .DurationMs("timeout", &O::timeout_ms, "Longest a request may take", 1, 1)
           .DurationMs("retry_initial_backoff", &O::retry_initial_backoff_ms,
                       "Wait before the first retry (doubles per retry, with jitter)", 1, 1)
           .DurationMs("retry_max_backoff", &O::retry_max_backoff_ms,
                       "Longest wait between retries (Retry-After is held to it too)", 1, 1)
           .String("proxy", &O::proxy,
                   "Proxy URL; \"\" = direct (http_proxy etc. in the environment are not read)");
  return *t;
}

Status ValidateInfluxOptions(const InfluxOptions& o) {
  auto bad = [](std::string what) { return Status::InvalidArgument("influxdb: " + what); };
  TXP_RETURN_IF_ERROR(common::CheckHttpUrl(o.url, "influxdb: url"));
  if (o.topics.empty()) return bad("'topics' is empty");
  std::set<std::string> seen;
  for (const auto& t : o.topics) {
    if (t.empty()) return bad("topics: a topic name is empty");
    if (!seen.insert(t).second) return bad(fmt::format("topics: '{}' is listed twice", t));
  }
  if (o.api == "v1" && o.database.empty()) return bad("database: required with api = \"v1\"");
  if (o.api == "v2") {
    if (o.org.empty()) return bad("org: required with api = \"v2\"");
    if (o.bucket.empty()) return bad("bucket: required with api = \"v2\"");
    if (o.create_database) return bad("create_database: only with api = \"v1\"");
  }
  if (!o.token_env.empty() && !o.token_file.empty()) {
    return bad("token_env and token_file: set one of them");
  }
  if (!o.password_env.empty() && o.username.empty()) {
    return bad("password_env: set username too");
  }
  if ((!o.token_env.empty() || !o.token_file.empty()) && !o.username.empty()) {
    return bad("username and a token: set one way to authenticate");
  }
  if (o.alerts_topic.empty()) return bad("alerts_topic is empty");
  if (o.batch_max_lines < 1) return bad("batch_max_lines must be at least 1");
  if (o.retry_max_backoff_ms < o.retry_initial_backoff_ms) {
    return bad(fmt::format("retry_max_backoff ({} ms) is shorter than retry_initial_backoff ({} ms)",
                           o.retry_max_backoff_ms, o.retry_initial_backoff_ms));
  }
  if (!o.proxy.empty()) TXP_RETURN_IF_ERROR(common::CheckHttpUrl(o.proxy, "influxdb: proxy"));
  for (const auto& [topic, schema] : o.schemas) {
    if (!seen.count(topic)) {
      return bad(fmt::format("schemas: '{}' is not one of the topics", topic));
    }
    if (schema.empty()) return bad(fmt::format("schemas: '{}' has an empty schema", topic));
  }
  return Status::OK();
}

std::vector<std::string> InfluxWarnings(const InfluxOptions& o) {
  std::vector<std::string> out;
  if (o.per_event != "seed") return out;
  for (const auto& t : o.topics) {
    if (t == o.alerts_topic || t.ends_with(".windows")) continue;
    out.push_back(fmt::format(
        "per_event = \"seed\" tags each point of '{}' with its transaction_id and account_id: "
        "one series per transaction. InfluxDB 1.x refuses writes past max-series-per-database "
        "(1,000,000) and max-values-per-tag (100,000); InfluxDB Cloud's free plan past 10,000 "
        "series. Keep \"lean\" unless Grafana panels need the seed's "
        "finance_transaction_data",
        t));
    break;
  }
  return out;
}

}  // namespace txpipe::sinks::influxdb
