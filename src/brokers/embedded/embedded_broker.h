// The embedded broker: the Broker interface over the durable log in src/log,
// in this process. A consumer group is one Consumer per member; members of a
// group split partitions by ConsumerOptions::partitions (no rebalancing).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "log/log.h"
#include "runtime/broker.h"

namespace txpipe::brokers::embedded {

class EmbeddedBroker : public runtime::Broker {
 public:
  // Opens (or creates) the log in `dir`.
  static base::Result<std::unique_ptr<EmbeddedBroker>> Open(io::Env* env, const std::string& dir,
                                                            const log::LogOptions& options);
  // Wraps an open log (not owned).
  explicit EmbeddedBroker(log::Log* log) : log_(log) {}

  base::Status CreateTopic(const std::string& topic, int partitions) override;
  base::Result<runtime::TopicInfo> Describe(const std::string& topic) const override;
  std::vector<std::string> Topics() const override { return log_->TopicNames(); }
  base::Result<std::unique_ptr<runtime::Producer>> NewProducer(
      const std::string& topic, const runtime::ProducerOptions& options) override;
  base::Result<std::unique_ptr<runtime::Consumer>> NewConsumer(
      const std::string& group, const std::vector<std::string>& topics,
      const runtime::ConsumerOptions& options) override;
  std::map<runtime::TopicPartition, uint64_t> GroupOffsets(const std::string& group) const override;
  std::vector<std::string> Groups() const override { return log_->GroupNames(); }

  log::Log* log() { return log_; }

 private:
  std::unique_ptr<log::Log> owned_;
  log::Log* log_;
};

}  // namespace txpipe::brokers::embedded
