// ArchiveSink: Flume's HDFS sink on local disk. Reads topics as a consumer
// group and writes event bodies, one per line, into time-bucketed files
// (docs/archive.md).
//
// Guarantees:
//  - A file being written is named <in_use_prefix><name><in_use_suffix>; it is
//    fsync'd and renamed to its final name only when rolled (size, count,
//    interval, idle timeout, a new bucket path) or at shutdown.
//  - Exactly once into the archive across crashes: each final file's name
//    holds its topic, partition and first..last offsets; there is at most one
//    open file per partition, so final files hold contiguous ranges. At start
//    the sink deletes stale in-use files and seeks each partition to the max
//    last offset + 1 among the final files (this wins over the group's
//    committed offset, which is advanced after each rename for lag and
//    retention). Order: write, fsync file, rename, fsync dir, commit.
//  - Events whose path would leave the archive root go to
//    <root>/_invalid_path/, counted and logged; so do events for whose bucket
//    no file can be created after 5 attempts (a file in the way, ...).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "runtime/component.h"
#include "sinks/archive/encoder.h"
#include "sinks/archive/file_name.h"
#include "sinks/archive/options.h"
#include "sinks/archive/path_template.h"

namespace txpipe::sinks::archive {

// Where events whose path is refused go, under the archive root.
inline constexpr std::string_view kInvalidPathDir = "_invalid_path";

class ArchiveSink : public runtime::Component {
 public:
  ArchiveSink(ArchiveOptions options, runtime::Context context);
  // Does not close files: anything not closed by Close() (or Run) stays an
  // in-use file and is re-read at the next start, as after a crash.
  ~ArchiveSink() override;

  // Open(), then PollOnce() until `stop`, then Close(). Write errors are
  // retried with capped backoff (the partition's open file is dropped and
  // re-read); returns an error only when the sink cannot start or close.
  base::Status Run(const base::StopFlag& stop) override;
  std::vector<runtime::TopicUse> Topics() const override;

  // The steps of Run, public so tests can drive time by hand (FakeClock). Not
  // thread-safe: call them from one thread.
  //
  // Validates the options, scans the archive root (removing stale in-use
  // files), creates the consumer and seeks it past the archived offsets.
  base::Status Open() override;
  // Polls for up to `timeout_ms`, writes what arrives, rolls what is due and
  // commits offsets of rolled files. Returns the number of events written to
  // open files (0 without polling while backing off after a write error).
  base::Result<size_t> PollOnce(int64_t timeout_ms);
  // Rolls the files whose roll interval or idle timeout has passed (by the
  // Context clock) and commits their offsets.
  base::Status RollDue();
  // Rolls every open file and commits. Idempotent.
  base::Status Close();

  // After Open(): per partition, the next offset found in final file names.
  const std::map<runtime::TopicPartition, uint64_t>& recovered_offsets() const {
    return recovered_;
  }
  // The absolute archive root (the path's fixed leading directories).
  const std::string& root_dir() const { return root_dir_; }
  const FileNaming& naming() const { return naming_; }
  // Monotonic microseconds until which Run backs off after write errors.
  int64_t backoff_until_us() const { return backoff_until_us_; }

 private:
  struct OpenFile {
    std::string bucket;       // relative to the root ("" = the root)
    std::string dir;          // absolute
    std::string in_use_path;  // absolute
    uint64_t first_offset = 0;
    uint64_t last_offset = 0;
    uint64_t events = 0;
    uint64_t raw_bytes = 0;  // body bytes + newlines, uncompressed
    int64_t opened_us = 0;   // monotonic
    int64_t last_write_us = 0;
    std::unique_ptr<io::WritableFile> file;
    std::unique_ptr<Encoder> encoder;
    std::string raw;  // lines not yet encoded
    std::string out;  // encoded bytes not yet written
    int raw_events = 0;
  };
  struct PartitionState {
    std::optional<OpenFile> open;
    bool failed = false;  // in this poll: skip the rest, they are re-read
    std::optional<uint64_t> seek_to;
    uint64_t next_expected = 0;  // offsets below it are already archived
    // Failed attempts to open a file in the bucket of the event at
    // `dir_fail_offset`; past a few, the event goes to _invalid_path/.
    uint64_t dir_fail_offset = 0;
    int dir_failures = 0;
  };

  void OnMessage(const runtime::Message& m);
  base::Status Append(const runtime::TopicPartition& tp, PartitionState* ps,
                      const runtime::Message& m);
  base::Result<std::string> BucketFor(const runtime::Message& m);
  base::Status OpenFileFor(const runtime::TopicPartition& tp, PartitionState* ps,
                           const std::string& bucket, uint64_t first_offset);
  base::Status FlushBuffers(OpenFile* f, bool finish);
  // Closes and renames the partition's open file; queues the offset commit.
  base::Status Roll(const runtime::TopicPartition& tp, PartitionState* ps, const char* why);
  // Drops the open file after an error and arranges for its events to be re-read.
  void Fail(const runtime::TopicPartition& tp, PartitionState* ps, uint64_t offset,
            const base::Status& error);
  base::Status CommitPending();
  base::Status Recover();
  void Scan(const std::string& dir, int depth);
  base::Status EnsureDir(const std::string& dir);

  ArchiveOptions options_;
  runtime::Context ctx_;
  std::unique_ptr<runtime::Metrics> own_metrics_;
  std::optional<PathTemplate> template_;
  FileNaming naming_;
  RoundUnit round_unit_ = RoundUnit::kSecond;
  std::string root_dir_;
  std::string group_;
  std::unique_ptr<runtime::Consumer> consumer_;
  std::map<runtime::TopicPartition, PartitionState> parts_;
  std::map<runtime::TopicPartition, uint64_t> recovered_;
  std::map<runtime::TopicPartition, uint64_t> pending_commits_;
  size_t handled_ = 0;
  int64_t backoff_until_us_ = 0;
  int64_t backoff_ms_ = 0;
  bool opened_ = false;
  bool closed_ = false;
  uint64_t invalid_logged_ = 0;

  runtime::Counter* events_total_ = nullptr;
  runtime::Counter* bytes_total_ = nullptr;
  runtime::Counter* files_total_ = nullptr;
  runtime::Counter* invalid_path_total_ = nullptr;
  runtime::Counter* retries_total_ = nullptr;
  runtime::Counter* stale_removed_total_ = nullptr;
  runtime::Counter* duplicates_skipped_total_ = nullptr;
  runtime::Counter* commit_errors_total_ = nullptr;
  runtime::Gauge* open_files_ = nullptr;
};

}  // namespace txpipe::sinks::archive
