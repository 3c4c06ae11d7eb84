// The broker interface: where topics live. The embedded log
// (brokers/embedded) implements it today and Kafka (brokers/kafka) will;
// sources, sinks and processors see only this file, so swapping the broker
// changes no component.
//
// Model (Kafka's): a topic has partitions; events with the same key go to the
// same partition and keep their order there; a consumer group commits, per
// partition, the offset of the next event to read.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "core/event.h"

namespace txpipe::runtime {

struct TopicPartition {
  std::string topic;
  int partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct PartitionInfo {
  int partition = 0;
  uint64_t start_offset = 0;  // first retained
  uint64_t end_offset = 0;    // next to be written (visible to consumers)
  uint64_t size_bytes = 0;
};

struct TopicInfo {
  std::string name;
  std::vector<PartitionInfo> partitions;
};

enum class Compression { kNone, kZstd };

struct ProducerOptions {
  Compression compression = Compression::kZstd;
  size_t max_batch_bytes = 1 << 20;  // a partition's batch is sent when it reaches this size
};

// Writes events to one topic. Not thread-safe: one per source thread.
class Producer {
 public:
  virtual ~Producer() = default;
  // Adds an event to the batch of its partition: the key's partition (Kafka's
  // murmur2 of the key, so Kafka clients agree), or round-robin by batch when
  // the key is empty. The event's bytes are copied.
  virtual base::Status Add(const core::EventView& event) = 0;
  // Returns once every event added so far is durable in the broker (the
  // acknowledgement a source waits for before marking its input done).
  virtual base::Status Flush() = 0;
  // Events added and not yet flushed.
  virtual size_t pending() const = 0;
};

struct Message {
  const TopicPartition* tp = nullptr;
  uint64_t offset = 0;
  core::EventView event;
};

enum class StartFrom { kEarliest, kLatest };

struct ConsumerOptions {
  // Where to start in a partition the group has no committed offset for.
  StartFrom start = StartFrom::kEarliest;
  // Partitions to read, per topic; empty = all of every topic.
  std::vector<int> partitions;
  size_t max_poll_bytes = 4 << 20;  // about this much per Poll
};

// Reads topics as a member of a consumer group. Not thread-safe.
class Consumer {
 public:
  virtual ~Consumer() = default;
  // Waits up to `timeout_ms` for events, then calls `fn` for each available
  // one (in offset order within a partition). Views are valid during the
  // call. Returns the number of messages delivered (0 on timeout).
  virtual base::Result<size_t> Poll(int64_t timeout_ms,
                                    const std::function<void(const Message&)>& fn) = 0;
  // Commits, for each partition, the offset of the next event to read: call
  // it only once everything before that offset is durably written where the
  // consumer puts it.
  virtual base::Status Commit(const std::map<TopicPartition, uint64_t>& next_offsets) = 0;
  virtual std::optional<uint64_t> Committed(const TopicPartition& tp) const = 0;
  // Moves the read position of a partition (for sinks that keep their own
  // offsets, like the archive's file names). Allowed inside Poll's callback:
  // delivery from that partition then stops and resumes at `offset`.
  virtual base::Status Seek(const TopicPartition& tp, uint64_t offset) = 0;
  virtual std::vector<TopicPartition> assignment() const = 0;
  // Read position: the offset the next Poll delivers from.
  virtual uint64_t position(const TopicPartition& tp) const = 0;
  // Interrupts a Poll in progress from another thread.
  virtual void Wakeup() = 0;
};

class Broker {
 public:
  virtual ~Broker() = default;
  // Creates `topic` with `partitions` unless it exists; an existing topic is
  // kept as it is, whatever its partition count (Kafka's TOPIC_ALREADY_EXISTS
  // is success here). Safe to call concurrently: of several callers, one
  // creates and none fails. In a pipeline every topic is created once, before
  // any component opens (docs/architecture.md, "Topics"); components create
  // what they write only when run on their own.
  virtual base::Status CreateTopic(const std::string& topic, int partitions) = 0;
  virtual base::Result<TopicInfo> Describe(const std::string& topic) const = 0;
  virtual std::vector<std::string> Topics() const = 0;
  virtual base::Result<std::unique_ptr<Producer>> NewProducer(const std::string& topic,
                                                              const ProducerOptions& options) = 0;
  virtual base::Result<std::unique_ptr<Consumer>> NewConsumer(
      const std::string& group, const std::vector<std::string>& topics,
      const ConsumerOptions& options) = 0;
  // Committed offsets of a group (for lag and `txpipe topic offsets`).
  virtual std::map<TopicPartition, uint64_t> GroupOffsets(const std::string& group) const = 0;
  virtual std::vector<std::string> Groups() const = 0;
};

// The dead-letter topic of `topic` when a component's config names none:
// "<topic>.dlq" (spooldir, the processor, POST /api/logs agree on it).
inline std::string DeadLetterTopicOf(std::string_view topic) {
  return std::string(topic) + ".dlq";
}

// Kafka's default partitioner: murmur2(key) & 0x7fffffff % partitions.
int PartitionForKey(std::string_view key, int partitions);

}  // namespace txpipe::runtime
