#include "io/testing/fault_env.h"

#include <fmt/format.h>

namespace txpipe::io {

using base::Result;
using base::Status;

class FaultWritableFile : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}
  Status Append(std::string_view data) override {
    bool fail = false;
    size_t n = env_->Admit(data.size(), &fail);
    if (n > 0) TXP_RETURN_IF_ERROR(base_->Append(data.substr(0, n)));
    if (fail) return Status::IOError(fmt::format("write {}: injected fault", path()));
    return Status::OK();
  }
  Status Sync() override {
    env_->BeforeSync();
    if (env_->sync_fails()) return Status::IOError(fmt::format("fdatasync {}: injected", path()));
    TXP_RETURN_IF_ERROR(base_->Sync());
    env_->Synced(path(), base_->size());
    return Status::OK();
  }
  Status Close() override { return base_->Close(); }
  uint64_t size() const override { return base_->size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultEnv* env_;
  std::unique_ptr<WritableFile> base_;
};

void FaultEnv::FailWritesAfter(int64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  budget_ = bytes;
}

void FaultEnv::SetSyncHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> l(mu_);
  sync_hook_ = std::move(hook);
}

void FaultEnv::BeforeSync() {
  std::function<void()> hook;
  {
    std::lock_guard<std::mutex> l(mu_);
    hook = sync_hook_;
  }
  if (hook) hook();
}

void FaultEnv::FailSyncs(bool fail) {
  std::lock_guard<std::mutex> l(mu_);
  fail_syncs_ = fail;
}

uint64_t FaultEnv::syncs() const {
  std::lock_guard<std::mutex> l(mu_);
  return syncs_;
}

uint64_t FaultEnv::bytes_written() const {
  std::lock_guard<std::mutex> l(mu_);
  return written_;
}

size_t FaultEnv::Admit(size_t n, bool* fail) {
  std::lock_guard<std::mutex> l(mu_);
  *fail = false;
  if (budget_ >= 0 && static_cast<int64_t>(n) > budget_) {
    n = static_cast<size_t>(budget_);
    budget_ = 0;
    *fail = true;
  } else if (budget_ >= 0) {
    budget_ -= static_cast<int64_t>(n);
  }
  written_ += n;
  return n;
}

bool FaultEnv::sync_fails() const {
  std::lock_guard<std::mutex> l(mu_);
  return fail_syncs_;
}

void FaultEnv::Synced(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  synced_[path] = size;
  ++syncs_;
}

void FaultEnv::Track(const std::string& path, uint64_t durable_size) {
  std::lock_guard<std::mutex> l(mu_);
  if (!synced_.count(path)) synced_[path] = durable_size;
}

Result<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(const std::string& path,
                                                                OpenMode mode) {
  // What is in the file now counts as durable, unless this Env wrote it.
  uint64_t existing = 0;
  if (mode == OpenMode::kAppend && base_->FileExists(path)) {
    auto size = base_->FileSize(path);
    if (size.ok()) existing = *size;
  }
  auto f = base_->NewWritableFile(path, mode);
  if (!f.ok()) return f.status();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (mode != OpenMode::kAppend) synced_[path] = 0;
  }
  Track(path, existing);
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, std::move(f).value()));
}

Status FaultEnv::RemoveFile(const std::string& path) {
  TXP_RETURN_IF_ERROR(base_->RemoveFile(path));
  std::lock_guard<std::mutex> l(mu_);
  synced_.erase(path);
  return Status::OK();
}

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  TXP_RETURN_IF_ERROR(base_->Rename(from, to));
  std::lock_guard<std::mutex> l(mu_);
  auto it = synced_.find(from);
  if (it != synced_.end()) {
    synced_[to] = it->second;
    synced_.erase(it);
  } else {
    synced_.erase(to);
  }
  return Status::OK();
}

Status FaultEnv::RenameNoReplace(const std::string& from, const std::string& to) {
  TXP_RETURN_IF_ERROR(base_->RenameNoReplace(from, to));
  std::lock_guard<std::mutex> l(mu_);
  auto it = synced_.find(from);
  if (it != synced_.end()) {
    synced_[to] = it->second;
    synced_.erase(it);
  }
  return Status::OK();
}

Status FaultEnv::Truncate(const std::string& path, uint64_t size) {
  TXP_RETURN_IF_ERROR(base_->Truncate(path, size));
  std::lock_guard<std::mutex> l(mu_);
  auto it = synced_.find(path);
  if (it != synced_.end() && it->second > size) it->second = size;
  return Status::OK();
}

Status FaultEnv::Crash(bool torn, uint64_t seed) {
  std::map<std::string, uint64_t> files;
  {
    std::lock_guard<std::mutex> l(mu_);
    files.swap(synced_);
    budget_ = -1;
    fail_syncs_ = false;
  }
  std::mt19937_64 rng(seed);
  for (const auto& [path, durable] : files) {
    if (!base_->FileExists(path)) continue;
    auto size = base_->FileSize(path);
    if (!size.ok()) return size.status();
    if (*size <= durable) continue;
    uint64_t keep = durable;
    if (torn) keep += rng() % (*size - durable + 1);
    TXP_RETURN_IF_ERROR(base_->Truncate(path, keep));
  }
  return Status::OK();
}

}  // namespace txpipe::io
