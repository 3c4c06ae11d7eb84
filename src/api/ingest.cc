#include "api/ingest.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "codec/json_writer.h"

namespace txpipe::api {
namespace {

using base::Status;

constexpr char kJson[] = "application/json";
// At most this many rejected events are listed in an answer (all are counted).
constexpr size_t kMaxListedErrors = 100;

enum class Format { kJson, kNdjson };

// The body's format from its Content-Type, or nullopt (415).
std::optional<Format> FormatOf(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string lower(media);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "application/json") return Format::kJson;
  if (lower == "application/x-ndjson" || lower == "application/ndjson" ||
      lower == "application/jsonl" || lower == "application/x-jsonlines" ||
      lower == "application/jsonlines") {
    return Format::kNdjson;
  }
  return std::nullopt;
}

std::string_view Trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// Compares without an early exit (the token is a secret).
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

struct Reject {
  size_t index;
  std::string reason;   // metric label and DLQ header: "not_json"
  std::string message;  // for people
  std::string_view body;
};

// The reason label of a simdjson error.
std::string ReasonOf(simdjson::error_code e) {
  switch (e) {
    case simdjson::UTF8_ERROR:
      return "invalid_utf8";
    case simdjson::DEPTH_ERROR:
      return "too_deep";
    default:
      return "not_json";
  }
}

}  // namespace

struct Ingest::Impl {
  // Group commit across requests: each request adds its events to the
  // producer being filled and waits; one of the waiting requests (the
  // leader) flushes it while the others fill the next one. So concurrent
  // requests share one batch per partition, one compression and one fsync,
  // instead of a flush each.
  class Committer {
   public:
    Committer(runtime::Broker* broker, std::string topic) : broker_(broker), topic_(std::move(topic)) {}

    // Adds the events and returns once they are durable (or why not).
    Status Append(const std::vector<std::string_view>& events,
                  const std::vector<std::string_view>& keys, int64_t now_ms) {
      std::unique_lock l(mu_);
      if (!filling_) {
        Status s = Refill();
        if (!s.ok()) return s;
      }
      const uint64_t mine = filling_gen_;
      Gen& g = gens_[mine];
      ++g.waiters;
      for (size_t i = 0; i < events.size() && g.status.ok(); ++i) {
        core::EventView e;
        e.timestamp_ms = now_ms;
        e.key = keys[i];
        e.body = events[i];
        // On failure the producer may hold part of this request: the whole
        // generation fails (its requests get the error; none got a 202 yet).
        g.status = filling_->Add(e);
      }
      while (!g.done) {
        if (mine != filling_gen_ || in_flight_ >= kMaxInFlight) {
          cv_.wait(l);
          continue;
        }
        // Lead: flush the producer holding this generation; the next one
        // fills meanwhile, and up to kMaxInFlight flushes run at once (each
        // request waits for its own generation only, so they may finish in
        // any order).
        ++in_flight_;
        std::unique_ptr<runtime::Producer> p = std::move(filling_);
        ++filling_gen_;
        (void)Refill();  // on failure filling_ stays empty: the next Append reports it
        const bool add_failed = !g.status.ok();
        l.unlock();
        Status s = add_failed ? Status::OK() : p->Flush();
        l.lock();
        if (!s.ok()) g.status = s;
        if (g.status.ok()) spare_.push_back(std::move(p));  // else dropped: it may hold half a batch
        g.done = true;
        --in_flight_;
        cv_.notify_all();
      }
      Status result = g.status;
      if (--g.waiters == 0) gens_.erase(mine);
      return result;
    }

   private:
    struct Gen {
      int waiters = 0;
      bool done = false;
      Status status;
    };
    static constexpr int kMaxInFlight = 3;

    // A producer to fill: a spare one, or a new one. Requires mu_.
    Status Refill() {
      if (!spare_.empty()) {
        filling_ = std::move(spare_.back());
        spare_.pop_back();
        return Status::OK();
      }
      runtime::ProducerOptions po;
      po.max_batch_bytes = 16 << 20;  // flushes send; Adds under the lock do not
      auto p = broker_->NewProducer(topic_, po);
      if (!p.ok()) return p.status();
      filling_ = std::move(p).value();
      return Status::OK();
    }

