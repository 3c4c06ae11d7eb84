// The dashboard: the page built from web/ (web/build.mjs) and embedded into
// the binary at build time (docs/dashboard.md).
//
//   web::RegisterDashboard(server);  // GET / and GET /app.js, /app.css, ...
#pragma once

#include <span>
#include <string_view>

#include "io/http_server.h"

namespace txpipe::web {

// One built file of the dashboard.
struct Asset {
  std::string_view path;          // "/app.js"; the page is "/index.html"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view bytes;
};

// The embedded files (generated web_assets.cc), ordered by path.
std::span<const Asset> Assets();

// Adds GET routes for every asset, and GET / for index.html, each with
// Cache-Control: no-cache (a new binary serves a new page at once). Other
// paths stay the server's (404 unless another route has them).
void RegisterDashboard(io::HttpServer* server);

}  // namespace txpipe::web
