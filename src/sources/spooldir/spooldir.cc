#include "sources/spooldir/spooldir.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "base/crc32c.h"
#include "base/logging.h"
#include "io/env.h"

namespace txpipe::sources::spooldir {

using base::Result;
using base::Status;

namespace {

constexpr size_t kReadChunk = 1 << 20;
// In dead_letter mode a line longer than this is sent to the dead-letter
// topic in pieces of this size (never held whole in memory).
constexpr uint64_t kMaxDeadLetterLine = 64ull << 20;
constexpr std::string_view kProgressMagic = "txpipe-spooldir-progress 1";
constexpr int64_t kMaxBackoffUs = 30'000'000;
// Files read to the end may wait for one shared flush, up to this many.
constexpr size_t kMaxPendingFiles = 1000;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

uint64_t Mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

std::string StatText(const FileStat& st) {
  return fmt::format("{} {} {} {}", st.dev, st.ino, st.size, st.mtime_ns);
}

bool ParseStat(std::string_view text, FileStat* st) {
  unsigned long long dev, ino, size;
  long long mtime;
  std::string t(text);
  if (std::sscanf(t.c_str(), "%llu %llu %llu %lld", &dev, &ino, &size, &mtime) != 4) return false;
  st->dev = dev;
  st->ino = ino;
  st->size = size;
  st->mtime_ns = mtime;
  return true;
}

// The dead-letter topic: dead_letter_topic, or <topic>.dlq.
std::string DeadLetterTopic(const SpoolDirOptions& o) {
  return o.dead_letter_topic.empty() ? runtime::DeadLetterTopicOf(o.topic) : o.dead_letter_topic;
}

}  // namespace

// ---------------------------------------------------------------- options

const config::OptionTable<SpoolDirOptions>& SpoolDirOptionTable() {
  using O = SpoolDirOptions;
  static const auto* t =
      &(*new config::OptionTable<O>("spooldir"))
           .String("spool_dir", &O::spool_dir,
                   "Folder to read (required; relative: under data_dir)")
           .Alias("spoolDir")
           .String("topic", &O::topic, "Topic the events go to (required)")
           .Integer("topic_partitions", &O::topic_partitions,
                    "Partitions of the topic when it has to be created (0 = [broker] partitions)",
                    0, 4096)
           .String("key_field", &O::key_field,
                   "JSON field whose string value is the event key (empty: no key)")
           .String("file_suffix", &O::file_suffix, "Suffix given to a done file")
           .Alias("fileSuffix")
           .Enum("delete_policy", &O::delete_policy, {"never", "immediate"},
                 "Delete done files instead of marking them")
           .Alias("deletePolicy")
           .Enum("tracking_policy", &O::tracking_policy, {"rename", "tracker_dir"},
                 "Mark done files by renaming, or by a marker in tracker_dir")
           .Alias("trackingPolicy")
           .String("tracker_dir", &O::tracker_dir,
                   "Markers and progress (relative: under spool_dir)")
           .Alias("trackerDir")
           .String("quarantine_dir", &O::quarantine_dir,
                   "Where bad files go, with a .reason file (relative: under spool_dir)")
           .String("include_pattern", &O::include_pattern, "Regex a file name must match")
           .Alias("includePattern")
           .String("ignore_pattern", &O::ignore_pattern, "Regex of file names to leave alone")
           .Alias("ignorePattern")
           .Enum("consume_order", &O::consume_order, {"oldest", "youngest", "random"},
                 "Which settled file to read first (by modification time)")
           .Alias("consumeOrder")
           .Bool("recursive_directory_search", &O::recursive_directory_search,
                 "Also read files in sub-folders")
           .Alias("recursiveDirectorySearch")
           .Bool("file_header", &O::file_header, "Add the file's absolute path as a header")
           .Alias("fileHeader")
           .String("file_header_key", &O::file_header_key, "Header name of the path")
           .Alias("fileHeaderKey")
           .Bool("basename_header", &O::basename_header, "Add the file's name as a header")
           .Alias("basenameHeader")
           .String("basename_header_key", &O::basename_header_key, "Header name of the file name")
           .Alias("basenameHeaderKey")
           .Bytes("max_line_length", &O::max_line_length,
                  "Longest line in bytes (as read); longer ones per long_line_policy", 64)
           .Alias("deserializer.maxLineLength")
           .Alias("maxLineLength")
           .Enum("long_line_policy", &O::long_line_policy, {"split", "dead_letter"},
                 "Over-long lines: split into events (Flume), or send whole to the dead-letter "
                 "topic")
           .Integer("batch_size", &O::batch_size, "Events per acknowledged batch", 1, 1'000'000)
           .Alias("batchSize")
           .Enum("input_charset", &O::input_charset,
                 {"UTF-8", "ISO-8859-1", "US-ASCII", "utf-8", "iso-8859-1", "us-ascii", "latin1"},
                 "Encoding of the files (events are UTF-8)")
           .Alias("inputCharset")
           .Enum("decode_error_policy", &O::decode_error_policy,
                 {"fail", "replace", "ignore", "FAIL", "REPLACE", "IGNORE"},
                 "Undecodable bytes: quarantine the file, replace with U+FFFD, or drop them")
           .Alias("decodeErrorPolicy")
           .DurationMs("min_file_age_ms", &O::min_file_age_ms,
                       "A file is taken once unchanged (size, mtime) this long")
           .String("dead_letter_topic", &O::dead_letter_topic,
                   "Topic for rejected lines (default <topic>.dlq)")
           .DurationMs("poll_interval_ms", &O::poll_interval_ms, "Folder scan interval when idle",
                       1, 1)
           .Alias("pollDelay")
           .DurationMs("checkpoint_interval_ms", &O::checkpoint_interval_ms,
                       "Rewrite the progress file at most this often while reading a file");
  return *t;
}

Status ValidateSpoolDirOptions(const SpoolDirOptions& o) {
  auto bad = [](std::string what) { return Status::InvalidArgument("spooldir: " + what); };
  if (o.spool_dir.empty()) return bad("spool_dir is required");
  if (o.topic.empty()) return bad("topic is required");
  if (o.file_suffix.empty()) return bad("file_suffix must not be empty");
  if (o.tracker_dir.empty()) return bad("tracker_dir must not be empty");
  if (o.quarantine_dir.empty()) return bad("quarantine_dir must not be empty");
  if (o.max_line_length < 64) return bad("max_line_length must be >= 64");
  if (o.batch_size < 1) return bad("batch_size must be >= 1");
  if (o.min_file_age_ms < 0) return bad("min_file_age_ms must be >= 0");
  if (o.poll_interval_ms < 1) return bad("poll_interval_ms must be >= 1");
  if (o.checkpoint_interval_ms < 0) return bad("checkpoint_interval_ms must be >= 0");
  if (o.topic_partitions < 0) return bad("topic_partitions must be >= 0");
  for (const auto* p : {&o.include_pattern, &o.ignore_pattern}) {
    try {
      std::regex re(*p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return bad(fmt::format("bad regex '{}': {}", *p, e.what()));
    }
  }
  if (o.file_header && o.file_header_key.empty()) return bad("file_header_key is empty");
  if (o.basename_header && o.basename_header_key.empty())
    return bad("basename_header_key is empty");
  if (DeadLetterTopic(o) == o.topic) return bad("dead_letter_topic must differ from topic");
  return Status::OK();
}

// ---------------------------------------------------------------- metrics

struct SpoolDirSource::Counters {
  runtime::Counter* events;
  runtime::Counter* bytes;
  runtime::Counter* files;
  runtime::Counter* empty_lines;
  runtime::Counter* split_lines;
  runtime::Counter* dead_letter;
  runtime::Counter* decode_errors;
  runtime::Counter* missing_key;
  runtime::Counter* duplicates_skipped;
  runtime::Counter* retries;
  runtime::Counter* file_errors;
  runtime::Counter* abandoned;
  runtime::Metrics* metrics;
  runtime::Labels labels;

  runtime::Counter* Quarantined(const std::string& kind) {
    runtime::Labels l = labels;
    l.emplace_back("reason", kind);
    return metrics->counter("txpipe_spooldir_quarantined_total",
                            "Files moved to quarantine, by reason", l);
  }
};

// ---------------------------------------------------------------- progress

// The progress file (tracker_dir/.txpipe-progress), written atomically:
//   txpipe-spooldir-progress 1
//   path <bytes> <relative path>
//   id <file id>
//   stat <dev> <ino> <size> <mtime_ns>
//   pos <byte offset: every line before it is durable in the broker>
//   offset <topic> <partition> <end offset when pos was acknowledged>   (repeated)
//   crc <crc32c of the lines above, hex>
struct SpoolDirSource::Progress {
  std::string rel;
  std::string id;
  FileStat st;
  uint64_t pos = 0;
  std::map<runtime::TopicPartition, uint64_t> offsets;

  std::string Encode() const {
    std::string s = fmt::format("{}\npath {} {}\nid {}\nstat {}\npos {}\n", kProgressMagic,
                                rel.size(), rel, id, StatText(st), pos);
    for (const auto& [tp, off] : offsets) {
      s += fmt::format("offset {} {} {}\n", tp.topic, tp.partition, off);
    }
    s += fmt::format("crc {:08x}\n", base::crc32c::Value(s.data(), s.size()));
    return s;
  }

  static Result<Progress> Decode(std::string_view s, const std::string& path) {
    auto corrupt = [&](std::string_view what) {
      return Status::Corruption(
          fmt::format("spooldir progress {}: {} (remove the file to start "
                      "over; files being read may then be read again)",
                      path, what));
    };
    size_t crc_at = s.rfind("crc ");
    if (crc_at == std::string_view::npos) return corrupt("no checksum");
    uint32_t want = 0;
    std::string_view hex = s.substr(crc_at + 4);
    if (std::from_chars(hex.data(), hex.data() + hex.size(), want, 16).ec != std::errc()) {
      return corrupt("bad checksum line");
    }
    if (base::crc32c::Value(s.data(), crc_at) != want) return corrupt("checksum mismatch");
    s = s.substr(0, crc_at);
    Progress p;
    auto next_line = [&](std::string_view* line) {
      size_t nl = s.find('\n');
      if (nl == std::string_view::npos) return false;
      *line = s.substr(0, nl);
      s.remove_prefix(nl + 1);
      return true;
    };
    std::string_view line;
    if (!next_line(&line) || line != kProgressMagic) return corrupt("bad first line");
    // path: length-prefixed (names may hold spaces).
    if (s.substr(0, 5) != "path ") return corrupt("no path");
    s.remove_prefix(5);
    size_t len = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), len);
    if (r.ec != std::errc() || *r.ptr != ' ') return corrupt("bad path");
    s.remove_prefix(r.ptr - s.data() + 1);
    if (s.size() < len + 1) return corrupt("bad path");
    p.rel = std::string(s.substr(0, len));
    s.remove_prefix(len + 1);
    while (next_line(&line)) {
      if (line.substr(0, 3) == "id ") {
        p.id = std::string(line.substr(3));
      } else if (line.substr(0, 5) == "stat ") {
        if (!ParseStat(line.substr(5), &p.st)) return corrupt("bad stat");
      } else if (line.substr(0, 4) == "pos ") {
        std::string_view v = line.substr(4);
        if (std::from_chars(v.data(), v.data() + v.size(), p.pos).ec != std::errc()) {
          return corrupt("bad pos");
        }
      } else if (line.substr(0, 7) == "offset ") {
        char topic[256];
        int part;
        unsigned long long off;
        std::string l(line.substr(7));
        if (std::sscanf(l.c_str(), "%255s %d %llu", topic, &part, &off) != 3) {
          return corrupt("bad offset");
        }
        p.offsets[{topic, part}] = off;
      } else {
        return corrupt(fmt::format("unknown line '{}'", line));
      }
    }
    return p;
  }
};