    runtime::Broker* const broker_;
    const std::string topic_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::unique_ptr<runtime::Producer> filling_;          // requests add here
    std::vector<std::unique_ptr<runtime::Producer>> spare_;  // flushed, idle
    uint64_t filling_gen_ = 1;                            // generation of filling_
    int in_flight_ = 0;                                   // flushes running
    std::map<uint64_t, Gen> gens_;                        // generations with waiters
  };

  struct Topic {
    std::string name;
    std::string dlq;
    std::unique_ptr<Committer> committer;
    runtime::Counter* events = nullptr;
    runtime::Counter* bytes = nullptr;
    runtime::Counter* requests = nullptr;
    std::mutex mu;
    // Idle producers of the dead-letter topic (a request takes one, and
    // puts it back).
    std::vector<std::unique_ptr<runtime::Producer>> dlq_producers;
  };

  runtime::Broker* broker;
  runtime::Metrics* metrics;
  IngestOptions options;
  std::map<std::string, std::unique_ptr<Topic>, std::less<>> topics;
  runtime::Counter* unauthorized = nullptr;
  runtime::Counter* over_budget = nullptr;

  // The disk-budget check, refreshed at most every second.
  std::mutex budget_mu;
  int64_t budget_checked_us = -1'000'000'000;
  std::string budget_error;  // empty: within budget

  runtime::Counter* RejectCounter(const Topic& t, const std::string& reason) {
    return metrics->counter("txpipe_http_ingest_rejected_total",
                            "Events POST /api/logs rejected (kept in the dead-letter topic)",
                            {{"topic", t.name}, {"reason", reason}});
  }

  // Takes an idle producer of `t`'s dead-letter topic (or makes one); Give
  // puts it back.
  base::Result<std::unique_ptr<runtime::Producer>> TakeDlq(Topic& t) {
    {
      std::lock_guard lock(t.mu);
      if (!t.dlq_producers.empty()) {
        auto p = std::move(t.dlq_producers.back());
        t.dlq_producers.pop_back();
        return p;
      }
    }
    return broker->NewProducer(t.dlq, runtime::ProducerOptions{});
  }
  void GiveDlq(Topic& t, std::unique_ptr<runtime::Producer> p) {
    std::lock_guard lock(t.mu);
    t.dlq_producers.push_back(std::move(p));
  }

  // Empty when the log is within its disk budget, else why not.
  std::string OverBudget() {
    int64_t now = base::Clock::Real()->MonotonicMicros();
    std::lock_guard lock(budget_mu);
    if (now - budget_checked_us < 1'000'000) return budget_error;
    budget_checked_us = now;
    budget_error.clear();
    if (options.min_free_bytes > 0 && !options.log_dir.empty()) {
      struct statvfs v {};
      if (::statvfs(options.log_dir.c_str(), &v) == 0) {
        uint64_t free_bytes = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
        if (free_bytes < options.min_free_bytes) {
          budget_error = fmt::format("the log's disk has {} bytes free, under min_free_bytes {}",
                                     free_bytes, options.min_free_bytes);
        }
      }
    }
    if (budget_error.empty() && options.max_log_bytes > 0) {
      uint64_t total = 0;
      for (const auto& topic : broker->Topics()) {
        auto info = broker->Describe(topic);
        if (!info.ok()) continue;
        for (const auto& p : info->partitions) total += p.size_bytes;
      }
      if (total > options.max_log_bytes) {
        budget_error = fmt::format("the log holds {} bytes, over max_log_bytes {}", total,
                                   options.max_log_bytes);
      }
    }
    return budget_error;
  }

  void Handle(const io::ServerRequest& req, io::ServerResponse& res);
  bool BulkNdjson(const std::string& body, std::vector<std::string_view>* events,
                  std::vector<std::string_view>* keys, std::deque<std::string>* owned);
  Status Append(Topic& t, const std::vector<std::string_view>& events,
                const std::vector<std::string_view>& keys, const std::vector<Reject>& rejects,
                const std::string& remote);
};

