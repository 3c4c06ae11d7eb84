// The HTTP side of a running pipeline: io::HttpServer with the API routes,
// POST /api/logs into the broker, the live event hub and the dashboard, from
// the pipeline's [http] section. Started by RunPipeline's on_start hook and
// stopped by its on_stop hook (before the broker closes).
#pragma once

#include <memory>
#include <string>

#include "app/pipeline.h"
#include "base/status.h"
#include "runtime/broker.h"
#include "runtime/metrics.h"

namespace txpipe::app {

class HttpService {
 public:
  // Binds p.http.listen (an error names the address) and serves.
  static base::Result<std::unique_ptr<HttpService>> Start(const Pipeline& p,
                                                          runtime::Broker* broker,
                                                          runtime::Metrics* metrics);
  ~HttpService();
  int port() const;
  // "http://127.0.0.1:8080/"
  std::string url() const;
  // Stops serving and ends every stream. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace txpipe::app
