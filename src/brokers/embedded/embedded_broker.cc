#include "brokers/embedded/embedded_broker.h"

#include <fmt/format.h>

#include <atomic>
#include <future>

#include "base/logging.h"

namespace txpipe::brokers::embedded {

using base::Result;
using base::Status;
using runtime::TopicPartition;

namespace {

log::TopicPartition ToLog(const TopicPartition& tp) { return {tp.topic, tp.partition}; }

class EmbeddedProducer : public runtime::Producer {
 public:
  EmbeddedProducer(log::Topic* topic, const runtime::ProducerOptions& o) : topic_(topic), o_(o) {
    // Producers start on different partitions (Kafka picks one at random).
    static std::atomic<int> next_start{0};
    sticky_ = next_start.fetch_add(1) % topic->partitions();
    log::Codec codec =
        o.compression == runtime::Compression::kZstd ? log::Codec::kZstd : log::Codec::kNone;
    for (int i = 0; i < topic->partitions(); ++i) {
      builders_.push_back(std::make_unique<log::BatchBuilder>(codec));
    }
  }

  Status Add(const core::EventView& e) override {
    int p;
    if (!e.key.empty()) {
      p = runtime::PartitionForKey(e.key, topic_->partitions());
    } else {
      p = sticky_;  // keyless: fill one partition's batch, then move on
    }
    headers_.clear();
    for (const auto& h : e.headers) headers_.push_back({h.key, h.value});
    log::BatchBuilder& b = *builders_[p];
    b.Add({e.timestamp_ms, e.key, headers_, e.body});
    ++pending_;
    if (b.records_size() >= o_.max_batch_bytes) {
      TXP_RETURN_IF_ERROR(Send(p));
      if (e.key.empty()) sticky_ = (sticky_ + 1) % topic_->partitions();
    }
    return Status::OK();
  }

  // Sends every partition's batch. Partitions are independent files, so their
  // batches are compressed, written and fsynced in parallel: the flush takes
  // as long as the slowest partition, not the sum.
  Status Flush() override {
    std::vector<int> parts;
    for (int p = 0; p < topic_->partitions(); ++p) {
      if (builders_[p]->count() > 0) parts.push_back(p);
    }
    std::vector<std::future<Status>> others;
    for (size_t i = 1; i < parts.size(); ++i) {
      others.push_back(std::async(std::launch::async, [this, p = parts[i]] { return SendBatch(p); }));
    }
    Status first = parts.empty() ? Status::OK() : SendBatch(parts[0]);
    for (auto& f : others) {
      Status s = f.get();
      if (first.ok() && !s.ok()) first = s;
    }
    TXP_RETURN_IF_ERROR(first);
    if (pending_ > 0) sticky_ = (sticky_ + 1) % topic_->partitions();
    pending_ = 0;
    return Status::OK();
  }

  size_t pending() const override { return pending_; }

 private:
  // Appends partition p's batch; touches only builders_[p] (thread-safe
  // across different p).
  Status SendBatch(int p) {
    log::BatchBuilder& b = *builders_[p];
    if (b.count() == 0) return Status::OK();
    auto batch = b.Finish();
    if (!batch.ok()) return batch.status();
    auto r = topic_->partition(p)->Append(*batch);
    b.Reset();
    return r.status();
  }

  Status Send(int p) {
    uint32_t n = builders_[p]->count();
    TXP_RETURN_IF_ERROR(SendBatch(p));
    pending_ -= std::min<size_t>(pending_, n);
    return Status::OK();
  }

  log::Topic* topic_;
  runtime::ProducerOptions o_;
  std::vector<std::unique_ptr<log::BatchBuilder>> builders_;
  std::vector<log::HeaderView> headers_;
  int sticky_ = 0;
  size_t pending_ = 0;
};

class EmbeddedConsumer : public runtime::Consumer {
 public:
  EmbeddedConsumer(log::Log* log, std::string group, const runtime::ConsumerOptions& o)
      : log_(log), group_(std::move(group)), o_(o) {}