// ---------------------------------------------------------------- source

SpoolDirSource::SpoolDirSource(SpoolDirOptions options, runtime::Context context)
    : o_(std::move(options)), ctx_(std::move(context)) {}

SpoolDirSource::~SpoolDirSource() = default;

Status SpoolDirSource::Init() {
  TXP_RETURN_IF_ERROR(ValidateSpoolDirOptions(o_));
  if (!ctx_.broker) return Status::InvalidArgument("spooldir: no broker in the context");
  if (!ctx_.env) ctx_.env = io::Env::Default();
  if (!ctx_.clock) ctx_.clock = base::Clock::Real();
  spool_ = ctx_.Resolve(o_.spool_dir);
  while (spool_.size() > 1 && spool_.back() == '/') spool_.pop_back();
  auto under_spool = [&](const std::string& p) { return p[0] == '/' ? p : spool_ + "/" + p; };
  tracker_ = under_spool(o_.tracker_dir);
  quarantine_ = under_spool(o_.quarantine_dir);
  progress_path_ = tracker_ + "/.txpipe-progress";
  dlq_ = DeadLetterTopic(o_);
  include_ = std::regex(o_.include_pattern, std::regex::ECMAScript);
  ignore_ = std::regex(o_.ignore_pattern, std::regex::ECMAScript);
  std::string cs = Lower(o_.input_charset);
  charset_ = cs == "utf-8" ? Charset::kUtf8 : cs == "us-ascii" ? Charset::kAscii : Charset::kLatin1;
  std::string dp = Lower(o_.decode_error_policy);
  policy_ = dp == "fail"      ? DecodePolicy::kFail
            : dp == "replace" ? DecodePolicy::kReplace
                              : DecodePolicy::kIgnore;

  ctx_.FillDefaults(&own_metrics_);
  m_ = std::make_unique<Counters>();
  runtime::Metrics* mx = ctx_.metrics;
  m_->metrics = mx;
  m_->labels = {{"component", ctx_.name.empty() ? "spooldir" : ctx_.name}};
  const auto& l = m_->labels;
  m_->events =
      mx->counter("txpipe_spooldir_events_total", "Events sent (topic and dead-letter)", l);
  m_->bytes = mx->counter("txpipe_spooldir_bytes_total", "Bytes of event bodies sent", l);
  m_->files =
      mx->counter("txpipe_spooldir_files_total", "Files read completely and marked done", l);
  m_->empty_lines = mx->counter("txpipe_spooldir_empty_lines_total", "Empty lines skipped", l);
  m_->split_lines = mx->counter("txpipe_spooldir_split_lines_total",
                                "Lines over max_line_length split into several events", l);
  m_->dead_letter =
      mx->counter("txpipe_spooldir_dead_letter_total", "Events sent to the dead-letter topic", l);
  m_->decode_errors = mx->counter("txpipe_spooldir_decode_errors_total",
                                  "Undecodable byte sequences replaced or dropped", l);
  m_->missing_key = mx->counter("txpipe_spooldir_missing_key_total",
                                "Lines without the key field (sent without a key)", l);
  m_->duplicates_skipped =
      mx->counter("txpipe_spooldir_recovered_lines_total",
                  "Lines found already in the topic after a restart, not sent again", l);
  m_->retries = mx->counter("txpipe_spooldir_retries_total", "Broker errors retried", l);
  m_->file_errors = mx->counter("txpipe_spooldir_file_errors_total",
                                "Files that could not be read, marked or quarantined", l);
  m_->abandoned = mx->counter("txpipe_spooldir_abandoned_total",
                              "Half-read files replaced by another file before a restart", l);

  TXP_RETURN_IF_ERROR(ctx_.env->CreateDirs(spool_));
  TXP_RETURN_IF_ERROR(ctx_.env->CreateDirs(tracker_));
  // One reader per folder: two would each resume the other's files.
  auto lock = ctx_.env->LockFile(tracker_ + "/.lock",
                                 fmt::format("pid {} spooldir {}\n", getpid(), ctx_.name));
  if (!lock.ok()) return lock.status();
  lock_ = std::move(lock).value();
  TXP_RETURN_IF_ERROR(ctx_.broker->CreateTopic(
      o_.topic, o_.topic_partitions > 0 ? o_.topic_partitions : ctx_.topic_partitions));
  TXP_RETURN_IF_ERROR(ctx_.broker->CreateTopic(dlq_, ctx_.topic_partitions));
  TXP_RETURN_IF_ERROR(OpenProducers());

  if (o_.tracking_policy == "tracker_dir" && o_.delete_policy == "never") {
    // Load the markers: tracker_dir/<relative path><suffix>.
    std::vector<std::string> dirs = {""};
    while (!dirs.empty()) {
      std::string rel_dir = dirs.back();
      dirs.pop_back();
      std::string dir = rel_dir.empty() ? tracker_ : tracker_ + "/" + rel_dir;
      auto names = ctx_.env->ListDir(dir);
      if (!names.ok()) return names.status();
      for (const auto& n : *names) {
        if (n.empty() || n[0] == '.') continue;
        std::string rel = rel_dir.empty() ? n : rel_dir + "/" + n;
        auto st = StatPath(tracker_ + "/" + rel);
        if (!st.ok()) continue;
        if (st->is_dir) {
          dirs.push_back(rel);
        } else if (EndsWith(n, o_.file_suffix)) {
          auto text = io::ReadFileToString(ctx_.env, tracker_ + "/" + rel);
          if (!text.ok()) return text.status();
          markers_[rel.substr(0, rel.size() - o_.file_suffix.size())] = *text;
        }
      }
    }
  }
  return Status::OK();
}

