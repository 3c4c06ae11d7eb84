// The query layer over the embedded store: what `txpipe query` prints and
// what the HTTP server's /api/v1/ endpoints return, one function per
// endpoint (docs/store.md):
//
//   GET /api/v1/streams                                   Query::Streams
//   GET /api/v1/series?stream=&window=&by=&measure=&from=&to=   Query::Series
//   GET /api/v1/alerts?since=&limit=                      Query::Alerts
//   GET /api/v1/recent?stream=&limit=                     Query::Recent
//   GET /api/v1/stats                                     Query::Stats
//
// Errors about a request are kInvalidArgument (HTTP 400) and begin with the
// parameter's name: "window: unknown window '7s' for stream 'finance' (10s, 1m)".
// Each result renders as JSON (ToJson, one object) and as a plain text table
// (ToTable), so the CLI and the HTTP server print the same thing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "runtime/broker.h"
#include "sinks/store/store_db.h"

namespace txpipe::sinks::store {

// A time parameter: RFC 3339 ("2026-11-23T14:00:00Z"), epoch milliseconds
// ("1795010400000"), "now", or relative to now ("-15m", "-2h", "-30s").
// Returns epoch ms. kInvalidArgument names what was wrong (not the parameter).
base::Result<int64_t> ParseQueryTime(std::string_view text, int64_t now_ms);

// Most time points a Series answers; larger ranges are refused.
inline constexpr int64_t kMaxSeriesPoints = 100'000;
// Default and largest `limit` of Alerts and Recent.
inline constexpr int64_t kDefaultLimit = 100;
inline constexpr int64_t kMaxLimit = 10'000;
// Series' default range: this much before the newest window of the series.
inline constexpr int64_t kDefaultSeriesRangeMs = 3'600'000;

struct StreamsResult {
  struct Stream {
    StreamRow row;
    // "count", each bare measure m (whose m_sum is a field), then every field.
    std::vector<std::string> measures;
  };
  std::vector<Stream> streams;

  // {"streams":[{"stream":"finance","schema":"finance","topic":"finance",
  //   "windows_topic":"finance.windows","windows":[{"window":"10s","window_ms":10000},...],
  //   "dimensions":[...],"measures":[...],"fields":[...],"updated_ms":...}]}
  std::string ToJson() const;
  std::string ToTable() const;
};

struct SeriesRequest {
  std::string stream{};  // required
  std::string
      window{};  // required: "10s" as the stream names it, or the same size spelled otherwise
  std::string by = "total";  // a dimension of the stream
  std::string measure =
      "count";  // count | a field (amount_sum) | a bare measure (amount = amount_sum)
  // Window starts, inclusive. Default: the hour of data up to the newest
  // window of the series (to = its start, from = to - 1h + window).
  std::optional<int64_t> from_ms{};
  std::optional<int64_t> to_ms{};
};

struct SeriesResult {
  std::string stream;
  std::string window;
  int64_t window_ms = 0;
  std::string by;
  std::string measure;  // resolved: "amount_sum" for "amount"
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  // Window starts with a row for any value, ascending.
  std::vector<int64_t> times_ms;
  // Dimension values, sorted; one column each.
  std::vector<std::string> labels;
  // columns[i][j]: labels[i] at times_ms[j]; nullopt where that value has no
  // row at that time, or its row lacks the measure.
  std::vector<std::vector<std::optional<double>>> columns;

  // uPlot's shape: "data" is [[t (seconds)...], [column 0...], ...] with null
  // for gaps; "series" names the columns after the first.
  // {"stream":..,"window":"1m","window_ms":60000,"by":..,"measure":"amount_sum",
  //  "from_ms":..,"to_ms":..,"series":["deposit",...],"data":[[...],[...],...]}
  std::string ToJson() const;
  // time, then one column per value ("-" for null).
  std::string ToTable() const;
};

struct AlertsRequest {
  int64_t since_ms = 0;           // alerts with time_ms >= since_ms
  int64_t limit = kDefaultLimit;  // 1..kMaxLimit
};

struct AlertsResult {
  std::vector<AlertRow> alerts;  // newest first
  // {"alerts":[{"id":..,"rule":..,"kind":..,"severity":..,"stream":..,"time_ms":..,
  //   "time":"2026-...Z","window":..,"window_start_ms":..,"key":..,"values":{...},"message":..}]}
  std::string ToJson() const;
  std::string ToTable() const;
};

struct RecentRequest {
  // A stream (resolved to its raw topic through the streams table) or a
  // topic name; "" = every topic.
  std::string stream{};
  int64_t limit = kDefaultLimit;  // 1..kMaxLimit
};

struct RecentResult {
  std::string stream;             // as asked
  std::string topic;              // resolved; "" for every topic
  std::vector<RecentRow> events;  // newest first
  // {"stream":..,"topic":..,"events":[{"topic":..,"partition":..,"offset":..,"time_ms":..,
  //   "time":..,"key":..,"body":"<the body as a JSON string>"}]}
  std::string ToJson() const;
  std::string ToTable() const;
};

struct StatsResult {
  struct Topic {
    std::string topic;
    double events = 0;           // appended since the topic was created
    std::optional<double> rate;  // events/s between the last two snapshots
  };
  struct Lag {
    std::string group;
    std::string topic;
    double lag = 0;  // events appended and not yet committed by the group
  };
  struct Reject {
    std::string metric;     // "txpipe_store_rejected_total"
    std::string component;  // its component / processor / sink / source label
    std::string reason;     // its reason / error label; "" when it has none
    double count = 0;
    std::optional<double> rate;  // per second, between the last two snapshots
  };
  int64_t time_ms = 0;     // the newest snapshot; 0 when there is none
  double interval_s = 0;   // between the last two snapshots; 0 with fewer
  std::string lag_source;  // "broker" (live) or "snapshot"
  std::vector<Topic> topics;
  std::vector<Lag> lag;
  std::vector<Reject> rejects;

  // {"time_ms":..,"time":..,"interval_s":..,"topics":[{"topic","events","rate_per_s"}],
  //  "lag_source":"broker","lag":[{"group","topic","lag"}],
  //  "rejects":[{"metric","component","reason","count","rate_per_s"}]}
  std::string ToJson() const;
  std::string ToTable() const;
};

// Not thread-safe (a StoreDb is not): one Query per thread.
class Query {
 public:
  // `db` and `broker` (optional: live consumer lag) are not owned and must
  // outlive the Query. `db` is usually opened kReadOnly.
  explicit Query(StoreDb* db, runtime::Broker* broker = nullptr) : db_(db), broker_(broker) {}

  base::Result<StreamsResult> Streams();
  base::Result<SeriesResult> Series(const SeriesRequest& request);
  base::Result<AlertsResult> Alerts(const AlertsRequest& request);
  base::Result<RecentResult> Recent(const RecentRequest& request);
  // Rates from the last two stats snapshots; lag from the broker when there
  // is one, else from the newest snapshot; rejects from the counters named
  // *rejected*, *dead_letter*, *dlq* or *quarantined* in the newest snapshot.
  base::Result<StatsResult> Stats();

 private:
  StoreDb* db_;
  runtime::Broker* broker_;
};

}  // namespace txpipe::sinks::store
