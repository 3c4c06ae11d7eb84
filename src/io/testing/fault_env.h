// FaultEnv: an Env for crash tests. It passes operations to a real Env and
//  - remembers, per file written through it, how many bytes were synced;
//    Crash() then cuts every such file back to what a power loss could leave
//    (its synced bytes, plus optionally a random part of the rest);
//  - can fail writes after a byte budget (the failing write is partial, as a
//    process killed mid-write leaves it), and fail syncs.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <random>

#include "io/env.h"

namespace txpipe::io {

class FaultEnv : public Env {
 public:
  explicit FaultEnv(Env* base = Env::Default()) : base_(base) {}

  // Writes fail once `bytes` more bytes have been appended in total; the write
  // that crosses the budget keeps only the bytes up to it. -1 = no limit.
  void FailWritesAfter(int64_t bytes);
  void FailSyncs(bool fail);
  // Called at the start of every file sync (outside the Env's lock), e.g. to
  // hold a sync until a test has other threads where it wants them.
  void SetSyncHook(std::function<void()> hook);
  // Simulates a power loss: every tracked file loses what was not synced.
  // With `torn`, a random prefix of the unsynced bytes survives instead
  // (seeded by `seed`). Then clears all faults and tracking.
  base::Status Crash(bool torn = false, uint64_t seed = 0);
  // Bytes appended through this Env so far, and successful syncs.
  uint64_t bytes_written() const;
  uint64_t syncs() const;

  // Env
  base::Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                              OpenMode mode) override;
  base::Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return base_->NewRandomAccessFile(path);
  }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  base::Result<uint64_t> FileSize(const std::string& path) override {
    return base_->FileSize(path);
  }
  base::Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  base::Status CreateDirs(const std::string& dir) override { return base_->CreateDirs(dir); }
  base::Status RemoveFile(const std::string& path) override;
  base::Status RemoveDir(const std::string& dir) override { return base_->RemoveDir(dir); }
  base::Status Rename(const std::string& from, const std::string& to) override;
  base::Status RenameNoReplace(const std::string& from, const std::string& to) override;
  base::Status Truncate(const std::string& path, uint64_t size) override;
  base::Status SyncDir(const std::string& dir) override { return base_->SyncDir(dir); }
  base::Result<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                   std::string_view owner) override {
    return base_->LockFile(path, owner);
  }

 private:
  friend class FaultWritableFile;
  // Called by files: how many of `n` bytes may be written now.
  size_t Admit(size_t n, bool* fail);
  bool sync_fails() const;
  void BeforeSync();
  void Synced(const std::string& path, uint64_t size);
  void Track(const std::string& path, uint64_t durable_size);

  Env* base_;
  mutable std::mutex mu_;
  int64_t budget_ = -1;
  bool fail_syncs_ = false;
  std::function<void()> sync_hook_;
  uint64_t written_ = 0;
  uint64_t syncs_ = 0;
  std::map<std::string, uint64_t> synced_;  // path -> durable bytes
};

}  // namespace txpipe::io
