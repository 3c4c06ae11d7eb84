#include "io/file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

namespace txpipe::io {

using base::Result;
using base::Status;

Result<std::unique_ptr<WritableFile>> WritableFile::Create(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return Status::AlreadyExists(fmt::format("{} already exists", path));
    return Status::FromErrno(fmt::format("create {}", path), errno);
  }
  return std::unique_ptr<WritableFile>(new WritableFile(path, fd));
}

WritableFile::~WritableFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status WritableFile::Append(std::string_view data) {
  TXP_RETURN_IF_ERROR(WriteAll(fd_, data, path_));
  size_ += data.size();
  return Status::OK();
}

Status WritableFile::Sync() {
  if (::fdatasync(fd_) != 0) return Status::FromErrno(fmt::format("fdatasync {}", path_), errno);
  return Status::OK();
}

Status WritableFile::Close() {
  int fd = fd_;
  fd_ = -1;
  if (fd >= 0 && ::close(fd) != 0) return Status::FromErrno(fmt::format("close {}", path_), errno);
  return Status::OK();
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

Status RenameNoReplace(const std::string& from, const std::string& to) {
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
  if (::unlink(from.c_str()) != 0) return Status::FromErrno(fmt::format("unlink {}", from), errno);
  return Status::OK();
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(fmt::format("open dir {}", dir), errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(fmt::format("fsync dir {}", dir), err);
  return Status::OK();
}

Status CreateDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError(fmt::format("create directory {}: {}", dir, ec.message()));
  return Status::OK();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace txpipe::io
