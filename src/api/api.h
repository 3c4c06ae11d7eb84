// The HTTP API (docs/http.md): health, readiness, Prometheus metrics and the
// query layer's /api/v1/ endpoints (docs/store.md), served by io::HttpServer.
//
//   auto server = io::HttpServer::Start({.listen = "127.0.0.1:8080"});
//   api::RegisterApi(server->get(), {.store_path = "txpipe-data/store.db",
//                                    .broker = broker, .metrics = metrics});
#pragma once

#include <string>

#include "api/ingest.h"
#include "api/live.h"
#include "io/http_server.h"
#include "runtime/broker.h"
#include "runtime/metrics.h"

namespace txpipe::api {

struct ApiContext {
  // The store's SQLite file. Opened read-only per request (the store sink
  // writes it concurrently, in WAL mode); until it exists the /api/v1/
  // endpoints answer 503.
  std::string store_path;
  // For live consumer lag in /api/v1/stats and for /readyz; may be null
  // (then /readyz answers 503). Not owned; must outlive the server.
  runtime::Broker* broker = nullptr;
  // Rendered by /metrics, with the process's and the server's own figures;
  // routes count into it. Not owned; null: a private one.
  runtime::Metrics* metrics = nullptr;
  // For /metrics (connections, header timeouts); may be null. Not owned.
  const io::HttpServer* server = nullptr;
  // POST /api/logs when set (else that path is 404). Not owned.
  Ingest* ingest = nullptr;
  // GET /api/v1/live when set. Not owned.
  LiveHub* live = nullptr;
  // Streaming responses (/api/v1/live, /api/stream_car_transactions) open at
  // once; one more gets 503.
  size_t max_streams = 256;
};

// Adds the routes to `server`:
//   GET /healthz          200 "ok"
//   GET /readyz           200 "ready", or 503 with the reason
//   GET /metrics          Prometheus text format 0.0.4
//   GET /api/v1/streams   /series  /alerts  /recent  /stats   (JSON)
//   GET /api/v1/live      Server-Sent Events (live.h), when context.live
//   POST /api/logs        events into a topic (ingest.h), when context.ingest
//   GET /api/stream_car_transactions?rate=&count=   generated car
//                         transactions, NDJSON or (Accept: text/event-stream) SSE
// Errors of /api/v1/ are JSON {"error": "..."}: 400 for a bad parameter (the
// message starts with its name), 503 while there is no store, 500 otherwise.
void RegisterApi(io::HttpServer* server, ApiContext context);

}  // namespace txpipe::api