Status SpoolDirSource::OpenProducers() {
  runtime::ProducerOptions po = ctx_.producer;
  // Batches go out at our flushes (batch_size events), not every 1 MiB:
  // each send is a synchronous, fsynced append in the embedded broker.
  po.max_batch_bytes = 16 << 20;
  auto p = ctx_.broker->NewProducer(o_.topic, po);
  if (!p.ok()) return p.status();
  producer_ = std::move(p).value();
  auto d = ctx_.broker->NewProducer(dlq_, po);
  if (!d.ok()) return d.status();
  dlq_producer_ = std::move(d).value();
  return Status::OK();
}

std::vector<runtime::TopicUse> SpoolDirSource::Topics() const {
  return {{o_.topic, o_.topic_partitions}, {DeadLetterTopic(o_), 0}};
}

Status SpoolDirSource::Open() {
  if (!started_) {
    TXP_RETURN_IF_ERROR(Init());
    started_ = true;
  }
  return Status::OK();
}

Status SpoolDirSource::Start(const base::StopFlag& stop) {
  TXP_RETURN_IF_ERROR(Open());
  return Recover(stop);
}

std::string SpoolDirSource::FileId(const std::string& rel, const FileStat& st) const {
  uint64_t h = 0xcbf29ce484222325ull;
  auto feed = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h ^= 0xff;
    h *= 0x100000001b3ull;
  };
  // Two halves: which file (folder, name, inode) and which content (size,
  // mtime), so a restart can tell "this file, changed" from "another file".
  feed(spool_);
  feed(rel);
  feed(fmt::format("{} {}", st.dev, st.ino));
  const uint64_t file = Mix(h);
  feed(fmt::format("{} {}", st.size, st.mtime_ns));
  const uint64_t content = Mix(h);
  return fmt::format("{:08x}{:08x}", static_cast<uint32_t>(file), static_cast<uint32_t>(content));
}

