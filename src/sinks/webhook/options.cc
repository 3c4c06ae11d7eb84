#include "sinks/webhook/options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "sinks/common/url.h"

namespace txpipe::sinks::webhook {

using base::Status;
using O = WebhookOptions;
using common::RedactUrl;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 9110 token characters (header names).
bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

const config::OptionTable<WebhookOptions>& WebhookOptionTable() {
  static const auto* t =
      &(*new config::OptionTable<WebhookOptions>("webhook"))
           .String("url", &O::url, "http:// or https:// URL records are POSTed to (required)")
           .StringList("topics", &O::topics, "Topics to read; each record's body a JSON object")
           .String("group", &O::group, "Consumer group; \"\" = webhook-<component name>")
           .StringMap("headers", &O::headers,
                      "Extra request headers, e.g. {Authorization = \"Bearer ...\"}")
           .DurationMs("timeout", &O::timeout_ms, "Longest a request may take, connecting included",
                       1, 1)
           .Integer("max_retries", &O::max_retries,
                    "Retries of a request before its records are given up on (counted and "
                    "logged); 0 = forever",
                    int64_t{0})
           .DurationMs("retry_initial_backoff", &O::retry_initial_backoff_ms,
                       "Wait before the first retry (doubles per retry, with jitter)", 1, 1)
           .DurationMs("retry_max_backoff", &O::retry_max_backoff_ms,
                       "Longest wait between retries (Retry-After is held to it too)", 1, 1)
           .Enum("min_severity", &O::min_severity, {"info", "warning", "critical"},
                 "Records whose severity is below this are skipped and counted")
           .Bool("batch", &O::batch,
                 "One POST per record (false), or a JSON array of up to max_batch records (true)")
           .Integer("max_batch", &O::max_batch, "Records per POST when batch = true", int64_t{1},
                    int64_t{10'000})
           .String("proxy", &O::proxy,
                   "Proxy URL; \"\" = direct (http_proxy etc. in the environment are not read)");
  return *t;
}

Status ValidateWebhookOptions(const WebhookOptions& o) {
  if (o.url.empty()) return Status::InvalidArgument("webhook: 'url' is required");
  TXP_RETURN_IF_ERROR(common::CheckHttpUrl(o.url, "webhook: url"));
  if (!o.proxy.empty() && o.proxy.find("://") == std::string::npos) {
    return Status::InvalidArgument(fmt::format(
        "webhook: proxy: expected a URL like http://proxy:3128, got '{}'", RedactUrl(o.proxy)));
  }
  if (o.topics.empty()) return Status::InvalidArgument("webhook: 'topics' is empty");
  std::set<std::string> seen;
  for (const auto& t : o.topics) {
    if (t.empty()) return Status::InvalidArgument("webhook: topics: a topic name is empty");
    if (!seen.insert(t).second) {
      return Status::InvalidArgument(fmt::format("webhook: topics: '{}' is listed twice", t));
    }
  }
  for (const auto& [name, value] : o.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
      return Status::InvalidArgument(
          fmt::format("webhook: headers: '{}' is not a header name", name));
    }
    const std::string n = Lower(name);
    if (n == "content-length" || n == "transfer-encoding") {
      return Status::InvalidArgument(
          fmt::format("webhook: headers: '{}' is set by the sink", name));
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Status::InvalidArgument(
          fmt::format("webhook: headers: the value of '{}' holds a line break", name));
    }
  }
  if (o.timeout_ms < 1) return Status::InvalidArgument("webhook: timeout must be at least 1 ms");
  if (o.max_retries < 0) return Status::InvalidArgument("webhook: max_retries must be >= 0");
  if (o.retry_initial_backoff_ms < 1) {
    return Status::InvalidArgument("webhook: retry_initial_backoff must be at least 1 ms");
  }
  if (o.retry_max_backoff_ms < o.retry_initial_backoff_ms) {
    return Status::InvalidArgument(fmt::format(
        "webhook: retry_max_backoff ({} ms) is shorter than retry_initial_backoff ({} ms)",
        o.retry_max_backoff_ms, o.retry_initial_backoff_ms));
  }
  if (SeverityRank(o.min_severity) < 0) {
    return Status::InvalidArgument(fmt::format(
        "webhook: min_severity: '{}' is not one of: info, warning, critical", o.min_severity));
  }
  if (o.max_batch < 1 || o.max_batch > 10'000) {
    return Status::InvalidArgument(
        fmt::format("webhook: max_batch must be between 1 and 10000, got {}", o.max_batch));
  }
  return Status::OK();
}

int SeverityRank(std::string_view severity) {
  if (severity == "info") return 0;
  if (severity == "warning") return 1;
  if (severity == "critical") return 2;
  return -1;
}

}  // namespace txpipe::sinks::webhook