  Status Assign(const std::vector<std::string>& topics) {
    for (const auto& name : topics) {
      log::Topic* t = log_->FindTopic(name);
      if (!t) return Status::NotFound(fmt::format("no topic '{}'", name));
      for (int i = 0; i < t->partitions(); ++i) {
        if (!o_.partitions.empty() &&
            std::find(o_.partitions.begin(), o_.partitions.end(), i) == o_.partitions.end()) {
          continue;
        }
        Assigned a;
        a.tp = {name, i};
        a.partition = t->partition(i);
        auto committed = log_->CommittedOffset(group_, ToLog(a.tp));
        if (committed) {
          a.position = *committed;
        } else {
          a.position = o_.start == runtime::StartFrom::kEarliest ? a.partition->start_offset()
                                                                 : a.partition->visible_offset();
        }
        assigned_.push_back(std::move(a));
      }
    }
    return Status::OK();
  }

  Result<size_t> Poll(int64_t timeout_ms, const std::function<void(const runtime::Message&)>& fn)
      override {
    const int64_t deadline_us = Now() + timeout_ms * 1000;
    for (;;) {
      uint64_t seq = log_->notifier()->seq();
      size_t delivered = 0;
      for (size_t k = 0; k < assigned_.size(); ++k) {
        Assigned& a = assigned_[(next_ + k) % assigned_.size()];
        auto n = ReadOne(&a, fn);
        if (!n.ok()) return n.status();
        delivered += *n;
        if (delivered > 0) {
          next_ = (next_ + k + 1) % assigned_.size();  // fairness across partitions
          return delivered;
        }
      }
      int64_t left = deadline_us - Now();
      if (left <= 0 || wakeup_.exchange(false)) return size_t{0};
      log_->notifier()->WaitChanged(seq, left);
      if (wakeup_.exchange(false)) return size_t{0};
    }
  }

  Status Commit(const std::map<TopicPartition, uint64_t>& next_offsets) override {
    std::map<log::TopicPartition, uint64_t> m;
    for (const auto& [tp, off] : next_offsets) m[ToLog(tp)] = off;
    return log_->CommitOffsets(group_, m);
  }

  std::optional<uint64_t> Committed(const TopicPartition& tp) const override {
    return log_->CommittedOffset(group_, ToLog(tp));
  }

  Status Seek(const TopicPartition& tp, uint64_t offset) override {
    for (auto& a : assigned_) {
      if (a.tp == tp) {
        a.position = offset;
        a.seeked = true;  // a Seek from inside Poll's callback wins over delivery
        return Status::OK();
      }
    }
    return Status::NotFound(fmt::format("{}/{} is not assigned to this consumer", tp.topic,
                                        tp.partition));
  }

  std::vector<TopicPartition> assignment() const override {
    std::vector<TopicPartition> out;
    for (const auto& a : assigned_) out.push_back(a.tp);
    return out;
  }

  uint64_t position(const TopicPartition& tp) const override {
    for (const auto& a : assigned_) {
      if (a.tp == tp) return a.position;
    }
    return 0;
  }

  void Wakeup() override {
    wakeup_ = true;
    log_->notifier()->Notify();
  }

 private:
  struct Assigned {
    TopicPartition tp;
    log::Partition* partition = nullptr;
    uint64_t position = 0;
    bool seeked = false;
  };

  static int64_t Now() { return base::Clock::Real()->MonotonicMicros(); }

