// Log: the embedded durable log. Topics of partitions in one directory,
// committed offsets of consumer groups, retention. One process owns a log
// directory at a time (a LOCK file); a second Open fails with kUnavailable.
//
// Thread-safe. Topic and Partition pointers stay valid until the Log is
// destroyed. Layout: docs/log-format.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "io/env.h"
#include "log/partition.h"

namespace txpipe::log {

struct LogOptions {
  PartitionOptions partition;       // segment size, index interval, flush policy
  int64_t flush_interval_ms = 1000;  // FlushPolicy::kInterval: sync this often
  int64_t retention_ms = 7 * 24 * 3600 * 1000LL;  // keep segments this long (0 = forever)
  uint64_t retention_bytes = 0;     // cap per partition (0 = none)
  // Open for inspection while another process may own the log: no lock, no
  // repairs, no background work, no appends or commits.
  bool read_only = false;
};

class Topic {
 public:
  const std::string& name() const { return name_; }
  int partitions() const { return static_cast<int>(partitions_.size()); }
  Partition* partition(int i) const { return partitions_[i].get(); }

 private:
  friend class Log;
  std::string name_;
  std::vector<std::unique_ptr<Partition>> partitions_;
};

struct TopicPartition {
  std::string topic;
  int partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct LogStats {
  uint64_t recovered_truncated_bytes = 0;  // dropped from torn tails at open
  uint64_t retention_segments = 0;         // segments deleted by retention
  uint64_t retention_forced_segments = 0;  // ... over the byte cap, unread by some group
};

class Log {
 public:
  static base::Result<std::unique_ptr<Log>> Open(io::Env* env, const std::string& dir,
                                                 const LogOptions& options);
  ~Log();

  // Creates a topic with `partitions`, or returns the existing one as it is
  // (whatever its partition count: check Topic::partitions() if it matters).
  // Atomic: of concurrent callers, one creates and all get the same topic.
  // kInvalidArgument for a bad name or count.
  base::Result<Topic*> CreateTopic(const std::string& name, int partitions);
  Topic* FindTopic(const std::string& name) const;
  std::vector<std::string> TopicNames() const;

  // Stores a group's offsets (the next offset to read) atomically together.
  base::Status CommitOffsets(const std::string& group,
                             const std::map<TopicPartition, uint64_t>& offsets);
  // The committed offset, or nullopt if the group never committed one.
  std::optional<uint64_t> CommittedOffset(const std::string& group, const TopicPartition& tp) const;
  std::vector<std::string> GroupNames() const;
  std::map<TopicPartition, uint64_t> GroupOffsets(const std::string& group) const;

  // Applies retention now (also done periodically by the background thread).
  base::Status EnforceRetention(int64_t now_ms);
  LogStats stats() const;
  // Moves whenever any partition of the log gets visible data.
  Notifier* notifier() { return &notifier_; }
  const std::string& dir() const { return dir_; }

  // Kafka's topic naming rules: [A-Za-z0-9._-], 1..249 chars, not "." or "..".
  static base::Status ValidateName(std::string_view kind, const std::string& name);

 private:
  Log(io::Env* env, std::string dir, LogOptions options)
      : env_(env), dir_(std::move(dir)), options_(std::move(options)) {
    options_.partition.notifier = &notifier_;
  }
  base::Status Load();
  base::Result<Topic*> OpenTopic(const std::string& name, int partitions);
  void Background();

  io::Env* const env_;
  const std::string dir_;
  LogOptions options_;
  Notifier notifier_;
  std::unique_ptr<io::FileLock> lock_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Topic>> topics_;
  std::map<std::string, std::map<TopicPartition, uint64_t>> groups_;
  LogStats stats_;

  base::StopFlag stop_;
  std::thread background_;
};

}  // namespace txpipe::log