// Appends the accepted events, then the rejected ones to the dead-letter
// topic, and returns once both are durable.
Status Ingest::Impl::Append(Topic& t, const std::vector<std::string_view>& events,
                            const std::vector<std::string_view>& keys,
                            const std::vector<Reject>& rejects, const std::string& remote) {
  const int64_t now_ms = base::Clock::Real()->NowMicros() / 1000;
  if (!events.empty()) TXP_RETURN_IF_ERROR(t.committer->Append(events, keys, now_ms));
  if (!rejects.empty()) {
    auto p = TakeDlq(t);
    if (!p.ok()) return p.status();
    Status s;
    for (const auto& r : rejects) {
      std::string index = std::to_string(r.index);
      core::HeaderView headers[] = {{"error", r.reason},
                                    {"error_message", r.message},
                                    {"component", "http"},
                                    {"source_topic", t.name},
                                    {"request_index", index},
                                    {"remote_addr", remote}};
      core::EventView e;
      e.timestamp_ms = now_ms;
      e.headers = headers;
      e.body = r.body.substr(0, options.max_event_bytes);
      s = (*p)->Add(e);
      if (!s.ok()) break;
    }
    if (s.ok()) s = (*p)->Flush();
    if (s.ok()) GiveDlq(t, std::move(p).value());
    if (!s.ok()) return s;
  }
  return Status::OK();
}

// NDJSON whose lines are each one JSON object (the common case), in one
// pass: simdjson's parse_many runs stage 1 over the whole body instead of a
// call per line. False at anything unusual (an error, a line that is not one
// object, two objects on a line, an object over lines, one too large, no
// padding): the caller then takes the per-line path, which names each bad
// line. Both paths accept exactly the same bodies.
bool Ingest::Impl::BulkNdjson(const std::string& body, std::vector<std::string_view>* events,
                              std::vector<std::string_view>* keys,
                              std::deque<std::string>* owned) {
  if (body.capacity() - body.size() < simdjson::SIMDJSON_PADDING) return false;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::document_stream stream;
  if (parser.parse_many(body.data(), body.size(), std::max<size_t>(options.max_event_bytes, 1 << 20))
          .get(stream)) {
    return false;
  }
  size_t prev_end = 0;
  for (auto it = stream.begin(); it != stream.end(); ++it) {
    simdjson::dom::element doc;
    if ((*it).get(doc) || !doc.is_object()) return false;
    std::string_view src = Trim(it.source());
    size_t start = static_cast<size_t>(src.data() - body.data());
    if (start < prev_end || src.size() > options.max_event_bytes) return false;
    // A newline between objects, none inside one.
    std::string_view gap(body.data() + prev_end, start - prev_end);
    if ((prev_end > 0 && gap.find('\n') == std::string_view::npos) ||
        src.find('\n') != std::string_view::npos || !Trim(gap).empty()) {
      return false;
    }
    prev_end = start + src.size();
    std::string_view key;
    if (!options.key_field.empty()) {
      auto k = doc[options.key_field].get_string();
      if (!k.error()) {
        key = k.value_unsafe();
        if (key.data() < src.data() || key.data() >= src.data() + src.size()) {
          owned->emplace_back(key);  // the parser's copy: it is reused by the next document
          key = owned->back();
        }
      }
    }
    events->push_back(src);
    keys->push_back(key);
  }
  return stream.truncated_bytes() == 0 && Trim(std::string_view(body).substr(prev_end)).empty();
}

