// POST /api/logs: the seed's Flask endpoint, durable. A body of JSON events
// (one object, an array of objects, or NDJSON) is checked event by event and
// appended to a topic; the answer (202) comes only once the events are on
// disk (the broker's Flush). Events that are not JSON objects are answered
// with their index and reason and kept in the topic's dead-letter topic
// (`<topic>.dlq`), never dropped. docs/http.md has the protocol.
//
//   Ingest ingest(broker, metrics, {.topics = {"car-transactions-logs"}});
//   server->Post("/api/logs", [&](auto& req, auto& res) { ingest.Handle(req, res); });
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/http_server.h"
#include "runtime/broker.h"
#include "runtime/metrics.h"

namespace txpipe::api {

struct IngestOptions {
  // Topics POST /api/logs may write (?topic=); the first is the default.
  std::vector<std::string> topics = {"car-transactions-logs"};
  // The partitioning key: this top-level string field of each event (so
  // re-sends of an event land in the same partition); events without it
  // are spread over partitions. Empty: no key.
  std::string key_field = "customer_id";
  // Required "Authorization: Bearer <token>" when not empty (else 401).
  std::string auth_token;
  // Largest single event, in bytes (larger ones are rejected, kept in the
  // dead-letter topic truncated to this size).
  size_t max_event_bytes = 1 << 20;
  // The log's disk budget: 503 (Retry-After) while the file system holding
  // `log_dir` has less than min_free_bytes free, or while the log's topics
  // hold more than max_log_bytes (0 = no cap).
  std::string log_dir;
  uint64_t min_free_bytes = 64ull << 20;
  uint64_t max_log_bytes = 0;
};

class Ingest {
 public:
  // `broker` and `metrics` must outlive the Ingest. Creates the topics'
  // dead-letter topics.
  static base::Result<std::unique_ptr<Ingest>> Create(runtime::Broker* broker,
                                                      runtime::Metrics* metrics,
                                                      IngestOptions options);
  ~Ingest();

  // Answers one request (thread-safe: requests are handled concurrently,
  // each with its own producer from a pool, sharing the log's group commit).
  void Handle(const io::ServerRequest& req, io::ServerResponse& res);

 private:
  struct Impl;
  explicit Ingest(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace txpipe::api
