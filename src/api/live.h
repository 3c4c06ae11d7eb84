// GET /api/v1/live: Server-Sent Events for the dashboard, so it needs no
// polling. One LiveHub per server reads the broker on a thread of its own
// and hands each connected client, through a bounded queue, these events:
//
//   event: window   data: a record of a `*.windows` topic (docs/processor.md)
//   event: alert    data: a record of the `alerts` topic
//   event: recent   data: {"topic":"finance","events":[{...},...]}  the newest raw
//                         events of each input topic, at most every second
//   event: stats    data: {"stats":<GET /api/v1/stats>,"metrics":[{"name":..,
//                         "labels":{..},"value":..},..]}  every 2 s
//
// plus `retry: 2000` first and a `: ping` comment when quiet for 15 s. A
// client that falls more than queue_max events behind loses the oldest (and
// txpipe_http_live_dropped_total counts them): it is a live view, the API has
// the history.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "io/http_server.h"
#include "runtime/broker.h"
#include "runtime/metrics.h"

namespace txpipe::api {

struct LiveOptions {
  std::string store_path;  // for the stats event (Query::Stats)
  int64_t stats_interval_ms = 2'000;
  int64_t recent_interval_ms = 1'000;
  size_t recent_max = 20;       // newest raw events per topic and recent event
  size_t queue_max = 10'000;    // events waiting for one client
  int64_t heartbeat_ms = 15'000;
};

class LiveHub {
 public:
  // Starts the hub's thread. `broker` and `metrics` must outlive it.
  LiveHub(runtime::Broker* broker, runtime::Metrics* metrics, LiveOptions options);
  // Stops (as Stop()).
  ~LiveHub();
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // The GET /api/v1/live route: answers with a stream that lasts until the
  // client goes away, the server stops, or Stop().
  void Handle(const io::ServerRequest& req, io::ServerResponse& res);
  // Clients connected now.
  size_t clients() const;
  // Stops the thread and ends every client's stream. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace txpipe::api
