#include "io/process.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace txpipe::io {

ProcessStats ReadProcessStats() {
  ProcessStats st;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    // The command name (field 2) may hold spaces: fields resume after ')'.
    size_t close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream in(line.substr(close + 2));
      std::string f[64];
      int n = 0;
      while (n < 64 && in >> f[n]) ++n;
      // Fields from 3 (state) on: f[0] = field 3. utime 14, stime 15,
      // num_threads 20, starttime 22, vsize 23, rss 24.
      if (n > 21) {
        st.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
        st.threads = std::stoll(f[17]);
        st.virtual_bytes = std::stoull(f[20]);
        st.resident_bytes = std::stoull(f[21]) * page;
        // starttime is in ticks since boot.
        std::ifstream up("/proc/uptime");
        double uptime = 0;
        if (up >> uptime) {
          double started_ago = uptime - std::stod(f[19]) / ticks;
          st.start_time_seconds = static_cast<int64_t>(::time(nullptr) - started_ago);
        }
      }
    }
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++st.open_fds;
    }
    ::closedir(d);
    --st.open_fds;  // the directory's own descriptor
  }
  return st;
}

}  // namespace txpipe::io
