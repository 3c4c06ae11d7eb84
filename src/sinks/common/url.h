// URLs of the peers sinks talk to (webhook receivers, InfluxDB): checking
// them without I/O, and showing them in logs without their secrets.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace txpipe::sinks::common {

// OK for an http:// or https:// URL with a host and no spaces or control
// characters; else kInvalidArgument "<what>: ..." (the URL shown redacted).
base::Status CheckHttpUrl(std::string_view url, std::string_view what);

// The URL without what may be secret: "https://hooks.example.com/..." (scheme,
// host and port; no user info, path or query). For logs.
std::string RedactUrl(std::string_view url);

// `s` percent-encoded for a query string value (RFC 3986 unreserved kept).
std::string QueryEscape(std::string_view s);

}  // namespace txpipe::sinks::common