void Ingest::Impl::Handle(const io::ServerRequest& req, io::ServerResponse& res) {
  if (!options.auth_token.empty()) {
    std::string auth = req.header("Authorization").value_or("");
    constexpr std::string_view kBearer = "Bearer ";
    bool ok = auth.size() > kBearer.size() &&
              std::equal(kBearer.begin(), kBearer.end(), auth.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
              }) &&
              SameSecret(std::string_view(auth).substr(kBearer.size()), options.auth_token);
    if (!ok) {
      unauthorized->Add();
      io::SetJsonError(res, 401,
                       auth.empty() ? "missing Authorization: Bearer <token>"
                                    : "wrong token in Authorization");
      res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"txpipe\"");
      return;
    }
  }
  std::string topic_name = req.param("topic").value_or(options.topics.front());
  auto it = topics.find(topic_name);
  if (it == topics.end()) {
    io::SetJsonError(res, 400,
                     fmt::format("topic: '{}' is not open to POST /api/logs (open: {})", topic_name,
                                 fmt::join(options.topics, ", ")));
    return;
  }
  for (const auto& [name, value] : req.params) {
    if (name != "topic") {
      io::SetJsonError(res, 400, fmt::format("{}: unknown parameter (known: topic)", name));
      return;
    }
  }
  Topic& t = *it->second;
  auto content_type = req.header("Content-Type");
  std::optional<Format> format = content_type ? FormatOf(*content_type) : std::nullopt;
  if (!format) {
    io::SetJsonError(res, 415,
                     fmt::format("Content-Type {}: want application/json (an object or an "
                                 "array of objects) or application/x-ndjson (one object per line)",
                                 content_type ? "'" + *content_type + "'" : "missing"));
    return;
  }
  if (std::string why = OverBudget(); !why.empty()) {
    over_budget->Add();
    io::SetJsonError(res, 503, "log over its disk budget: " + why);
    res.headers.emplace_back("Retry-After", "5");
    return;
  }
  t.requests->Add();

  // Split into events, checking that each is one JSON object. The DOM parser
  // reads up to SIMDJSON_PADDING bytes past a line: those of the body's own
  // allocation when there are enough, else it copies the line.
  thread_local simdjson::dom::parser parser;
  std::vector<std::string_view> events;
  std::vector<std::string_view> keys;
  std::vector<Reject> rejects;
  std::deque<std::string> owned;  // array elements and escaped keys (a deque: views stay valid)
  const std::string& body = req.body;
  const char* alloc_end = body.data() + body.capacity();
  auto check = [&](size_t index, std::string_view event) {
    if (event.size() > options.max_event_bytes) {
      rejects.push_back({index, "too_large",
                         fmt::format("event of {} bytes, over max_event_bytes {}", event.size(),
                                     options.max_event_bytes),
                         event});
      return;
    }
    bool padded = event.data() + event.size() + simdjson::SIMDJSON_PADDING <= alloc_end;
    simdjson::dom::element doc;
    auto error = parser.parse(event.data(), event.size(), !padded).get(doc);
    if (error) {
      rejects.push_back({index, ReasonOf(error), simdjson::error_message(error), event});
      return;
    }
    if (!doc.is_object()) {
      rejects.push_back({index, "not_object", "not a JSON object", event});
      return;
    }
    std::string_view key;
    if (!options.key_field.empty()) {
      auto k = doc[options.key_field].get_string();
      if (!k.error()) {
        // The key's bytes as they appear in the line (to keep a view into
        // the body): use the parsed value when it had escapes.
        key = k.value_unsafe();
        if (key.data() < event.data() || key.data() >= event.data() + event.size()) {
          owned.emplace_back(key);
          key = owned.back();
        }
      }
    }
    events.push_back(event);
    keys.push_back(key);
  };
  if (*format == Format::kNdjson && BulkNdjson(body, &events, &keys, &owned)) {
    // every line one JSON object: done in one pass
  } else if (*format == Format::kNdjson) {
    events.clear();
    keys.clear();
    size_t index = 0;
    size_t pos = 0;
    while (pos < body.size()) {
      size_t end = body.find('\n', pos);
      if (end == std::string::npos) end = body.size();
      std::string_view line = Trim(std::string_view(body).substr(pos, end - pos));
      if (!line.empty()) check(index, line);
      ++index;
      pos = end + 1;
    }
  } else {
    std::string_view whole = Trim(body);
    if (!whole.empty() && whole.front() == '[') {
      simdjson::dom::parser array_parser;
      simdjson::dom::array array;
      auto error = array_parser.parse(whole.data(), whole.size()).get_array().get(array);
      if (error) {
        io::SetJsonError(res, 400, fmt::format("body: {}", simdjson::error_message(error)));
        return;
      }
      size_t index = 0;
      for (simdjson::dom::element e : array) {
        owned.push_back(simdjson::minify(e));
        check(index++, owned.back());
      }
    } else if (!whole.empty()) {
      check(0, whole);
    }
  }
  for (const auto& r : rejects) RejectCounter(t, r.reason)->Add();
  if (events.empty() && rejects.empty()) {
    io::SetJsonError(res, 400, "body: no events (empty)");
    return;
  }
  Status s = Append(t, events, keys, rejects, req.remote_addr);
  if (!s.ok()) {
    int status = s.retryable() ? 503 : 500;
    io::SetJsonError(res, status, "append to " + t.name + ": " + s.message());
    if (status == 503) res.headers.emplace_back("Retry-After", "1");
    return;
  }
  uint64_t bytes = 0;
  for (auto e : events) bytes += e.size();
  t.events->Add(events.size());
  t.bytes->Add(bytes);

  std::string out = fmt::format("{{\"accepted\":{},\"rejected\":{},\"errors\":[", events.size(),
                                rejects.size());
  for (size_t i = 0; i < rejects.size() && i < kMaxListedErrors; ++i) {
    out += fmt::format("{}{{\"index\":{},\"reason\":\"{}\",\"error\":", i ? "," : "",
                       rejects[i].index, rejects[i].reason);
    codec::AppendJsonString(&out, rejects[i].message);
    out += '}';
  }
  out += ']';
  if (rejects.size() > kMaxListedErrors) out += ",\"errors_truncated\":true";
  out += '}';
  res.status = events.empty() ? 400 : 202;
  res.content_type = kJson;
  res.body = std::move(out);
}

