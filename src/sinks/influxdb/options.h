// InfluxOptions: the InfluxDB sink's configuration (`[sinks.NAME] type =
// "influxdb"`, docs/influxdb.md). Durations are strings like "1s" (ms, s, m,
// h, d); a bare integer is ms. Credentials never come from the config text:
// only the names of the environment variables or files that hold them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/options.h"

namespace txpipe::sinks::influxdb {

struct InfluxOptions {
  // Topics to read. Required. A topic whose name ends in ".windows" holds
  // window records, `alerts_topic` holds alerts, any other topic holds raw
  // events of a schema (written as per_event says).
  std::vector<std::string> topics;
  // Consumer group; "" = "influxdb-<component name>".
  std::string group;
  // The server: "http://127.0.0.1:8086", or an InfluxDB Cloud URL. Required.
  std::string url;
  // "v1": POST /write?db=&rp=&precision=ns (InfluxDB 1.x, VictoriaMetrics).
  // "v2": POST /api/v2/write?org=&bucket=&precision=ns with
  // "Authorization: Token" (InfluxDB 2.x, Cloud, VictoriaMetrics). Default v1.
  std::string api = "v1";
  // v1: the database (default "txpipe") and retention policy ("" = the
  // database's default); create_database issues CREATE DATABASE first.
  std::string database = "txpipe";
  std::string retention_policy;
  bool create_database = false;
  // v1 credentials: a user name and the environment variable holding its
  // password ("" = none). Sent as HTTP Basic auth.
  std::string username;
  std::string password_env;
  // v2: organization and bucket (both required with api = "v2").
  std::string org;
  std::string bucket;
  // The API token (v2; with v1 too, for InfluxDB 1.8+ / 2.x's 1.x API): the
  // environment variable that holds it, or a file whose first line is it.
  std::string token_env;
  std::string token_file;
  // What raw-event topics become: "off" (nothing), "lean" (low-cardinality
  // tags, ids as fields), "seed" (the seed's finance_transaction_data, ids
  // as tags). Default "lean".
  std::string per_event = "lean";
  // Raw topic -> schema name (or path); a topic not listed uses the built-in
  // schema whose topic it is ("finance", "car-transactions-logs").
  std::map<std::string, std::string> schemas;
  // The topic that holds alert records. Default "alerts".
  std::string alerts_topic = "alerts";
  // A batch is sent when it holds this many lines, or this long after its
  // first line. Defaults 5,000 and 1 s.
  int64_t batch_max_lines = 5'000;
  int64_t batch_timeout_ms = 1'000;
  // Compress request bodies with gzip. Default true.
  bool gzip = true;
  // Longest a request may take, connecting included. Default 10 s.
  int64_t timeout_ms = 10'000;
  // Wait before the first retry; it doubles per retry (less up to half, for
  // jitter) up to retry_max_backoff. Defaults 500 ms and 30 s. The server's
  // Retry-After replaces the computed wait, held to [initial, max].
  int64_t retry_initial_backoff_ms = 500;
  int64_t retry_max_backoff_ms = 30'000;
  // Proxy URL; "" = connect directly (http_proxy etc. are not read).
  std::string proxy;
};

const config::OptionTable<InfluxOptions>& InfluxOptionTable();

// Checks what the table cannot check alone. Pure: reads no environment.
base::Status ValidateInfluxOptions(const InfluxOptions& options);

// Valid options that are likely a mistake, one line each (txpipe check).
std::vector<std::string> InfluxWarnings(const InfluxOptions& options);

}  // namespace txpipe::sinks::influxdb
