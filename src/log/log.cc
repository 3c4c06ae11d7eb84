#include "log/log.h"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>

#include "base/logging.h"

namespace txpipe::log {

using base::Result;
using base::Status;

namespace {
constexpr std::string_view kOffsetsSuffix = ".offsets";

std::string TopicDir(const std::string& dir, const std::string& topic) {
  return fmt::format("{}/topics/{}", dir, topic);
}

bool ParseUint(std::string_view s, uint64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}
}  // namespace

Status Log::ValidateName(std::string_view kind, const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") {
    return Status::InvalidArgument(fmt::format("{} name '{}' must be 1-249 characters, not '.' or "
                                               "'..'", kind, name));
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument(fmt::format(
          "{} name '{}' has '{}': use letters, digits, '.', '_' and '-'", kind, name, c));
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<Log>> Log::Open(io::Env* env, const std::string& dir,
                                       const LogOptions& options) {
  std::unique_ptr<Log> log(new Log(env, dir, options));
  log->options_.partition.read_only = options.read_only;
  if (options.read_only) {
    if (!env->FileExists(dir + "/topics")) {
      return Status::NotFound(fmt::format("{} is not a txpipe log (no topics/ folder)", dir));
    }
    TXP_RETURN_IF_ERROR(log->Load());
    return log;
  }
  TXP_RETURN_IF_ERROR(env->CreateDirs(dir + "/topics"));
  TXP_RETURN_IF_ERROR(env->CreateDirs(dir + "/groups"));
  auto lock = env->LockFile(dir + "/LOCK", fmt::format("pid {}\n", getpid()));
  if (!lock.ok()) {
    if (lock.status().code() == base::Code::kUnavailable) {
      return Status::Unavailable(
          fmt::format("log directory {} is in use ({}): one process owns a log directory at a "
                      "time; stop that process, or give this one another data directory",
                      dir, lock.status().message()));
    }
    return lock.status();
  }
  log->lock_ = std::move(lock).value();
  TXP_RETURN_IF_ERROR(log->Load());
  log->background_ = std::thread([l = log.get()] { l->Background(); });
  return log;
}

Log::~Log() {
  stop_.Request();
  if (background_.joinable()) background_.join();
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [name, topic] : topics_) {
    for (auto& p : topic->partitions_) p->Close();
  }
}

Result<Topic*> Log::OpenTopic(const std::string& name, int partitions) {
  auto topic = std::make_unique<Topic>();
  topic->name_ = name;
  for (int i = 0; i < partitions; ++i) {
    RecoveryReport report;
    std::string pdir = fmt::format("{}/{}", TopicDir(dir_, name), i);
    auto p = Partition::Open(env_, pdir, options_.partition, &report);
    if (!p.ok()) return p.status();
    for (const auto& m : report.messages) {
      if (options_.read_only) {
        TXP_LOG_WARN("log: {} (read-only: not repaired)", m);
      } else {
        TXP_LOG_WARN("log: recovered {}", m);
      }
    }
    stats_.recovered_truncated_bytes += report.truncated_bytes;
    topic->partitions_.push_back(std::move(p).value());
  }
  Topic* t = topic.get();
  topics_[name] = std::move(topic);
  return t;
}

Status Log::Load() {
  std::lock_guard<std::mutex> l(mu_);
  auto names = env_->ListDir(dir_ + "/topics");
  if (!names.ok()) return names.status();
  for (const auto& name : *names) {
    std::string meta_path = TopicDir(dir_, name) + "/topic.meta";
    auto meta = io::ReadFileToString(env_, meta_path);
    if (!meta.ok()) {
      TXP_LOG_WARN("log: skipping {}: no readable topic.meta ({})", TopicDir(dir_, name),
                   meta.status().message());
      continue;
    }
    uint64_t n = 0;
    std::string_view text = *meta;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (!text.starts_with("partitions = ") || !ParseUint(text.substr(13), &n) || n == 0 ||
        n > 1024) {
      return Status::Corruption(fmt::format("{}: expected 'partitions = N', got '{}'", meta_path,
                                            text));
    }
    auto t = OpenTopic(name, static_cast<int>(n));
    if (!t.ok()) return t.status();
  }
  auto groups = env_->ListDir(dir_ + "/groups");
  if (!groups.ok()) return groups.status();
  for (const auto& file : *groups) {
    if (!file.ends_with(kOffsetsSuffix)) continue;
    std::string group = file.substr(0, file.size() - kOffsetsSuffix.size());
    std::string path = dir_ + "/groups/" + file;
    auto text = io::ReadFileToString(env_, path);
    if (!text.ok()) return text.status();
    auto& offsets = groups_[group];
    std::string_view rest = *text;
    int line_no = 0;
    while (!rest.empty()) {
      ++line_no;
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      if (line.empty()) continue;
      size_t t1 = line.find('\t'), t2 = line.rfind('\t');
      uint64_t partition = 0, offset = 0;
      if (t1 == std::string_view::npos || t1 == t2 ||
          !ParseUint(line.substr(t1 + 1, t2 - t1 - 1), &partition) ||
          !ParseUint(line.substr(t2 + 1), &offset)) {
        return Status::Corruption(fmt::format("{}:{}: expected 'topic<TAB>partition<TAB>offset'",
                                              path, line_no));
      }
      offsets[{std::string(line.substr(0, t1)), static_cast<int>(partition)}] = offset;
    }
  }
  return Status::OK();
}

Result<Topic*> Log::CreateTopic(const std::string& name, int partitions) {
  TXP_RETURN_IF_ERROR(ValidateName("topic", name));
  if (options_.read_only) return Status::NotSupported("log opened read-only");
  if (partitions < 1 || partitions > 1024) {
    return Status::InvalidArgument(
        fmt::format("topic '{}': partitions must be 1..1024, got {}", name, partitions));
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second.get();
  std::string tdir = TopicDir(dir_, name);
  TXP_RETURN_IF_ERROR(env_->CreateDirs(tdir));
  TXP_RETURN_IF_ERROR(
      io::WriteFileAtomically(env_, tdir + "/topic.meta", fmt::format("partitions = {}\n",
                                                                        partitions)));
  TXP_RETURN_IF_ERROR(env_->SyncDir(dir_ + "/topics"));
  return OpenTopic(name, partitions);
}

Topic* Log::FindTopic(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Log::TopicNames() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> names;
  for (const auto& [name, t] : topics_) names.push_back(name);
  return names;
}

Status Log::CommitOffsets(const std::string& group,
                          const std::map<TopicPartition, uint64_t>& offsets) {
  TXP_RETURN_IF_ERROR(ValidateName("group", group));
  if (options_.read_only) return Status::NotSupported("log opened read-only");
  std::lock_guard<std::mutex> l(mu_);
  auto merged = groups_[group];
  for (const auto& [tp, off] : offsets) merged[tp] = off;
  std::string text;
  for (const auto& [tp, off] : merged) {
    text += fmt::format("{}\t{}\t{}\n", tp.topic, tp.partition, off);
  }
  TXP_RETURN_IF_ERROR(io::WriteFileAtomically(
      env_, fmt::format("{}/groups/{}{}", dir_, group, kOffsetsSuffix), text));
  groups_[group] = std::move(merged);
  return Status::OK();
}

std::optional<uint64_t> Log::CommittedOffset(const std::string& group,
                                             const TopicPartition& tp) const {
  std::lock_guard<std::mutex> l(mu_);
  auto g = groups_.find(group);
  if (g == groups_.end()) return std::nullopt;
  auto it = g->second.find(tp);
  if (it == g->second.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Log::GroupNames() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> names;
  for (const auto& [name, o] : groups_) names.push_back(name);
  return names;
}

std::map<TopicPartition, uint64_t> Log::GroupOffsets(const std::string& group) const {
  std::lock_guard<std::mutex> l(mu_);
  auto g = groups_.find(group);
  return g == groups_.end() ? std::map<TopicPartition, uint64_t>{} : g->second;
}

Status Log::EnforceRetention(int64_t now_ms) {
  std::vector<std::pair<TopicPartition, Partition*>> parts;
  std::map<TopicPartition, uint64_t> safe;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [name, t] : topics_) {
      for (int i = 0; i < t->partitions(); ++i) {
        TopicPartition tp{name, i};
        parts.emplace_back(tp, t->partition(i));
        uint64_t s = UINT64_MAX;
        for (const auto& [g, offsets] : groups_) {
          auto it = offsets.find(tp);
          if (it != offsets.end()) s = std::min(s, it->second);
        }
        safe[tp] = s;
      }
    }
  }
  int64_t min_ts = options_.retention_ms > 0 ? now_ms - options_.retention_ms : INT64_MIN;
  for (const auto& [tp, p] : parts) {
    auto r = p->Retain(min_ts, safe[tp], options_.retention_bytes);
    if (!r.ok()) return r.status();
    if (r->forced_segments > 0) {
      TXP_LOG_WARN("log: {}/{}: deleted {} segments over the {} byte cap that a consumer group "
                   "had not read yet",
                   tp.topic, tp.partition, r->forced_segments, options_.retention_bytes);
    }
    std::lock_guard<std::mutex> l(mu_);
    stats_.retention_segments += static_cast<uint64_t>(r->segments);
    stats_.retention_forced_segments += static_cast<uint64_t>(r->forced_segments);
  }
  return Status::OK();
}

LogStats Log::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

void Log::Background() {
  base::Clock* clock = base::Clock::Real();
  const bool interval = options_.partition.flush == FlushPolicy::kInterval;
  const int64_t tick_us = interval ? std::max<int64_t>(options_.flush_interval_ms, 1) * 1000
                                   : 1'000'000;
  int64_t next_retention = clock->MonotonicMicros() + 10'000'000;
  while (clock->SleepUntil(clock->MonotonicMicros() + tick_us, stop_)) {
    if (interval) {
      std::vector<Partition*> parts;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& [n, t] : topics_) {
          for (int i = 0; i < t->partitions(); ++i) parts.push_back(t->partition(i));
        }
      }
      for (Partition* p : parts) {
        Status s = p->Sync();
        if (!s.ok()) TXP_LOG_ERROR("log: periodic sync: {}", s.ToString());
      }
    }
    if (clock->MonotonicMicros() >= next_retention) {
      Status s = EnforceRetention(clock->NowMicros() / 1000);
      if (!s.ok()) TXP_LOG_ERROR("log: retention: {}", s.ToString());
      next_retention = clock->MonotonicMicros() + 60'000'000;
    }
  }
}

}  // namespace txpipe::log
