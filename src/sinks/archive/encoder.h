// Encoder: turns the bytes of a file (bodies, one per line) into what is
// written to disk: as they are, one gzip member (RFC 1952, readable by zcat),
// or one zstd frame (readable by zstd -d). Pure: output goes to a string the
// caller writes. Not thread-safe; one per open file.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace txpipe::sinks::archive {

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Encodes `data`, appending output (possibly none yet) to *out.
  virtual base::Status Write(std::string_view data, std::string* out) = 0;
  // Ends the stream (gzip trailer, zstd epilogue), appending to *out. No
  // Write after it.
  virtual base::Status Finish(std::string* out) = 0;
};

// `codec` is "none", "gzip" or "zstd"; level 0 = the codec's default.
base::Result<std::unique_ptr<Encoder>> NewEncoder(const std::string& codec, int level);

}  // namespace txpipe::sinks::archive
