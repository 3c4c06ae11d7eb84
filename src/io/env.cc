#include "io/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

namespace txpipe::io {

using base::Result;
using base::Status;

namespace {

Status Errno(std::string_view what, const std::string& path, int err) {
  return Status::FromErrno(fmt::format("{} {}", what, path), err);
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(std::string_view data) override {
    TXP_RETURN_IF_ERROR(WriteAll(fd_, data, path_));
    size_ += data.size();
    return Status::OK();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("fdatasync", path_, errno);
    return Status::OK();
  }
  Status Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return Errno("close", path_, errno);
    return Status::OK();
  }
  uint64_t size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Status Read(uint64_t offset, size_t n, char* scratch, std::string_view* result) const override {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, scratch + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("read", path_, errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    *result = std::string_view(scratch, got);
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

class PosixEnv : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        OpenMode mode) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    if (mode == OpenMode::kCreateNew) flags |= O_EXCL;
    if (mode == OpenMode::kTruncate) flags |= O_TRUNC;
    if (mode == OpenMode::kAppend) flags |= O_APPEND;
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) {
      if (errno == EEXIST) return Status::AlreadyExists(fmt::format("{} already exists", path));
      return Errno("create", path, errno);
    }
    uint64_t size = 0;
    if (mode == OpenMode::kAppend) {
      struct stat st;
      if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        return Errno("stat", path, err);
      }
      size = static_cast<uint64_t>(st.st_size);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, size));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound(fmt::format("{}: no such file", path));
      return Errno("open", path, errno);
    }
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Errno("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      if (errno == ENOENT) return Status::NotFound(fmt::format("{}: no such directory", dir));
      return Errno("open dir", dir, errno);
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status CreateDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError(fmt::format("create directory {}: {}", dir, ec.message()));
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Errno("remove", path, errno);
    return Status::OK();
  }

  Status RemoveDir(const std::string& dir) override {
    if (::rmdir(dir.c_str()) != 0) return Errno("remove directory", dir, errno);
    return Status::OK();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status::FromErrno(fmt::format("rename {} -> {}", from, to), errno);
    }
    return Status::OK();
  }

  Status RenameNoReplace(const std::string& from, const std::string& to) override {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
      return Status::OK();
    }
    if (errno == EEXIST) return Status::AlreadyExists(fmt::format("{} already exists", to));
    if (errno != EINVAL && errno != ENOSYS) {
      return Status::FromErrno(fmt::format("rename {} -> {}", from, to), errno);
    }
    // File systems without RENAME_NOREPLACE: link() refuses to replace too.
    if (::link(from.c_str(), to.c_str()) != 0) {
      if (errno == EEXIST) return Status::AlreadyExists(fmt::format("{} already exists", to));
      return Status::FromErrno(fmt::format("link {} -> {}", from, to), errno);
    }
    return RemoveFile(from);
  }

  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return Errno("truncate", path, errno);
    }
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno("open dir", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Errno("fsync dir", dir, err);
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                             std::string_view owner) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("open lock file", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[256] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      if (err == EWOULDBLOCK) {
        std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "another process";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) {
          holder.pop_back();
        }
        return Status::Unavailable(fmt::format("{} is locked by {}", path, holder));
      }
      return Errno("lock", path, err);
    }
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, owner.data(), owner.size(), 0) < 0) {
      int err = errno;
      ::close(fd);
      return Errno("write lock file", path, err);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv;
  return env;
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  std::string out;
  constexpr size_t kChunk = 1 << 16;
  std::string scratch(kChunk, '\0');
  for (uint64_t off = 0;;) {
    std::string_view got;
    TXP_RETURN_IF_ERROR((*file)->Read(off, kChunk, scratch.data(), &got));
    out.append(got);
    off += got.size();
    if (got.size() < kChunk) break;
  }
  return out;
}

Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  auto f = env->NewWritableFile(tmp, OpenMode::kTruncate);
  if (!f.ok()) return f.status();
  TXP_RETURN_IF_ERROR((*f)->Append(data));
  TXP_RETURN_IF_ERROR((*f)->Sync());
  TXP_RETURN_IF_ERROR((*f)->Close());
  TXP_RETURN_IF_ERROR(env->Rename(tmp, path));
  return env->SyncDir(DirName(path));
}

Status WriteAll(int fd, std::string_view data, std::string_view what) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(fmt::format("write {}", what), errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Status::OK();
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace txpipe::io
