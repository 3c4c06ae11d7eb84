#include "app/http_service.h"

#include <fmt/format.h>

#include <cstdlib>

#include "api/api.h"
#include "api/ingest.h"
#include "api/live.h"
#include "io/http_server.h"
#include "web/dashboard.h"

namespace txpipe::app {

struct HttpService::Impl {
  std::unique_ptr<api::Ingest> ingest;
  std::unique_ptr<api::LiveHub> live;
  std::unique_ptr<io::HttpServer> server;
  std::string host;
};

base::Result<std::unique_ptr<HttpService>> HttpService::Start(const Pipeline& p,
                                                              runtime::Broker* broker,
                                                              runtime::Metrics* metrics) {
  const HttpConfig& h = p.http;
  auto impl = std::make_unique<Impl>();
  api::IngestOptions io;
  io.topics = h.topics;
  io.key_field = h.key_field;
  io.log_dir = p.log_dir();
  io.min_free_bytes = h.min_free_bytes;
  io.max_log_bytes = h.max_log_bytes;
  if (!h.auth_token_env.empty()) {
    const char* token = std::getenv(h.auth_token_env.c_str());
    if (!token || !*token) {
      return base::Status::InvalidArgument(fmt::format(
          "http.auth_token_env: environment variable {} is not set (or empty)", h.auth_token_env));
    }
    io.auth_token = token;
  }
  auto ingest = api::Ingest::Create(broker, metrics, io);
  if (!ingest.ok()) return ingest.status();
  impl->ingest = std::move(ingest).value();
  impl->live = std::make_unique<api::LiveHub>(broker, metrics,
                                              api::LiveOptions{.store_path = p.store_path});

  io::HttpServerOptions so;
  so.listen = h.listen;
  so.max_body_bytes = h.max_body_bytes;
  so.max_connections = static_cast<size_t>(h.max_connections);
  so.header_timeout_ms = h.header_timeout_ms;
  so.read_timeout_ms = h.read_timeout_ms;
  so.keep_alive_timeout_ms = h.keep_alive_timeout_ms;
  so.keep_alive_max_requests = 10'000;
  // Every route is in place before the first request is answered (POSTs
  // that arrive while txpipe starts wait, they never get a 404).
  auto server = io::HttpServer::Start(so, [&](io::HttpServer& s) {
    api::ApiContext ctx;
    ctx.store_path = p.store_path;
    ctx.broker = broker;
    ctx.metrics = metrics;
    ctx.server = &s;
    ctx.ingest = impl->ingest.get();
    ctx.live = impl->live.get();
    ctx.max_streams = static_cast<size_t>(h.max_streams);
    api::RegisterApi(&s, ctx);
    web::RegisterDashboard(&s);
  });
  if (!server.ok()) return server.status();
  impl->server = std::move(server).value();
  impl->host = h.listen.substr(0, h.listen.rfind(':'));
  return std::unique_ptr<HttpService>(new HttpService(std::move(impl)));
}

HttpService::HttpService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpService::~HttpService() { Stop(); }

int HttpService::port() const { return impl_->server->port(); }

std::string HttpService::url() const {
  std::string host = impl_->host == "0.0.0.0" ? "127.0.0.1" : impl_->host;
  return fmt::format("http://{}:{}/", host, port());
}

void HttpService::Stop() {
  // The hub first: it ends the live streams, then the server closes the rest.
  if (impl_->live) impl_->live->Stop();
  if (impl_->server) impl_->server->Stop();
}

}  // namespace txpipe::app
