#include "web/dashboard.h"

#include <string>

namespace txpipe::web {

void RegisterDashboard(io::HttpServer* server) {
  for (const Asset& asset : Assets()) {
    auto handler = [asset](const io::ServerRequest&, io::ServerResponse& res) {
      res.content_type = std::string(asset.content_type);
      res.body = std::string(asset.bytes);
      res.headers.emplace_back("Cache-Control", "no-cache");
    };
    server->Get(std::string(asset.path), handler);
    if (asset.path == "/index.html") server->Get("/", handler);
  }
}

}  // namespace txpipe::web
