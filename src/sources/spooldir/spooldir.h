// spooldir: Flume's spooling-directory source, minus its traps. Reads the
// files dropped into a folder line by line, one event per line, into a topic;
// marks a file done (rename to .COMPLETED, delete, or a marker in the tracker
// folder) only once all its lines are durable in the broker.
//
// Unlike Flume it
//  - takes a file only once it is settled (size and mtime unchanged for
//    min_file_age_ms), so a file still being appended to is ingested whole;
//  - moves a file that changed while or after it was read, or that reuses a
//    completed name, or that cannot be decoded, to a quarantine folder with
//    a reason, counts it, and keeps running;
//  - resumes a half-read file after a crash exactly: no line lost, none
//    appended twice (spool.file / spool.pos headers + topic end offsets in the
//    progress file; see docs/spooldir.md).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/options.h"
#include "runtime/component.h"
#include "sources/spooldir/file_stat.h"
#include "sources/spooldir/text.h"

namespace txpipe::sources::spooldir {

struct SpoolDirOptions {
  std::string spool_dir;     // required; the folder read (relative: under data_dir)
  std::string topic;         // required; where events go
  // Partitions of `topic` if it must be created; 0 = the pipeline's [broker]
  // partitions (Context::topic_partitions).
  int topic_partitions = 0;
  // JSON field whose string value becomes the event key ("account_id");
  // empty = keyless events (spread over partitions by batch).
  std::string key_field;
  std::string file_suffix = ".COMPLETED";   // appended to a done file (tracking_policy rename)
  std::string delete_policy = "never";      // never | immediate (delete a done file)
  std::string tracking_policy = "rename";   // rename | tracker_dir (marker file, input left as is)
  std::string tracker_dir = ".flumespool";  // markers + progress (relative: under spool_dir)
  std::string quarantine_dir = "quarantine";  // bad files + .reason (relative: under spool_dir)
  std::string include_pattern = "^.*$";       // ECMAScript regex a file name must match
  std::string ignore_pattern = "^$";          // ... and must not match
  std::string consume_order = "oldest";       // oldest | youngest | random (by mtime)
  bool recursive_directory_search = false;    // also read sub-folders
  bool file_header = false;                   // add the file's absolute path as a header
  std::string file_header_key = "file";
  bool basename_header = false;  // add the file's name as a header
  std::string basename_header_key = "basename";
  uint64_t max_line_length = 1 << 20;        // bytes of one line as read (before decoding)
  std::string long_line_policy = "split";    // split (as Flume) | dead_letter
  int batch_size = 1000;                     // events per producer flush (acknowledgement)
  std::string input_charset = "UTF-8";       // UTF-8 | ISO-8859-1 | US-ASCII
  std::string decode_error_policy = "fail";  // fail (quarantine) | replace (U+FFFD) | ignore
  int64_t min_file_age_ms = 1000;  // a file must be unchanged this long before it is taken
  std::string dead_letter_topic;   // default "<topic>.dlq"; created when missing
  int64_t poll_interval_ms = 500;  // folder scan interval when idle
  // How often the progress file is rewritten while a file is read (each
  // write costs two fsyncs). Longer: fewer writes, a longer read-back of the
  // topic after a crash. Exactness does not depend on it.
  int64_t checkpoint_interval_ms = 1000;
};

const config::OptionTable<SpoolDirOptions>& SpoolDirOptionTable();

// Pure checks (required keys, regexes, ranges, enum spellings).
base::Status ValidateSpoolDirOptions(const SpoolDirOptions& options);

class SpoolDirSource : public runtime::Component {
 public:
  SpoolDirSource(SpoolDirOptions options, runtime::Context context);
  ~SpoolDirSource() override;

  // Validates, recovers after a crash (see docs/spooldir.md), then ingests
  // files until `stop`. Returns OK after a clean stop (the current batch
  // flushed and recorded); an error when the options are bad, another source
  // holds the folder, or the broker fails with a non-retryable error
  // (retryable ones are retried with capped backoff). Not thread-safe: one
  // thread runs it.
  base::Status Run(const base::StopFlag& stop) override;
  std::vector<runtime::TopicUse> Topics() const override;
  // Validates the options, creates the topics if missing, locks the folder,
  // loads the tracker markers, opens the producers.
  base::Status Open() override;

