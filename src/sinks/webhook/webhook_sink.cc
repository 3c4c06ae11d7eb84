#include "sinks/webhook/webhook_sink.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>

#include "base/logging.h"

namespace txpipe::sinks::webhook {

using base::Result;
using base::Status;
using common::Outcome;

namespace {

constexpr int64_t kPollTimeoutMs = 100;     // how often Run looks at `stop` when idle
constexpr int64_t kWaitForTopicMs = 1'000;  // how often Run looks for missing topics
constexpr int64_t kErrorBackoffMs = 1'000;  // after a consumer error
constexpr size_t kMaxPollBytes = 1 << 20;   // records held in memory: about one poll
constexpr size_t kLoggedBodyBytes = 512;    // of a response body, in logs
constexpr int kLogEveryNthRetry = 10;       // retries after the first are logged this often

// A response body for a log line: one line, at most kLoggedBodyBytes.
std::string Snippet(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kLoggedBodyBytes)) {
    out += std::iscntrl(static_cast<unsigned char>(c)) ? ' ' : c;
  }
  if (body.size() > kLoggedBodyBytes) out += "...";
  return out.empty() ? "empty body" : "body: " + out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

// Parses bodies (simdjson DOM, its buffers reused) to check they are JSON
// objects and read their "severity".
struct WebhookSink::JsonChecker {
  simdjson::dom::parser parser;
};

WebhookSink::WebhookSink(WebhookOptions options, runtime::Context context)
    : options_(std::move(options)),
      ctx_(std::move(context)),
      json_(std::make_unique<JsonChecker>()),
      backoff_(
          common::BackoffPolicy{options_.retry_initial_backoff_ms, options_.retry_max_backoff_ms}) {
  ctx_.FillDefaults(&own_metrics_);
  const runtime::Labels l = {{"sink", ctx_.name}};
  runtime::Metrics* m = ctx_.metrics;
  sent_total_ =
      m->counter("txpipe_webhook_sent_total", "Records the receiver acknowledged (2xx)", l);
  retries_total_ = m->counter("txpipe_webhook_retries_total",
                              "Requests that failed and were scheduled again (408, 429, 5xx but "
                              "501, no response)",
                              l);
  requests_total_ = m->counter("txpipe_webhook_requests_total", "Requests made (POSTs)", l);
  offset_commit_errors_total_ = m->counter("txpipe_webhook_offset_commit_errors_total",
                                           "Offset commits that failed (retried)", l);
}

WebhookSink::~WebhookSink() = default;

std::vector<runtime::TopicUse> WebhookSink::Topics() const {
  std::vector<runtime::TopicUse> topics;
  for (const auto& t : options_.topics) topics.push_back({t});
  return topics;
}

Status WebhookSink::Open() {
  if (opened_) return Status::OK();
  TXP_RETURN_IF_ERROR(ValidateWebhookOptions(options_));
  if (!ctx_.broker) return Status::InvalidArgument("webhook: no broker in the context");
  group_ = options_.group.empty()
               ? "webhook-" + (ctx_.name.empty() ? std::string("webhook") : ctx_.name)
               : options_.group;
  shown_url_ = RedactUrl(options_.url);
  min_rank_ = SeverityRank(options_.min_severity);
  for (const auto& t : options_.topics) {
    auto info = ctx_.broker->Describe(t);
    if (!info.ok()) {
      if (info.status().code() == base::Code::kNotFound) {
        return Status::NotFound(fmt::format("webhook: no topic '{}' yet", t));
      }
      return info.status();
    }
  }
  if (!http_) {
    io::HttpClientOptions ho;
    ho.connect_timeout_ms = options_.timeout_ms;
    ho.proxy = options_.proxy;
    ho.user_agent = "txpipe-webhook";
    auto h = io::HttpClient::Create(ho);
    if (!h.ok()) return h.status();
    http_ = std::move(h).value();
  }
  headers_.clear();
  bool has_type = false;
  for (const auto& [k, v] : options_.headers) has_type |= EqualsIgnoreCase(k, "content-type");
  if (!has_type) headers_.emplace_back("Content-Type", "application/json");
  for (const auto& [k, v] : options_.headers) headers_.emplace_back(k, v);

  runtime::ConsumerOptions co;
  co.max_poll_bytes = kMaxPollBytes;
  auto c = ctx_.broker->NewConsumer(group_, options_.topics, co);
  if (!c.ok()) return c.status();
  consumer_ = std::move(c).value();
  opened_ = true;
  TXP_LOG_INFO("webhook {}: POSTing {} to {} ({}), group {}", ctx_.name,
               fmt::join(options_.topics, ", "), shown_url_,
               options_.batch ? fmt::format("up to {} per request", options_.max_batch)
                              : std::string("one per request"),
               group_);
  return Status::OK();
}

Status WebhookSink::Run(const base::StopFlag& stop) {
  bool told = false;
  while (!stop.requested()) {
    Status s = Open();
    if (s.ok()) break;
    if (s.code() != base::Code::kNotFound) return s;
    if (!told) {
      TXP_LOG_INFO(
          "webhook {}: {}; waiting for it (the processor creates its output topics "
          "when it starts)",
          ctx_.name, s.message());
      told = true;
    }
    ctx_.clock->SleepUntil(ctx_.clock->MonotonicMicros() + kWaitForTopicMs * 1000, stop);
  }
  if (!opened_) return Status::OK();  // stopped while waiting
  while (!stop.requested()) {
    auto r = PollOnce(kPollTimeoutMs, stop);
    if (r.ok()) continue;
    if (r.status().code() == base::Code::kInvalidArgument) {
      Close().IgnoreError();
      return r.status();
    }
    TXP_LOG_WARN("webhook {}: {}; trying again in {} ms", ctx_.name, r.status().ToString(),
                 kErrorBackoffMs);
    ctx_.clock->SleepUntil(ctx_.clock->MonotonicMicros() + kErrorBackoffMs * 1000, stop);
  }
  return Close();
}

void WebhookSink::Skip(const runtime::Message& m, const char* reason) {
  ctx_.metrics
      ->counter("txpipe_webhook_skipped_total",
                "Records not sent: not a JSON object, or below min_severity",
                {{"sink", ctx_.name}, {"reason", reason}})
      ->Add();
  if (logged_skips_.insert(reason).second) {
    TXP_LOG_WARN(
        "webhook {}: {}/{} offset {}: record skipped ({}); further '{}' records are only "
        "counted in txpipe_webhook_skipped_total",
        ctx_.name, m.tp->topic, m.tp->partition, m.offset, reason, reason);
  }
  queue_.push_back(Record{*m.tp, m.offset, std::string(), false});
}

void WebhookSink::OnMessage(const runtime::Message& m) {
  const std::string_view body = m.event.body;
  simdjson::dom::element doc;
  if (json_->parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return Skip(m, "not_json");
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return Skip(m, "not_object");
  std::string_view severity;
  if (obj.at_key("severity").get_string().get(severity) == simdjson::SUCCESS) {
    // An unknown severity is sent: better one alert too many than one lost.
    const int rank = SeverityRank(severity);
    if (rank >= 0 && rank < min_rank_) return Skip(m, "below_min_severity");
  }
  queue_.push_back(Record{*m.tp, m.offset, std::string(body), true});
}

void WebhookSink::Pop(size_t n) {
  for (size_t i = 0; i < n && !queue_.empty(); ++i) {
    const Record& r = queue_.front();
    pending_commits_[r.tp] = r.offset + 1;
    queue_.pop_front();
  }
}

void WebhookSink::CommitPending() {
  if (pending_commits_.empty() || !consumer_) return;
  Status s = consumer_->Commit(pending_commits_);
  if (s.ok()) {
    pending_commits_.clear();
    return;
  }
  offset_commit_errors_total_->Add();
  TXP_LOG_WARN("webhook {}: committing offsets: {} (tried again after the next request)", ctx_.name,
               s.ToString());
}

std::string WebhookSink::RangeText(size_t end) const {
  size_t records = 0;
  const Record* first = nullptr;
  for (size_t i = 0; i < end && i < queue_.size(); ++i) {
    if (!queue_[i].deliver) continue;
    if (!first) first = &queue_[i];
    ++records;
  }
  if (!first) return "no records";
  if (records == 1) {
    return fmt::format("the record at {}/{} offset {}", first->tp.topic, first->tp.partition,
                       first->offset);
  }
  return fmt::format("{} records from {}/{} offset {}", records, first->tp.topic,
                     first->tp.partition, first->offset);
}

Result<size_t> WebhookSink::PollOnce(int64_t timeout_ms, const base::StopFlag& stop) {
  TXP_RETURN_IF_ERROR(Open());
  if (closed_) return Status::InvalidArgument("webhook: PollOnce after Close");
  size_t requests = 0;
  if (!queue_.empty() && retry_at_us_ > 0) {
    if (!ctx_.clock->SleepUntil(retry_at_us_, stop)) return requests;
  }
  if (queue_.empty()) {
    auto r = consumer_->Poll(timeout_ms, [this](const runtime::Message& m) { OnMessage(m); });
    if (!r.ok()) return r.status();
  }
  const size_t per_request = options_.batch ? static_cast<size_t>(options_.max_batch) : 1;
  std::string batch_body;
  while (!stop.requested()) {
    // Skipped records at the head only have offsets to commit.
    size_t skipped = 0;
    while (skipped < queue_.size() && !queue_[skipped].deliver) ++skipped;
    Pop(skipped);
    if (queue_.empty()) break;

    // The request: the first record, or up to per_request records (and the
    // skipped ones between them) as a JSON array.
    size_t end = 0, count = 0;
    std::string_view body;
    if (!options_.batch) {
      end = count = 1;
      body = queue_.front().body;
    } else {
      batch_body.assign("[");
      for (size_t i = 0; i < queue_.size() && count < per_request; ++i) {
        if (!queue_[i].deliver) continue;
        if (count++ > 0) batch_body += ',';
        batch_body += queue_[i].body;
        end = i + 1;
      }
      batch_body += ']';
      body = batch_body;
    }

    ++requests;
    requests_total_->Add();
    auto response = http_->Post(options_.url, body, headers_, options_.timeout_ms, &stop);
    if (!response.ok() && stop.requested()) break;  // cancelled: sent again at the next start
    if (!response.ok() && response.status().code() == base::Code::kInvalidArgument) {
      return Status::InvalidArgument(
          fmt::format("webhook: url {}: {}", shown_url_, response.status().message()));
    }
    const Outcome outcome = response.ok() ? common::ClassifyHttpStatus(response->status)
                                          : common::ClassifyError(response.status());
    const std::string what = response.ok()
                                 ? fmt::format("{} ({})", response->status, Snippet(response->body))
                                 : response.status().ToString();

    if (outcome == Outcome::kDelivered) {
      sent_total_->Add(count);
      if (backoff_.attempts() > 0) {
        TXP_LOG_INFO("webhook {}: {} delivered after {} retries", ctx_.name, RangeText(end),
                     backoff_.attempts());
      }
      backoff_.Reset();
      retry_at_us_ = 0;
      Pop(end);
      CommitPending();
      continue;
    }

    const bool exhausted = options_.max_retries > 0 && backoff_.attempts() >= options_.max_retries;
    if (outcome == Outcome::kRetry && !exhausted) {
      std::optional<int64_t> retry_after;
      if (response.ok()) {
        if (auto h = response->header("retry-after")) {
          retry_after = common::ParseRetryAfterMs(*h, ctx_.clock->NowMicros() / 1000);
        }
      }
      const int64_t delay_ms = backoff_.Next(retry_after);
      retries_total_->Add();
      retry_at_us_ = ctx_.clock->MonotonicMicros() + delay_ms * 1000;
      const int n = backoff_.attempts();
      const auto level =
          n == 1 || n % kLogEveryNthRetry == 0 ? base::LogLevel::kWarn : base::LogLevel::kDebug;
      base::Log(level,
                "webhook {}: POST {} for {}: {}; retry {} in {} ms (the records wait, their "
                "offsets uncommitted)",
                ctx_.name, shown_url_, RangeText(end), what, n, delay_ms);
      CommitPending();
      return requests;
    }

    // Given up on: logged once, counted per record, left in the topic.
    const std::string label = response.ok() ? std::to_string(response->status) : "no_response";
    ctx_.metrics
        ->counter("txpipe_webhook_failed_total",
                  "Records given up on (a non-retryable answer, or max_retries reached), by "
                  "HTTP status",
                  {{"sink", ctx_.name}, {"status", label}})
        ->Add(count);
    TXP_LOG_ERROR(
        "webhook {}: POST {} for {}: {}; {}: not sent (they stay in the topic; counted in "
        "txpipe_webhook_failed_total)",
        ctx_.name, shown_url_, RangeText(end), what,
        exhausted ? fmt::format("gave up after {} retries", backoff_.attempts())
                  : std::string("not retryable"));
    backoff_.Reset();
    retry_at_us_ = 0;
    Pop(end);
    CommitPending();
  }
  CommitPending();
  return requests;
}

Status WebhookSink::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  if (!pending_commits_.empty() && consumer_) {
    Status s = consumer_->Commit(pending_commits_);
    if (!s.ok()) return s;
    pending_commits_.clear();
  }
  const auto waiting =
      std::count_if(queue_.begin(), queue_.end(), [](const Record& r) { return r.deliver; });
  if (waiting > 0) {
    TXP_LOG_INFO("webhook {}: stopping with {} records not yet delivered (sent at the next start)",
                 ctx_.name, waiting);
  }
  return Status::OK();
}

}  // namespace txpipe::sinks::webhook
