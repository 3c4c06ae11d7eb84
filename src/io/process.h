// This process's resource use, from /proc (Linux), for /metrics.
#pragma once

#include <cstdint>

namespace txpipe::io {

struct ProcessStats {
  uint64_t resident_bytes = 0;  // RSS
  uint64_t virtual_bytes = 0;
  double cpu_seconds = 0;       // user + system, since the process started
  int64_t threads = 0;
  int64_t open_fds = 0;
  int64_t start_time_seconds = 0;  // since the epoch
};

// Zeros where /proc cannot be read.
ProcessStats ReadProcessStats();

}  // namespace txpipe::io