  // For tests: Start() is Run's set-up (Open, then recovery);
  // PollOnce() scans the folder once and ingests every settled file.
  // Returns the number of files finished (done or quarantined).
  base::Status Start(const base::StopFlag& stop);
  base::Result<int> PollOnce(const base::StopFlag& stop);
  // Called after each flush (tests use it to change a file while it is
  // being read, or to stop at a given point).
  void SetBatchHookForTest(std::function<void()> hook) { batch_hook_ = std::move(hook); }

 private:
  struct Candidate {
    std::string rel;  // path relative to the spool folder
    FileStat st;
  };
  struct Seen {
    FileStat st;
    int64_t since_us = 0;  // monotonic time it was first seen with this stat
  };
  struct Progress;
  struct Counters;

  base::Status Init();
  base::Status Recover(const base::StopFlag& stop);
  // Reads both topics from `from` to their ends into recovered_.
  base::Status ReadBack(const std::map<runtime::TopicPartition, uint64_t>& from,
                        const base::StopFlag& stop);
  base::Status OpenProducers();
  base::Status Scan(std::vector<Candidate>* out);
  base::Status ScanDir(const std::string& rel_dir, std::vector<Candidate>* out);
  bool Eligible(const std::string& name) const;
  // Ingests one file from `pos` (skipping positions in `already`); returns
  // whether it finished with the file (done or quarantined).
  base::Result<bool> Ingest(const Candidate& c, uint64_t pos, const std::set<uint64_t>& already,
                            const base::StopFlag& stop);
  base::Status Ack(const std::string& rel, const std::string& id, const FileStat& st, uint64_t pos);
  base::Status Flush();
  // Renames / deletes / writes the marker; folders to fsync go to *dirs_to_sync.
  base::Status MarkDone(const Candidate& c, const std::string& id,
                        std::set<std::string>* dirs_to_sync);
  // Flushes the producers, then marks done the files of pending_done_.
  base::Status FlushAndFinish();
  void Quarantine(const std::string& rel, const std::string& kind, const std::string& reason);
  std::string FileId(const std::string& rel, const FileStat& st) const;
  std::string Path(const std::string& rel) const { return spool_ + "/" + rel; }
  bool TrackerDone(const std::string& rel, const FileStat& st, std::string* why);

  SpoolDirOptions o_;
  runtime::Context ctx_;
  std::unique_ptr<runtime::Metrics> own_metrics_;
  std::unique_ptr<Counters> m_;
  std::string spool_, tracker_, quarantine_, progress_path_, dlq_;
  std::regex include_, ignore_;
  Charset charset_ = Charset::kUtf8;
  DecodePolicy policy_ = DecodePolicy::kFail;
  std::unique_ptr<io::FileLock> lock_;  // tracker_dir/.lock, held while alive
  std::unique_ptr<runtime::Producer> producer_, dlq_producer_;
  std::map<std::string, Seen> seen_;
  std::map<std::string, std::string> markers_;  // tracker_dir policy: rel -> marker text
  std::set<std::string> skip_;                  // failed this run (could not quarantine)
  std::vector<Candidate> queue_;                // settled files still to take, in order
  // After a restart: positions (spool.pos) per file id (spool.file) found in
  // the topics after the recorded offsets.
  std::map<std::string, std::set<uint64_t>> recovered_;
  // Where that read-back started; progress records keep it while recovered_
  // is not empty.
  std::map<runtime::TopicPartition, uint64_t> floor_;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  bool started_ = false;
  size_t batch_events_ = 0;  // events added since the last flush (across files)
  std::vector<std::pair<Candidate, std::string>> pending_done_;  // read to the end, not flushed
  int64_t last_ack_us_ = INT64_MIN / 2;
  bool progress_names_done_file_ = false;
  std::function<void()> batch_hook_;
};

}  // namespace txpipe::sources::spooldir
