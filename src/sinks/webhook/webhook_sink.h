// WebhookSink: POSTs the records of topics (the processor's alerts by
// default) to an HTTP endpoint as JSON (docs/webhook.md). The processor knows
// nothing about it: it reads the `alerts` topic as a consumer group, like any
// sink.
//
// Guarantees:
//  - At least once. A record's offset is committed only after the receiver
//    answered 2xx for it (or it was skipped, or given up on as below). A
//    crash or stop before that sends it again on restart, so a receiver may
//    see a record twice: alerts carry a deterministic "id" to drop repeats by.
//  - In order. Records go out in the order they were read (per partition,
//    the topic's order); a record being retried holds back the ones behind.
//  - Retries (sinks/common/retry.h): 408, 429, 5xx but 501, and no response
//    at all (refused, timeout, TLS) are retried with capped exponential
//    backoff and jitter, or after the receiver's Retry-After, held to
//    [retry_initial_backoff, retry_max_backoff]; forever unless max_retries
//    is set. Waits watch the StopFlag, so a stop is never held up by them.
//  - Never dropped silently. Any other answer (400, 401, 404, 501, ...), or
//    max_retries reached, logs the status and the response body once,
//    counts txpipe_webhook_failed_total{sink,status} per record, and moves
//    on; the records stay in their topic (until its retention).
//  - A body that is not a JSON object, or an alert whose severity is below
//    min_severity, is counted in txpipe_webhook_skipped_total{sink,reason}
//    (not_json, not_object, below_min_severity) and not sent.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/status.h"
#include "io/http_client.h"
#include "runtime/component.h"
#include "sinks/common/retry.h"
#include "sinks/webhook/options.h"

namespace txpipe::sinks::webhook {

class WebhookSink : public runtime::Component {
 public:
  WebhookSink(WebhookOptions options, runtime::Context context);
  ~WebhookSink() override;

  // Open() (waiting for the topics to exist, as the processor creates
  // `alerts` when it starts), then PollOnce() until `stop`, then Close().
  // Returns an error when the sink cannot start, or for a URL libcurl
  // rejects; receiver failures are retried or counted, never returned.
  base::Status Run(const base::StopFlag& stop) override;
  std::vector<runtime::TopicUse> Topics() const override;

  // The steps of Run, public so tests can drive them (and time, with a
  // FakeClock). Not thread-safe: call them from one thread.
  //
  // Validates the options, creates the HTTP client and the consumer.
  // kNotFound while one of the topics does not exist.
  base::Status Open() override;
  // One round: if a retry is scheduled, waits for it (Context clock; returns
  // 0 early when `stop` is raised). If no record is pending, polls the topics
  // for up to `timeout_ms`. Then sends pending records, one request at a
  // time, until none is left, a request is to be retried (scheduled after its
  // backoff; the next round sends it), or `stop` is raised; commits the
  // offsets of what was delivered, skipped or given up on. Returns the number
  // of requests made. Errors: the consumer's, and kInvalidArgument when
  // libcurl rejects the URL (the records stay pending).
  base::Result<size_t> PollOnce(int64_t timeout_ms, const base::StopFlag& stop);
  // Commits what is left to commit. Pending records are not sent: they are
  // read again at the next start. Idempotent.
  base::Status Close();

  // After Open(): the consumer group.
  const std::string& group() const { return group_; }
  // Records read and not yet delivered, skipped or given up on.
  size_t pending() const { return queue_.size(); }
  // When the next retry is due (Context clock, monotonic µs); 0 = none.
  int64_t retry_at_us() const { return retry_at_us_; }

 private:
  struct Record {
    runtime::TopicPartition tp;
    uint64_t offset = 0;
    std::string body;      // empty for skipped records
    bool deliver = false;  // false: skipped when read; only its offset is left to commit
  };
  struct JsonChecker;  // simdjson stays in the .cc

  void OnMessage(const runtime::Message& m);
  void Skip(const runtime::Message& m, const char* reason);
  // Pops the first `n` records, their offsets to be committed.
  void Pop(size_t n);
  void CommitPending();
  // Which records the first `end` queue entries send, for logs: "the record
  // at alerts/0 offset 7", "3 records from alerts/0 offset 7".
  std::string RangeText(size_t end) const;

  WebhookOptions options_;
  runtime::Context ctx_;
  std::unique_ptr<runtime::Metrics> own_metrics_;
  std::unique_ptr<JsonChecker> json_;
  std::unique_ptr<io::HttpClient> http_;
  std::unique_ptr<runtime::Consumer> consumer_;
  io::HttpHeaders headers_;
  std::string group_;
  std::string shown_url_;  // RedactUrl(url)
  int min_rank_ = 0;
  bool opened_ = false;
  bool closed_ = false;

  std::deque<Record> queue_;
  std::map<runtime::TopicPartition, uint64_t> pending_commits_;
  common::Backoff backoff_;
  int64_t retry_at_us_ = 0;
  std::set<std::string> logged_skips_;

  runtime::Counter* sent_total_ = nullptr;
  runtime::Counter* retries_total_ = nullptr;
  runtime::Counter* requests_total_ = nullptr;
  runtime::Counter* offset_commit_errors_total_ = nullptr;
};

}  // namespace txpipe::sinks::webhook
