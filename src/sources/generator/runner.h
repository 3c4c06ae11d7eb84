// Runs a generator at a rate into a spool folder (seed-named files that
// appear complete or not at all) or onto a file descriptor (stdout).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "sources/generator/generator.h"

namespace txpipe::sources::generator {

struct RunOptions {
  std::string kind = "finance";  // "finance" | "cars"
  uint64_t count = 0;            // events to generate; 0 = until stopped
  double rate = 1;               // events per second; 0 = as fast as possible
  // Event time of the first event (µs since the epoch). Unset: event times
  // are the wall clock at generation (as the seed), or, at rate 0, now + 1 ms
  // per event. Set: event i is at start + i/rate (1 ms per event at rate 0).
  std::optional<int64_t> start_us;
  uint64_t seed = 0;
  IdStyle ids = IdStyle::kUnique;

  // Exactly one of out_dir / out_fd.
  std::string out_dir;       // spool folder: <prefix>_YYYYmmdd_HHMMSS.json files
  int out_fd = -1;           // or a stream of lines (stdout)
  int64_t file_seconds = 1;  // event-time span of one file (the seed: 1)
  bool fsync = true;         // fdatasync each file before it is renamed into view
};

struct RunStats {
  uint64_t events = 0;
  uint64_t bytes = 0;
  uint64_t files = 0;
  int64_t elapsed_us = 0;
};

// Generates until `count` events or until `stop` is raised; a file being
// written is completed first, so every file in out_dir is whole. `progress`,
// when set, is called about every 500 ms (wall clock of `clock`).
base::Result<RunStats> RunGenerator(const RunOptions& options, base::Clock* clock,
                                    const base::StopFlag& stop,
                                    const std::function<void(const RunStats&)>& progress = {});

}  // namespace txpipe::sources::generator
