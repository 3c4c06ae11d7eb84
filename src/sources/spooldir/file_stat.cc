#include "sources/spooldir/file_stat.h"

#include <sys/stat.h>

#include <cerrno>

namespace txpipe::sources::spooldir {

base::Result<FileStat> StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return base::Status::NotFound("stat " + path + ": no such file");
    return base::Status::FromErrno("stat " + path, err);
  }
  FileStat f;
  f.dev = static_cast<uint64_t>(st.st_dev);
  f.ino = static_cast<uint64_t>(st.st_ino);
  f.size = static_cast<uint64_t>(st.st_size);
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  f.is_dir = S_ISDIR(st.st_mode);
  f.is_regular = S_ISREG(st.st_mode);
  return f;
}

}  // namespace txpipe::sources::spooldir