bool SpoolDirSource::Eligible(const std::string& name) const {
  if (name.empty() || name[0] == '.') return false;  // hidden: never
  if (EndsWith(name, o_.file_suffix)) return false;
  if (name.find('\n') != std::string::npos) return false;
  if (!std::regex_match(name, include_)) return false;
  if (std::regex_match(name, ignore_)) return false;
  return true;
}

Status SpoolDirSource::ScanDir(const std::string& rel_dir, std::vector<Candidate>* out) {
  std::string dir = rel_dir.empty() ? spool_ : spool_ + "/" + rel_dir;
  auto names = ctx_.env->ListDir(dir);
  if (!names.ok()) {
    if (!rel_dir.empty() && names.status().code() == base::Code::kNotFound) return Status::OK();
    return names.status();
  }
  for (const auto& n : *names) {
    if (n.empty() || n[0] == '.') continue;
    std::string rel = rel_dir.empty() ? n : rel_dir + "/" + n;
    std::string path = spool_ + "/" + rel;
    if (path == tracker_ || path == quarantine_) continue;
    auto st = StatPath(path);
    if (!st.ok()) continue;  // gone meanwhile
    if (st->is_dir) {
      if (o_.recursive_directory_search) TXP_RETURN_IF_ERROR(ScanDir(rel, out));
      continue;
    }
    if (!st->is_regular || !Eligible(n)) continue;
    out->push_back({rel, *st});
  }
  return Status::OK();
}

Status SpoolDirSource::Scan(std::vector<Candidate>* out) {
  std::vector<Candidate> all;
  TXP_RETURN_IF_ERROR(ScanDir("", &all));
  if (!recovered_.empty()) {
    // Forget read-back entries of files no longer here to be read (done
    // before the crash, quarantined, or another source's), so progress
    // records stop pinning the read-back start (floor_).
    std::set<std::string> present;  // file halves of the ids
    for (const auto& c : all) {
      std::string id = FileId(c.rel, c.st);
      auto m = markers_.find(c.rel);
      if (m != markers_.end() && m->second.find("id " + id + "\n") != std::string::npos) continue;
      present.insert(id.substr(0, 8));
    }
    for (auto it = recovered_.begin(); it != recovered_.end();) {
      it = present.count(it->first.substr(0, 8)) ? std::next(it) : recovered_.erase(it);
    }
  }
  const int64_t mono = ctx_.clock->MonotonicMicros();
  const int64_t wall = ctx_.clock->NowMicros();
  const int64_t age_us = o_.min_file_age_ms * 1000;
  std::map<std::string, Seen> seen;
  for (auto& c : all) {
    auto it = seen_.find(c.rel);
    Seen s;
    if (it != seen_.end() && it->second.st.SameAs(c.st)) {
      s = it->second;
    } else {
      s = {c.st, mono};
    }
    seen[c.rel] = s;
    if (skip_.count(c.rel)) continue;
    bool settled = mono - s.since_us >= age_us || wall - c.st.mtime_ns / 1000 >= age_us;
    if (settled) out->push_back(std::move(c));
  }
  seen_ = std::move(seen);
  if (o_.consume_order == "random") {
    for (size_t i = out->size(); i > 1; --i) {
      rng_ ^= rng_ << 13;
      rng_ ^= rng_ >> 7;
      rng_ ^= rng_ << 17;
      std::swap((*out)[i - 1], (*out)[rng_ % i]);
    }
  } else {
    bool youngest = o_.consume_order == "youngest";
    std::stable_sort(out->begin(), out->end(), [&](const Candidate& a, const Candidate& b) {
      if (a.st.mtime_ns != b.st.mtime_ns) {
        return youngest ? a.st.mtime_ns > b.st.mtime_ns : a.st.mtime_ns < b.st.mtime_ns;
      }
      return a.rel < b.rel;
    });
  }
  return Status::OK();
}

bool SpoolDirSource::TrackerDone(const std::string& rel, const FileStat& st, std::string* why) {
  auto it = markers_.find(rel);
  if (it == markers_.end()) return false;
  std::string want = FileId(rel, st);
  const std::string& text = it->second;
  if (text.find("id " + want + "\n") != std::string::npos) {
    why->clear();  // the very file we finished: leave it alone
    return true;
  }
  FileStat old;
  size_t at = text.find("stat ");
  bool same_inode = at != std::string::npos && ParseStat(text.substr(at + 5), &old) &&
                    old.dev == st.dev && old.ino == st.ino;
  *why = same_inode ? "modified" : "name_reused";
  return true;
}

void SpoolDirSource::Quarantine(const std::string& rel, const std::string& kind,
                                const std::string& reason) {
  seen_.erase(rel);
  m_->Quarantined(kind)->Add();
  std::string flat = rel;
  std::replace(flat.begin(), flat.end(), '/', '_');
  Status s = ctx_.env->CreateDirs(quarantine_);
  std::string dest;
  if (s.ok()) {
    for (int n = 0; n < 1000; ++n) {
      dest = quarantine_ + "/" + (n == 0 ? flat : fmt::format("{}.{}", flat, n));
      s = ctx_.env->RenameNoReplace(Path(rel), dest);
      if (s.code() != base::Code::kAlreadyExists) break;
    }
  }
  if (!s.ok()) {
    m_->file_errors->Add();
    skip_.insert(rel);
    TXP_LOG_ERROR("spooldir {}: cannot quarantine {} ({}): {}; skipping it until restart",
                  ctx_.name, Path(rel), reason, s.ToString());
    return;
  }
  std::string text = fmt::format("file: {}\nreason: {}\nkind: {}\ntime_ms: {}\n", Path(rel), reason,
                                 kind, ctx_.clock->NowMicros() / 1000);
  Status w = io::WriteFileAtomically(ctx_.env, dest + ".reason", text);
  if (!w.ok()) TXP_LOG_ERROR("spooldir {}: writing {}.reason: {}", ctx_.name, dest, w.ToString());
  ctx_.env->SyncDir(io::DirName(Path(rel))).IgnoreError();
  TXP_LOG_WARN("spooldir {}: file quarantined: {} -> {}: {}", ctx_.name, Path(rel), dest, reason);
}

Status SpoolDirSource::Flush() {
  TXP_RETURN_IF_ERROR(dlq_producer_->Flush());
  return producer_->Flush();
}

