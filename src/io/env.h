// Env: every file-system operation txpipe's storage makes, behind one
// interface, so tests can inject faults and simulate crashes (leveldb's Env).
//
// Paths are plain strings. Errors are Status with the path in the message.
// Implementations are thread-safe; file objects are not (one owner each).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace txpipe::io {

// A file written at its end. Closes on destruction (without syncing).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual base::Status Append(std::string_view data) = 0;
  // Makes everything appended so far durable (fdatasync).
  virtual base::Status Sync() = 0;
  virtual base::Status Close() = 0;
  // Bytes in the file, including what this object appended.
  virtual uint64_t size() const = 0;
  virtual const std::string& path() const = 0;
};

// A file read at any offset; safe for concurrent reads.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at `offset` into `scratch`; *result points into
  // scratch and is shorter than n only at the end of the file.
  virtual base::Status Read(uint64_t offset, size_t n, char* scratch,
                            std::string_view* result) const = 0;
};

// A held lock file (see Env::LockFile); released on destruction.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode {
  kCreateNew,  // fail with kAlreadyExists if the file exists
  kTruncate,   // create or empty it
  kAppend,     // create or continue at its end
};

class Env {
 public:
  virtual ~Env() = default;

  virtual base::Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                      OpenMode mode) = 0;
  virtual base::Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  virtual base::Result<uint64_t> FileSize(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..", sorted.
  virtual base::Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual base::Status CreateDirs(const std::string& dir) = 0;
  virtual base::Status RemoveFile(const std::string& path) = 0;
  virtual base::Status RemoveDir(const std::string& dir) = 0;  // must be empty
  // Replaces `to` if it exists (rename(2)).
  virtual base::Status Rename(const std::string& from, const std::string& to) = 0;
  // Fails with kAlreadyExists instead of replacing `to`.
  virtual base::Status RenameNoReplace(const std::string& from, const std::string& to) = 0;
  virtual base::Status Truncate(const std::string& path, uint64_t size) = 0;
  // fsync of a directory: makes creates, renames and removes in it durable.
  virtual base::Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive lock on `path` (created if missing) for this process;
  // kUnavailable when another process holds it. `owner` is written into the
  // file so the next one can say who holds it.
  virtual base::Result<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                           std::string_view owner) = 0;

  // The real file system. Never deleted.
  static Env* Default();
};

// Reads a whole (small) file.
base::Result<std::string> ReadFileToString(Env* env, const std::string& path);
// Writes `data` to `path` so that a crash leaves either the old or the new
// file: write to path.tmp, sync, rename over path, sync the directory.
base::Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data);
// Writes all of `data` to a file descriptor (stdout), retrying short writes.
base::Status WriteAll(int fd, std::string_view data, std::string_view what);
// "a/b/c" -> "a/b"; "c" -> ".".
std::string DirName(const std::string& path);

}  // namespace txpipe::io
