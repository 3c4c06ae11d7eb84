// WebhookOptions: the webhook sink's configuration (`[sinks.NAME] type =
// "webhook"`, docs/webhook.md). Durations are strings like "5s" (ms, s, m,
// h, d); a bare integer is ms.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/options.h"
#include "sinks/common/url.h"

namespace txpipe::sinks::webhook {

struct WebhookOptions {
  // Where records are POSTed: an http:// or https:// URL. Required. It may
  // hold a secret (Slack puts one in the path), so logs show only its scheme,
  // host and port.
  std::string url;
  // Topics to read; each record's body must be a JSON object. Default
  // ["alerts"] (the analytics processor's alerts, docs/processor.md).
  std::vector<std::string> topics = {"alerts"};
  // Consumer group; "" = "webhook-<component name>".
  std::string group;
  // Extra request headers (Authorization, ...). Content-Type is
  // application/json unless set here. Default none.
  std::map<std::string, std::string> headers;
  // Longest a request may take, connecting included. Default 5 s.
  int64_t timeout_ms = 5'000;
  // Retries of one request before its records are given up on (counted in
  // txpipe_webhook_failed_total and logged); 0 = retry forever. Default 0:
  // an alert is never dropped because the receiver is down.
  int64_t max_retries = 0;
  // Wait before the first retry; it doubles per retry (less up to half, for
  // jitter) up to retry_max_backoff. Defaults 500 ms and 30 s. A receiver's
  // Retry-After replaces the computed wait, held to [initial, max].
  int64_t retry_initial_backoff_ms = 500;
  int64_t retry_max_backoff_ms = 30'000;
  // Records whose "severity" is below this are skipped (and counted):
  // info < warning < critical. Default "info" (none skipped).
  std::string min_severity = "info";
  // false: one POST per record, its body as it is. true: one POST per up to
  // max_batch records, a JSON array of their bodies. Default false.
  bool batch = false;
  // Records per POST when batch = true. Default 100.
  int64_t max_batch = 100;
  // Proxy URL for the requests; "" = connect directly (the environment's
  // http_proxy and https_proxy are not read). Default "".
  std::string proxy;
};

const config::OptionTable<WebhookOptions>& WebhookOptionTable();

// Checks what the table cannot check alone (the URL, header names and
// values, backoff bounds, topics). Pure: touches no network.
base::Status ValidateWebhookOptions(const WebhookOptions& options);

// 0 info, 1 warning, 2 critical; -1 for anything else.
int SeverityRank(std::string_view severity);

// The URL without its secrets, for logs (sinks/common/url.h).
using common::RedactUrl;

}  // namespace txpipe::sinks::webhook