Status SpoolDirSource::Ack(const std::string& rel, const std::string& id, const FileStat& st,
                           uint64_t pos) {
  Progress p;
  p.rel = rel;
  p.id = id;
  p.st = st;
  p.pos = pos;
  if (!recovered_.empty()) {
    // Events of files not taken yet sit in the topics after floor_: the next
    // restart must read back from there too.
    p.offsets = floor_;
  } else {
    for (const auto* topic : {&o_.topic, &dlq_}) {
      auto info = ctx_.broker->Describe(*topic);
      if (!info.ok()) return info.status();
      for (const auto& part : info->partitions) {
        p.offsets[{*topic, part.partition}] = part.end_offset;
      }
    }
  }
  TXP_RETURN_IF_ERROR(io::WriteFileAtomically(ctx_.env, progress_path_, p.Encode()));
  last_ack_us_ = ctx_.clock->MonotonicMicros();
  progress_names_done_file_ = false;
  return Status::OK();
}

Status SpoolDirSource::FlushAndFinish() {
  TXP_RETURN_IF_ERROR(Flush());
  batch_events_ = 0;
  // Files read to their end whose last events were in that flush.
  std::set<std::string> dirs;
  std::vector<std::pair<Candidate, std::string>> done;
  done.swap(pending_done_);
  for (const auto& [c, id] : done) {
    auto now = StatPath(Path(c.rel));
    if (!now.ok() || !now->SameAs(c.st)) {
      Quarantine(c.rel, "modified",
                 fmt::format("the file changed after it was read (size {} -> {}); all of its "
                             "{} bytes were sent to topic {}",
                             c.st.size, now.ok() ? fmt::format("{}", now->size) : "gone", c.st.size,
                             o_.topic));
      continue;
    }
    TXP_RETURN_IF_ERROR(MarkDone(c, id, &dirs));
  }
  for (const auto& d : dirs) TXP_RETURN_IF_ERROR(ctx_.env->SyncDir(d));
  if (batch_hook_) batch_hook_();
  return Status::OK();
}

Status SpoolDirSource::MarkDone(const Candidate& c, const std::string& id,
                                std::set<std::string>* dirs_to_sync) {
  std::string path = Path(c.rel);
  if (o_.delete_policy == "immediate") {
    TXP_RETURN_IF_ERROR(ctx_.env->RemoveFile(path));
    dirs_to_sync->insert(io::DirName(path));
  } else if (o_.tracking_policy == "rename") {
    Status s = ctx_.env->RenameNoReplace(path, path + o_.file_suffix);
    if (s.code() == base::Code::kAlreadyExists) {
      Quarantine(c.rel, "name_reused",
                 fmt::format("read completely, but {} appeared meanwhile; the lines are in "
                             "topic {}",
                             path + o_.file_suffix, o_.topic));
      return Status::OK();
    }
    TXP_RETURN_IF_ERROR(s);
    dirs_to_sync->insert(io::DirName(path));
  } else {
    std::string marker = tracker_ + "/" + c.rel + o_.file_suffix;
    TXP_RETURN_IF_ERROR(ctx_.env->CreateDirs(io::DirName(marker)));
    std::string text = fmt::format("id {}\nstat {}\n", id, StatText(c.st));
    TXP_RETURN_IF_ERROR(io::WriteFileAtomically(ctx_.env, marker, text));
    markers_[c.rel] = text;
  }
  m_->files->Add();
  seen_.erase(c.rel);
  progress_names_done_file_ = true;
  return Status::OK();
}