base::Result<std::unique_ptr<Ingest>> Ingest::Create(runtime::Broker* broker,
                                                     runtime::Metrics* metrics,
                                                     IngestOptions options) {
  if (options.topics.empty()) return Status::InvalidArgument("ingest: no topics");
  auto impl = std::make_unique<Impl>();
  impl->broker = broker;
  impl->metrics = metrics;
  impl->options = std::move(options);
  for (const auto& name : impl->options.topics) {
    auto info = broker->Describe(name);
    if (!info.ok()) {
      return Status(info.status().code(),
                    fmt::format("topic '{}' for POST /api/logs: {}", name, info.status().message()));
    }
    auto t = std::make_unique<Impl::Topic>();
    t->name = name;
    t->dlq = runtime::DeadLetterTopicOf(name);
    t->committer = std::make_unique<Impl::Committer>(broker, name);
    // A pipeline has created it already; standing alone, ask for the count
    // of the topic it serves.
    TXP_RETURN_IF_ERROR(broker->CreateTopic(t->dlq, static_cast<int>(info->partitions.size())));
    runtime::Labels labels = {{"topic", name}};
    t->events = metrics->counter("txpipe_http_ingest_events_total",
                                 "Events POST /api/logs appended (durable)", labels);
    t->bytes = metrics->counter("txpipe_http_ingest_bytes_total",
                                "Bytes of events POST /api/logs appended", labels);
    t->requests = metrics->counter("txpipe_http_ingest_requests_total",
                                   "POST /api/logs requests with a body to append", labels);
    impl->topics.emplace(name, std::move(t));
  }
  impl->unauthorized = metrics->counter("txpipe_http_unauthorized_total",
                                        "Requests refused for a missing or wrong token");
  impl->over_budget = metrics->counter("txpipe_http_ingest_over_budget_total",
                                       "POST /api/logs answered 503: the log over its disk budget");
  return std::unique_ptr<Ingest>(new Ingest(std::move(impl)));
}

Ingest::Ingest(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ingest::~Ingest() = default;

void Ingest::Handle(const io::ServerRequest& req, io::ServerResponse& res) {
  impl_->Handle(req, res);
}

}  // namespace txpipe::api