  // Delivers the events of one read from `a`; returns how many.
  Result<size_t> ReadOne(Assigned* a, const std::function<void(const runtime::Message&)>& fn) {
    Status s = a->partition->Read(a->position, o_.max_poll_bytes, &bytes_);
    if (s.code() == base::Code::kNotFound) {
      uint64_t start = a->partition->start_offset();
      TXP_LOG_WARN("consumer group {}: {}/{}: offset {} was deleted by retention; {} events "
                   "skipped, continuing at {}",
                   group_, a->tp.topic, a->tp.partition, a->position, start - a->position, start);
      a->position = start;
      s = a->partition->Read(a->position, o_.max_poll_bytes, &bytes_);
    }
    TXP_RETURN_IF_ERROR(s);
    size_t n = 0;
    std::string_view rest = bytes_;
    while (!rest.empty()) {
      log::BatchHeader h;
      TXP_RETURN_IF_ERROR(log::DecodeHeader(rest, &h));
      TXP_RETURN_IF_ERROR(log::VerifyCrc(h, rest));
      records_.clear();
      TXP_RETURN_IF_ERROR(decoder_.Decode(h, rest, &records_));
      for (uint32_t i = 0; i < records_.size(); ++i) {
        uint64_t off = h.base_offset + i;
        if (off < a->position) continue;
        const log::RecordView& r = records_[i];
        headers_.clear();
        for (const auto& hv : r.headers) headers_.push_back({hv.key, hv.value});
        runtime::Message m;
        m.tp = &a->tp;
        m.offset = off;
        m.event.timestamp_ms = r.timestamp_ms;
        m.event.key = r.key;
        m.event.headers = headers_;
        m.event.body = r.body;
        a->seeked = false;
        fn(m);
        ++n;
        if (a->seeked) return n;  // the callback moved this partition: stop here
        a->position = off + 1;
      }
      rest.remove_prefix(h.total_size());
    }
    return n;
  }

  log::Log* log_;
  std::string group_;
  runtime::ConsumerOptions o_;
  std::vector<Assigned> assigned_;
  size_t next_ = 0;
  std::string bytes_;
  log::BatchDecoder decoder_;
  std::vector<log::RecordView> records_;
  std::vector<core::HeaderView> headers_;
  std::atomic<bool> wakeup_{false};
};

}  // namespace

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Open(io::Env* env, const std::string& dir,
                                                             const log::LogOptions& options) {
  auto log = log::Log::Open(env, dir, options);
  if (!log.ok()) return log.status();
  auto b = std::make_unique<EmbeddedBroker>(log->get());
  b->owned_ = std::move(log).value();
  return b;
}

Status EmbeddedBroker::CreateTopic(const std::string& topic, int partitions) {
  return log_->CreateTopic(topic, partitions).status();
}

Result<runtime::TopicInfo> EmbeddedBroker::Describe(const std::string& topic) const {
  log::Topic* t = log_->FindTopic(topic);
  if (!t) return Status::NotFound(fmt::format("no topic '{}'", topic));
  runtime::TopicInfo info;
  info.name = topic;
  for (int i = 0; i < t->partitions(); ++i) {
    log::Partition* p = t->partition(i);
    info.partitions.push_back({i, p->start_offset(), p->visible_offset(), p->size_bytes()});
  }
  return info;
}

Result<std::unique_ptr<runtime::Producer>> EmbeddedBroker::NewProducer(
    const std::string& topic, const runtime::ProducerOptions& options) {
  log::Topic* t = log_->FindTopic(topic);
  if (!t) return Status::NotFound(fmt::format("no topic '{}'", topic));
  return std::unique_ptr<runtime::Producer>(new EmbeddedProducer(t, options));
}

Result<std::unique_ptr<runtime::Consumer>> EmbeddedBroker::NewConsumer(
    const std::string& group, const std::vector<std::string>& topics,
    const runtime::ConsumerOptions& options) {
  TXP_RETURN_IF_ERROR(log::Log::ValidateName("group", group));
  auto c = std::make_unique<EmbeddedConsumer>(log_, group, options);
  TXP_RETURN_IF_ERROR(c->Assign(topics));
  return std::unique_ptr<runtime::Consumer>(std::move(c));
}

std::map<TopicPartition, uint64_t> EmbeddedBroker::GroupOffsets(const std::string& group) const {
  std::map<TopicPartition, uint64_t> out;
  for (const auto& [tp, off] : log_->GroupOffsets(group)) out[{tp.topic, tp.partition}] = off;
  return out;
}

}  // namespace txpipe::brokers::embedded