Result<bool> SpoolDirSource::Ingest(const Candidate& c, uint64_t pos,
                                    const std::set<uint64_t>& already, const base::StopFlag& stop) {
  const std::string path = Path(c.rel);
  const std::string id = FileId(c.rel, c.st);
  const uint64_t size = c.st.size;
  auto file = ctx_.env->NewRandomAccessFile(path);
  if (!file.ok()) {
    if (file.status().code() == base::Code::kNotFound) return true;
    m_->file_errors->Add();
    skip_.insert(c.rel);
    TXP_LOG_ERROR("spooldir {}: cannot open {}: {}; skipping it until restart", ctx_.name, path,
                  file.status().ToString());
    return true;
  }
  const bool utf8 = charset_ == Charset::kUtf8;
  std::string buf;
  auto read_at = [&](uint64_t off, size_t n, std::string* out) -> Status {
    size_t old = out->size();
    out->resize(old + n);
    std::string_view got;
    Status s = (*file)->Read(off, n, out->data() + old, &got);
    if (!s.ok()) {
      out->resize(old);
      return s;
    }
    if (got.data() != out->data() + old) std::memmove(out->data() + old, got.data(), got.size());
    out->resize(old + got.size());
    return Status::OK();
  };

  bool prevalidated = false;
  if (pos == 0) {
    TXP_RETURN_IF_ERROR(read_at(0, std::min<uint64_t>(size, 4), &buf));
    auto b = [&](size_t i) { return static_cast<unsigned char>(buf[i]); };
    if (buf.size() >= 2 && ((b(0) == 0xFF && b(1) == 0xFE) || (b(0) == 0xFE && b(1) == 0xFF))) {
      Quarantine(c.rel, "not_text",
                 "starts with a UTF-16 byte order mark: not UTF-8 or ISO-8859-1 text; nothing of "
                 "it was sent");
      return true;
    }
    if (utf8 && buf.size() >= 3 && b(0) == 0xEF && b(1) == 0xBB && b(2) == 0xBF) pos = 3;  // BOM
    buf.clear();
    if (policy_ == DecodePolicy::kFail && charset_ != Charset::kLatin1) {
      // Check the whole file before sending any of it, so a bad file goes to
      // quarantine whole and nothing of it reaches the topic.
      uint64_t off = pos, line = 1;
      std::string carry;
      while (off < size) {
        std::string chunk = carry;
        size_t base = chunk.size();
        TXP_RETURN_IF_ERROR(read_at(off, std::min<uint64_t>(kReadChunk, size - off), &chunk));
        if (chunk.size() == base) break;
        off += chunk.size() - base;
        size_t cut = chunk.size();
        if (off < size) {  // keep an incomplete character for the next chunk
          for (int k = 0;
               k < 3 && cut > 0 && (static_cast<unsigned char>(chunk[cut - 1]) & 0xC0) == 0x80; ++k)
            --cut;
          if (cut > 0 && static_cast<unsigned char>(chunk[cut - 1]) >= 0xC0) --cut;
        }
        std::string_view v(chunk.data(), cut);
        if (!IsValidText(charset_, v)) {
          size_t at = FirstInvalidByte(charset_, v);
          line += std::count(v.begin(), v.begin() + at, '\n');
          Quarantine(c.rel, "decode_error",
                     fmt::format("bytes that are not {} at byte {} (line {}); "
                                 "decode_error_policy is fail; nothing of it was sent",
                                 o_.input_charset, off - chunk.size() + at, line));
          return true;
        }
        line += std::count(v.begin(), v.end(), '\n');
        carry.assign(chunk, cut, std::string::npos);
      }
      prevalidated = true;
    }
    // No progress write here: a restart reads back the topic from the last
    // recorded offsets, which precede every event of this file.
  }
  const uint64_t max_already = already.empty() ? 0 : *already.rbegin();

  // Event assembly.
  std::array<core::HeaderView, 10> hdrs;
  std::string ts_text, pos_text, decoded;
  int64_t ts_ms = -1;
  const std::string basename = c.rel.substr(c.rel.rfind('/') + 1);
  bool in_long = false;  // pieces of the current line were sent already
  uint64_t acked = pos;
  uint64_t done = pos;  // every line before this was handled

  enum class Outcome { kGoOn, kQuarantined, kStopped };
  auto check_unchanged = [&](const char* when) -> bool {
    auto now = StatPath(path);
    if (now.ok() && now->SameAs(c.st)) return true;
    Quarantine(c.rel, "modified",
               fmt::format("the file changed {} (size {} -> {}); bytes [0, {}) were sent to "
                           "topic {}",
                           when, c.st.size, now.ok() ? fmt::format("{}", now->size) : "gone", done,
                           o_.topic));
    return false;
  };
  auto flush_batch = [&]() -> Result<Outcome> {
    TXP_RETURN_IF_ERROR(FlushAndFinish());
    // The progress file is rewritten at most every checkpoint_interval_ms
    // (and on a stop): a restart reads back the topic from the recorded
    // offsets, so recording less often costs a longer read-back, not
    // exactness. After a resume, positions up to max_already may sit in the
    // topic past the recorded offsets: record nothing until beyond them.
    const int64_t now = ctx_.clock->MonotonicMicros();
    const bool stopping = stop.requested();
    if (done > acked && done > max_already &&
        (stopping || now - last_ack_us_ >= o_.checkpoint_interval_ms * 1000)) {
      TXP_RETURN_IF_ERROR(Ack(c.rel, id, c.st, done));
      acked = done;
    }
    if (!check_unchanged("while it was being read")) return Outcome::kQuarantined;
    if (stop.requested()) {
      if (done > acked && done > max_already) TXP_RETURN_IF_ERROR(Ack(c.rel, id, c.st, done));
      return Outcome::kStopped;
    }
    return Outcome::kGoOn;
  };
  // Sends one piece of a line whose bytes end at `end`.
  auto emit = [&](std::string_view raw, uint64_t end, bool to_dlq,
                  std::string_view reason) -> Result<Outcome> {
    done = end;
    if (already.count(end)) {
      m_->duplicates_skipped->Add();
      return Outcome::kGoOn;
    }
    std::string_view body = raw;
    if (charset_ == Charset::kLatin1) {
      if (!IsValidText(Charset::kAscii, raw)) {
        DecodeToUtf8(charset_, policy_, raw, &decoded);
        body = decoded;
      }
    } else if (!prevalidated && !IsValidText(charset_, raw)) {
      if (policy_ == DecodePolicy::kFail) {
        if (batch_events_ > 0) {
          auto r = flush_batch();
          if (!r.ok()) return r.status();
          if (*r == Outcome::kQuarantined) return Outcome::kQuarantined;
        }
        Quarantine(c.rel, "decode_error",
                   fmt::format("bytes that are not {} in the line ending at byte {}; "
                               "decode_error_policy is fail; bytes [0, {}) were sent to topic {}",
                               o_.input_charset, end, end - raw.size(), o_.topic));
        return Outcome::kQuarantined;
      }
      m_->decode_errors->Add(DecodeToUtf8(charset_, policy_, raw, &decoded));
      body = decoded;
    }
    int64_t now_ms = ctx_.clock->NowMicros() / 1000;
    if (now_ms != ts_ms) {
      ts_ms = now_ms;
      ts_text = fmt::format("{}", ts_ms);
    }
    pos_text = fmt::format("{}", end);
    size_t n = 0;
    hdrs[n++] = {"timestamp", ts_text};
    hdrs[n++] = {"topic", to_dlq ? std::string_view(dlq_) : std::string_view(o_.topic)};
    if (o_.file_header) hdrs[n++] = {o_.file_header_key, path};
    if (o_.basename_header) hdrs[n++] = {o_.basename_header_key, basename};
    std::string_view key;
    if (!o_.key_field.empty()) {
      key = FindJsonStringField(body, o_.key_field);
      if (key.empty()) {
        m_->missing_key->Add();
      } else {
        hdrs[n++] = {"key", key};
      }
    }
    hdrs[n++] = {"spool.file", id};
    hdrs[n++] = {"spool.pos", pos_text};
    if (to_dlq) hdrs[n++] = {"error", reason};
    core::EventView ev;
    ev.timestamp_ms = ts_ms;
    ev.key = key;
    ev.headers = std::span<const core::HeaderView>(hdrs.data(), n);
    ev.body = body;
    if (to_dlq) {
      TXP_RETURN_IF_ERROR(dlq_producer_->Add(ev));
      m_->dead_letter->Add();
    } else {
      TXP_RETURN_IF_ERROR(producer_->Add(ev));
    }
    m_->events->Add();
    m_->bytes->Add(body.size());
    if (++batch_events_ >= static_cast<size_t>(o_.batch_size)) return flush_batch();
    return Outcome::kGoOn;
  };
  const bool split = o_.long_line_policy == "split";
  const uint64_t limit =
      split ? o_.max_line_length : std::max(o_.max_line_length, kMaxDeadLetterLine);
  const std::string long_reason =
      fmt::format("line longer than max_line_length ({} bytes)", o_.max_line_length);
  // Handles a complete line [start, start + line.size()) whose bytes
  // (newline included) end at `end`.
  auto emit_line = [&](std::string_view line, uint64_t start, uint64_t end) -> Result<Outcome> {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      in_long = false;
      done = end;
      m_->empty_lines->Add();
      return Outcome::kGoOn;
    }
    // A line whose front was already sent in pieces (in_long) goes on where it went.
    const bool to_dlq = !split && (line.size() > o_.max_line_length || in_long);
    if (line.size() > limit && !in_long) m_->split_lines->Add();
    in_long = false;
    while (line.size() > limit) {
      size_t cut = SplitCut(line, limit, utf8);
      auto r = emit(line.substr(0, cut), start + cut, to_dlq, long_reason);
      if (!r.ok() || *r != Outcome::kGoOn) return r;
      start += cut;
      line.remove_prefix(cut);
    }
    return emit(line, end, to_dlq, long_reason);
  };

  // The read loop: buf holds file bytes [buf_off, buf_off + buf.size()).
  uint64_t buf_off = pos;
  size_t cur = 0;
  bool eof = pos >= size;
  buf.clear();
  Outcome outcome = Outcome::kGoOn;
  while (outcome == Outcome::kGoOn) {
    const char* b = buf.data() + cur;
    size_t avail = buf.size() - cur;
    const void* nl = avail ? std::memchr(b, '\n', avail) : nullptr;
    Result<Outcome> r = Outcome::kGoOn;
    if (nl) {
      size_t len = static_cast<const char*>(nl) - b;
      uint64_t start = buf_off + cur;
      r = emit_line(std::string_view(b, len), start, start + len + 1);
      cur += len + 1;
    } else if (avail > limit + 1) {
      // An over-long line still without its end: send leading pieces now
      // (the same cuts emit_line would make; +1 leaves room for a '\r').
      size_t cut = SplitCut(std::string_view(b, avail), limit, utf8);
      if (!in_long) m_->split_lines->Add();
      in_long = true;
      r = emit(std::string_view(b, cut), buf_off + cur + cut, !split, long_reason);
      cur += cut;
    } else if (eof) {
      if (avail > 0) {
        uint64_t start = buf_off + cur;
        r = emit_line(std::string_view(b, avail), start, start + avail);
        cur += avail;
      }
      if (r.ok() && *r == Outcome::kGoOn) break;
    } else {
      buf.erase(0, cur);
      buf_off += cur;
      cur = 0;
      uint64_t at = buf_off + buf.size();
      size_t want = static_cast<size_t>(std::min<uint64_t>(kReadChunk, size - at));
      size_t before = buf.size();
      Status s = read_at(at, want, &buf);
      if (!s.ok()) {
        m_->file_errors->Add();
        skip_.insert(c.rel);
        TXP_LOG_ERROR("spooldir {}: reading {}: {}; skipping it until restart", ctx_.name, path,
                      s.ToString());
        TXP_RETURN_IF_ERROR(FlushAndFinish());
        return true;
      }
      if (buf.size() - before < want) {
        // Shorter than when we took it: truncated meanwhile.
        if (!check_unchanged("while it was being read")) return true;
        eof = true;
      }
      if (buf_off + buf.size() >= size) eof = true;
      continue;
    }
    if (!r.ok()) return r.status();
    outcome = *r;
  }
  if (outcome == Outcome::kQuarantined) return true;
  if (outcome == Outcome::kStopped) return false;
  // End of file: marked done once its events are durable. With more files
  // waiting, the flush is shared with the next files' events (one flush and
  // one folder sync for many small files), up to kMaxPendingFiles.
  pending_done_.push_back({c, id});
  if (queue_.empty() || pending_done_.size() >= kMaxPendingFiles || stop.requested()) {
    TXP_RETURN_IF_ERROR(FlushAndFinish());
  }
  return true;
}

