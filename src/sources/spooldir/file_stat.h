// A private stat(2) helper: io::Env has no call that returns a file's inode,
// device and modification time, which the spooldir source needs to decide
// that a file is settled and to recognise a file across restarts.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace txpipe::sources::spooldir {

struct FileStat {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool is_dir = false;
  bool is_regular = false;

  // Same file, same content as far as stat can tell.
  bool SameAs(const FileStat& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
  }
};

// stat(2) of `path` (following symlinks). kNotFound when it does not exist.
base::Result<FileStat> StatPath(const std::string& path);

}  // namespace txpipe::sources::spooldir
