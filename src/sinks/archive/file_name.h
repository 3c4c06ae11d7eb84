// Archive file names. The offsets of a file's events are in its name, as in
// Kafka Connect's HDFS connector, so the archive itself records what it holds
// and a restart resumes after the last complete file (docs/archive.md):
//
//   final:   <prefix>.<topic>+<partition>+<first offset>+<last offset><suffix>
//   in use:  <in_use_prefix><prefix>.<topic>+<partition>+<first offset><suffix><in_use_suffix>
//
// Offsets are 20 zero-padded decimal digits, so names sort by offset. Topic
// names cannot hold '+' (letters, digits, '.', '_', '-'). Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace txpipe::sinks::archive {

struct FileNaming {
  std::string prefix;         // "FlumeData"
  std::string suffix;         // ".json.gz": file_suffix + the codec's extension
  std::string in_use_prefix;  // ""
  std::string in_use_suffix;  // ".tmp"
};

struct FileRange {
  std::string topic;
  int partition = 0;
  uint64_t first = 0;
  uint64_t last = 0;  // in-use names have none: 0
};

std::string FinalFileName(const FileNaming& n, std::string_view topic, int partition,
                          uint64_t first, uint64_t last);
std::string InUseFileName(const FileNaming& n, std::string_view topic, int partition,
                          uint64_t first);

// True (and fills *r) when `name` is a final / in-use file name under `n`.
bool ParseFinalFileName(const FileNaming& n, std::string_view name, FileRange* r);
bool ParseInUseFileName(const FileNaming& n, std::string_view name, FileRange* r);

}  // namespace txpipe::sinks::archive