Status SpoolDirSource::ReadBack(const std::map<runtime::TopicPartition, uint64_t>& from,
                                const base::StopFlag& stop) {
  std::string group = "spooldir-recover-";
  for (char ch : ctx_.name.empty() ? std::string("spooldir") : ctx_.name) {
    group += std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-'
                 ? ch
                 : '_';
  }
  // A throwaway group: it never commits.
  auto consumer = ctx_.broker->NewConsumer(group, {o_.topic, dlq_}, runtime::ConsumerOptions{});
  if (!consumer.ok()) return consumer.status();
  std::map<runtime::TopicPartition, uint64_t> end;
  for (const auto* topic : {&o_.topic, &dlq_}) {
    auto info = ctx_.broker->Describe(*topic);
    if (!info.ok()) return info.status();
    for (const auto& part : info->partitions) end[{*topic, part.partition}] = part.end_offset;
  }
  for (const auto& tp : (*consumer)->assignment()) {
    auto it = from.find(tp);
    TXP_RETURN_IF_ERROR((*consumer)->Seek(tp, it == from.end() ? 0 : it->second));
  }
  const int64_t deadline = ctx_.clock->MonotonicMicros() + 300'000'000;
  auto behind = [&] {
    for (const auto& tp : (*consumer)->assignment()) {
      if ((*consumer)->position(tp) < end[tp]) return true;
    }
    return false;
  };
  while (behind()) {
    if (stop.requested()) return Status::OK();
    if (ctx_.clock->MonotonicMicros() > deadline) {
      return Status::Unavailable("spooldir: reading back the topic after a restart timed out");
    }
    auto n = (*consumer)->Poll(100, [&](const runtime::Message& m) {
      if (m.offset >= end[*m.tp]) return;
      std::string_view id = m.event.header("spool.file");
      std::string_view v = m.event.header("spool.pos");
      uint64_t pos = 0;
      if (id.empty() || std::from_chars(v.data(), v.data() + v.size(), pos).ec != std::errc()) {
        return;
      }
      recovered_[std::string(id)].insert(pos);
    });
    if (!n.ok()) return n.status();
  }
  return Status::OK();
}

