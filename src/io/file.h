// Files the POSIX way, with errors as Status: the few operations txpipe needs
// to make a file appear complete or not at all (write, fsync, rename, fsync dir).
//
// Issue 3 (the durable log) turns this into an injectable Env for crash tests.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace txpipe::io {

// An append-only file. Not thread-safe. Closes (without syncing) on destruction.
class WritableFile {
 public:
  // Creates `path`; fails with kAlreadyExists if it exists.
  static base::Result<std::unique_ptr<WritableFile>> Create(const std::string& path);
  ~WritableFile();
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;

  base::Status Append(std::string_view data);
  base::Status Sync();  // fdatasync
  base::Status Close();
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  WritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR.
base::Status WriteAll(int fd, std::string_view data, std::string_view what);

// Renames `from` to `to`, failing with kAlreadyExists instead of replacing `to`.
base::Status RenameNoReplace(const std::string& from, const std::string& to);

// fsyncs a directory so that a rename or create in it survives a crash.
base::Status SyncDir(const std::string& dir);

// mkdir -p.
base::Status CreateDirs(const std::string& dir);

bool FileExists(const std::string& path);

}  // namespace txpipe::io
