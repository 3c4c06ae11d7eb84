#include "api/live.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/logging.h"
#include "codec/json_writer.h"
#include "sinks/store/query.h"
#include "sinks/store/store_db.h"

namespace txpipe::api {
namespace {

using Frame = std::shared_ptr<const std::string>;

bool IsWindowsTopic(const std::string& t) { return t.ends_with(".windows"); }
bool IsRawTopic(const std::string& t) {
  return !IsWindowsTopic(t) && !t.ends_with(".dlq") && t != "alerts";
}

// One SSE event; newlines in a JSON body are whitespace, so they become
// spaces (a data: line may not hold one).
std::string SseFrame(std::string_view event, std::string_view data) {
  std::string f;
  f.reserve(event.size() + data.size() + 16);
  f += "event: ";
  f += event;
  f += "\ndata: ";
  for (char c : data) f += (c == '\n' || c == '\r') ? ' ' : c;
  f += "\n\n";
  return f;
}

std::string MetricsJson(const runtime::Metrics& metrics) {
  std::string out = "[";
  bool first = true;
  for (const auto& m : metrics.Snapshot()) {
    if (!first) out += ',';
    first = false;
    out += "{\"name\":";
    codec::AppendJsonString(&out, m.name);
    out += ",\"labels\":{";
    for (size_t i = 0; i < m.labels.size(); ++i) {
      if (i) out += ',';
      codec::AppendJsonString(&out, m.labels[i].first);
      out += ':';
      codec::AppendJsonString(&out, m.labels[i].second);
    }
    out += fmt::format("}},\"value\":{}}}", m.value);
  }
  out += ']';
  return out;
}

}  // namespace

struct LiveHub::Impl {
  struct Client {
    std::mutex mu;
    std::deque<Frame> frames;
  };

  runtime::Broker* broker;
  runtime::Metrics* metrics;
  LiveOptions options;
  runtime::Counter* dropped;
  runtime::Gauge* clients_gauge;

  mutable std::mutex mu;
  std::set<std::shared_ptr<Client>> clients;
  bool want_stats = false;  // a client joined: send stats now
  base::StopFlag stop;
  std::thread thread;

  void Publish(const Frame& f) {
    std::lock_guard lock(mu);
    for (const auto& c : clients) {
      std::lock_guard cl(c->mu);
      if (c->frames.size() >= options.queue_max) {
        c->frames.pop_front();
        dropped->Add();
      }
      c->frames.push_back(f);
    }
  }
  bool HasClients() const {
    std::lock_guard lock(mu);
    return !clients.empty();
  }