Status SpoolDirSource::Recover(const base::StopFlag& stop) {
  queue_.clear();
  recovered_.clear();
  // After a broker error: what was not flushed is found by the read-back.
  pending_done_.clear();
  batch_events_ = 0;
  if (!ctx_.env->FileExists(progress_path_)) {
    // First start: record where the topics end before any event of ours.
    return Ack("", "", FileStat{}, 0);
  }
  auto text = io::ReadFileToString(ctx_.env, progress_path_);
  if (!text.ok()) return text.status();
  auto p = Progress::Decode(*text, progress_path_);
  if (!p.ok()) return p.status();
  // Events that reached the topic after the recorded offsets (sent and
  // flushed, but not yet recorded when the process died), per file.
  TXP_RETURN_IF_ERROR(ReadBack(p->offsets, stop));
  floor_ = p->offsets;
  if (stop.requested() || p->rel.empty()) return Status::OK();
  auto st = StatPath(Path(p->rel));
  if (!st.ok()) {
    if (st.status().code() == base::Code::kNotFound) return Status::OK();  // done or moved
    return st.status();
  }
  if (o_.delete_policy == "never") {
    if (o_.tracking_policy == "tracker_dir") {
      auto m = markers_.find(p->rel);
      if (m != markers_.end() && m->second.find("id " + p->id + "\n") != std::string::npos) {
        return Status::OK();  // finished; the marker is there
      }
    } else if (ctx_.env->FileExists(Path(p->rel) + o_.file_suffix)) {
      return Status::OK();  // finished and renamed; this is a new file of the same name
    }
  }
  if (!st->SameAs(p->st)) {
    if (st->dev == p->st.dev && st->ino == p->st.ino) {
      recovered_.erase(p->id);
      Quarantine(p->rel, "modified",
                 fmt::format("changed (size {} -> {}) after it was partly read; bytes [0, {}) "
                             "were sent to topic {}",
                             p->st.size, st->size, p->pos, o_.topic));
    } else {
      m_->abandoned->Add();
      TXP_LOG_WARN(
          "spooldir {}: {} was replaced by another file before it was read to the end; "
          "bytes [{}, {}) of the old file were never read",
          ctx_.name, Path(p->rel), p->pos, p->st.size);
    }
    return Status::OK();
  }
  std::set<uint64_t> already;
  auto it = recovered_.find(p->id);
  if (it != recovered_.end()) {
    already = std::move(it->second);
    recovered_.erase(it);
  }
  TXP_LOG_INFO("spooldir {}: resuming {} at byte {}; {} later events already in the topic",
               ctx_.name, Path(p->rel), p->pos, already.size());
  Candidate c{p->rel, *st};
  auto r = Ingest(c, p->pos, already, stop);
  if (!r.ok()) return r.status();
  return Status::OK();
}

Result<int> SpoolDirSource::PollOnce(const base::StopFlag& stop) {
  if (queue_.empty()) {
    std::vector<Candidate> found;
    TXP_RETURN_IF_ERROR(Scan(&found));
    queue_.assign(found.rbegin(), found.rend());  // taken from the back
  }
  int finished = 0;
  while (!queue_.empty() && !stop.requested()) {
    Candidate c = std::move(queue_.back());
    queue_.pop_back();
    auto st = StatPath(Path(c.rel));
    if (!st.ok() || !st->SameAs(c.st)) continue;  // changed or gone: seen again next scan
    std::string why;
    if (o_.delete_policy == "never") {
      if (o_.tracking_policy == "rename" && ctx_.env->FileExists(Path(c.rel) + o_.file_suffix)) {
        Quarantine(c.rel, "name_reused",
                   fmt::format("{} exists: a file of this name was already ingested; this one "
                               "was not read",
                               Path(c.rel) + o_.file_suffix));
        ++finished;
        continue;
      }
      if (o_.tracking_policy == "tracker_dir" && TrackerDone(c.rel, c.st, &why)) {
        if (why.empty()) continue;  // done before, unchanged
        Quarantine(c.rel, why,
                   why == "modified"
                       ? "changed after it was ingested completely; the change was not read"
                       : "a file of this name was already ingested; this one was not read");
        ++finished;
        continue;
      }
    }
    std::set<uint64_t> already;
    if (!recovered_.empty()) {
      // Events of this file may be in the topic from before a crash.
      std::string id = FileId(c.rel, c.st);
      auto it = recovered_.find(id);
      if (it != recovered_.end()) {
        already = std::move(it->second);
        recovered_.erase(it);
        TXP_LOG_INFO("spooldir {}: resuming {}; {} of its events already in the topic", ctx_.name,
                     Path(c.rel), already.size());
      } else {
        bool changed = false;
        for (const auto& [other, _] : recovered_) changed |= other.compare(0, 8, id, 0, 8) == 0;
        if (changed) {
          Quarantine(c.rel, "modified",
                     "changed after it was partly read before a restart; some of its lines "
                     "were sent to topic " +
                         o_.topic);
          ++finished;
          continue;
        }
      }
    }
    auto r = Ingest(c, 0, already, stop);
    if (!r.ok()) {
      queue_.clear();
      return r.status();
    }
    if (!*r) break;  // stopped
    ++finished;
  }
  if (!pending_done_.empty()) TXP_RETURN_IF_ERROR(FlushAndFinish());
  if (queue_.empty() && progress_names_done_file_) {
    // Idle: say that no file is in flight (the next file's first record
    // would overwrite it anyway), so a new file reusing the name is not
    // mistaken for the one just finished.
    TXP_RETURN_IF_ERROR(Ack("", "", FileStat{}, 0));
  }
  return finished;
}

Status SpoolDirSource::Run(const base::StopFlag& stop) {
  int64_t backoff_us = 100'000;
  Status s = Start(stop);
  while (!s.ok()) {
    if (!started_ || !s.retryable()) return s;
    m_->retries->Add();
    TXP_LOG_WARN("spooldir {}: {}; retrying in {} ms", ctx_.name, s.ToString(), backoff_us / 1000);
    if (!ctx_.clock->SleepUntil(ctx_.clock->MonotonicMicros() + backoff_us, stop)) {
      return Status::OK();
    }
    backoff_us = std::min(backoff_us * 2, kMaxBackoffUs);
    s = Start(stop);
  }
  backoff_us = 100'000;
  bool recovering = false;
  while (!stop.requested()) {
    if (recovering) {
      // The batch in flight may be partly durable: start over from the
      // progress file as after a crash, with fresh producers, once this works.
      if (!ctx_.clock->SleepUntil(ctx_.clock->MonotonicMicros() + backoff_us, stop)) break;
      backoff_us = std::min(backoff_us * 2, kMaxBackoffUs);
      Status o = OpenProducers();
      if (o.ok()) o = Recover(stop);
      if (!o.ok()) {
        if (!o.retryable()) return o;
        m_->retries->Add();
        TXP_LOG_WARN("spooldir {}: {}; retrying in {} ms", ctx_.name, o.ToString(),
                     backoff_us / 1000);
        continue;
      }
      recovering = false;
      continue;
    }
    auto r = PollOnce(stop);
    if (!r.ok()) {
      if (!r.status().retryable()) return r.status();
      m_->retries->Add();
      TXP_LOG_WARN("spooldir {}: {}; retrying in {} ms", ctx_.name, r.status().ToString(),
                   backoff_us / 1000);
      recovering = true;
      continue;
    }
    backoff_us = 100'000;
    if (*r == 0 &&
        !ctx_.clock->SleepUntil(ctx_.clock->MonotonicMicros() + o_.poll_interval_ms * 1000, stop)) {
      break;
    }
  }
  return Status::OK();
}

}  // namespace txpipe::sources::spooldir