  void Run();
  void PublishStats();
  // The newest raw events of `topic`, oldest first; empty when unchanged
  // since `*last_end` (the sum of its partitions' end offsets).
  void PublishRecent(const std::string& topic, uint64_t* last_end,
                     std::unique_ptr<runtime::Consumer>* consumer);
};

void LiveHub::Impl::PublishStats() {
  std::string stats = "null";
  auto db = sinks::store::StoreDb::Open(options.store_path, sinks::store::OpenMode::kReadOnly);
  if (db.ok()) {
    sinks::store::Query q(db->get(), broker);
    auto s = q.Stats();
    if (s.ok()) stats = s->ToJson();
  }
  Publish(std::make_shared<const std::string>(
      SseFrame("stats", "{\"stats\":" + stats + ",\"metrics\":" + MetricsJson(*metrics) + "}")));
}

void LiveHub::Impl::PublishRecent(const std::string& topic, uint64_t* last_end,
                                  std::unique_ptr<runtime::Consumer>* consumer) {
  auto info = broker->Describe(topic);
  if (!info.ok()) return;
  uint64_t end_sum = 0;
  for (const auto& p : info->partitions) end_sum += p.end_offset;
  if (end_sum == *last_end) return;
  *last_end = end_sum;
  if (!*consumer) {
    auto c = broker->NewConsumer("txpipe-live", {topic}, {});
    if (!c.ok()) return;
    *consumer = std::move(c).value();
  }
  // Read the last recent_max events of every partition, keep the newest.
  std::map<runtime::TopicPartition, uint64_t> ends;
  for (const auto& p : info->partitions) {
    runtime::TopicPartition tp{topic, p.partition};
    uint64_t from = p.end_offset - std::min<uint64_t>(p.end_offset - p.start_offset,
                                                      options.recent_max);
    (void)(*consumer)->Seek(tp, from);
    if (p.end_offset > from) ends[tp] = p.end_offset;
  }
  struct Recent {
    int64_t ts;
    uint64_t offset;
    std::string body;
  };
  std::vector<Recent> got;
  for (int round = 0; round < 8 && !ends.empty(); ++round) {
    auto n = (*consumer)->Poll(0, [&](const runtime::Message& m) {
      auto it = ends.find(*m.tp);
      if (it == ends.end() || m.offset >= it->second) return;
      got.push_back({m.event.timestamp_ms, m.offset, std::string(m.event.body)});
      if (m.offset + 1 >= it->second) ends.erase(it);
    });
    if (!n.ok() || *n == 0) break;
  }
  std::sort(got.begin(), got.end(), [](const Recent& a, const Recent& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.offset < b.offset;
  });
  if (got.size() > options.recent_max) got.erase(got.begin(), got.end() - options.recent_max);
  if (got.empty()) return;
  std::string data = "{\"topic\":";
  codec::AppendJsonString(&data, topic);
  data += ",\"events\":[";
  for (size_t i = 0; i < got.size(); ++i) {
    if (i) data += ',';
    data += got[i].body;
  }
  data += "]}";
  Publish(std::make_shared<const std::string>(SseFrame("recent", data)));
}

void LiveHub::Impl::Run() {
  base::Clock* clock = base::Clock::Real();
  std::unique_ptr<runtime::Consumer> consumer;  // windows and alerts
  std::set<std::string> subscribed;
  std::map<std::string, std::pair<uint64_t, std::unique_ptr<runtime::Consumer>>> raw;
  int64_t next_scan = 0, next_stats = 0, next_recent = 0;
  while (!stop.requested()) {
    int64_t now = clock->MonotonicMicros();
    if (now >= next_scan) {
      next_scan = now + 2'000'000;
      std::set<std::string> want;
      for (const auto& t : broker->Topics()) {
        if (IsWindowsTopic(t) || t == "alerts") want.insert(t);
        if (IsRawTopic(t) && !raw.count(t)) raw[t] = {0, nullptr};
      }
      if (want != subscribed && !want.empty()) {
        // A new consumer starts at the end of new topics and where the old
        // one was in the others.
        std::map<runtime::TopicPartition, uint64_t> at;
        if (consumer) {
          for (const auto& tp : consumer->assignment()) at[tp] = consumer->position(tp);
        }
        runtime::ConsumerOptions o;
        o.start = runtime::StartFrom::kLatest;
        auto c = broker->NewConsumer("txpipe-live", {want.begin(), want.end()}, o);
        if (c.ok()) {
          consumer = std::move(c).value();
          for (const auto& [tp, offset] : at) (void)consumer->Seek(tp, offset);
          subscribed = want;
        } else {
          TXP_LOG_WARN("live: cannot read {}: {}", fmt::join(want, ", "), c.status().ToString());
        }
      }
    }
    bool has_clients = HasClients();
    if (consumer) {
      auto n = consumer->Poll(200, [&](const runtime::Message& m) {
        if (!has_clients) return;
        const char* kind = m.tp->topic == "alerts" ? "alert" : "window";
        Publish(std::make_shared<const std::string>(SseFrame(kind, m.event.body)));
      });
      if (!n.ok()) TXP_LOG_WARN("live: {}", n.status().ToString());
    } else {
      clock->SleepUntil(now + 200'000, stop);
    }
    if (!has_clients) continue;
    now = clock->MonotonicMicros();
    bool stats_now = false;
    {
      std::lock_guard lock(mu);
      stats_now = want_stats;
      want_stats = false;
    }
    if (stats_now || now >= next_stats) {
      next_stats = now + options.stats_interval_ms * 1000;
      PublishStats();
    }
    if (stats_now || now >= next_recent) {
      next_recent = now + options.recent_interval_ms * 1000;
      for (auto& [topic, state] : raw) {
        if (stats_now) state.first = 0;  // the new client has seen none
        PublishRecent(topic, &state.first, &state.second);
      }
    }
  }
}

LiveHub::LiveHub(runtime::Broker* broker, runtime::Metrics* metrics, LiveOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->broker = broker;
  impl_->metrics = metrics;
  impl_->options = std::move(options);
  impl_->dropped = metrics->counter("txpipe_http_live_dropped_total",
                                    "Live events dropped for clients too far behind");
  impl_->clients_gauge = metrics->gauge("txpipe_http_live_clients", "Clients of /api/v1/live");
  Impl* p = impl_.get();
  impl_->thread = std::thread([p] { p->Run(); });
}

LiveHub::~LiveHub() { Stop(); }

void LiveHub::Stop() {
  impl_->stop.Request();
  if (impl_->thread.joinable()) impl_->thread.join();
}

size_t LiveHub::clients() const {
  std::lock_guard lock(impl_->mu);
  return impl_->clients.size();
}

void LiveHub::Handle(const io::ServerRequest&, io::ServerResponse& res) {
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  std::shared_ptr<Impl> impl = impl_;
  res.stream = [impl](io::ResponseStream& out) {
    auto client = std::make_shared<Impl::Client>();
    {
      std::lock_guard lock(impl->mu);
      impl->clients.insert(client);
      impl->want_stats = true;
      impl->clients_gauge->Set(static_cast<int64_t>(impl->clients.size()));
    }
    base::Clock* clock = base::Clock::Real();
    int64_t last_write = clock->MonotonicMicros();
    bool open = out.Write("retry: 2000\n\n");
    std::deque<Frame> frames;
    while (open && !impl->stop.requested() && out.Wait(100)) {
      {
        std::lock_guard lock(client->mu);
        frames.swap(client->frames);
      }
      std::string batch;
      for (const auto& f : frames) batch += *f;
      frames.clear();
      int64_t now = clock->MonotonicMicros();
      if (batch.empty() && now - last_write >= impl->options.heartbeat_ms * 1000) batch = ": ping\n\n";
      if (!batch.empty()) {
        open = out.Write(batch);
        last_write = now;
      }
    }
    std::lock_guard lock(impl->mu);
    impl->clients.erase(client);
    impl->clients_gauge->Set(static_cast<int64_t>(impl->clients.size()));
  };
}

}  // namespace txpipe::api
