// ArchiveOptions: the archive sink's configuration (Flume's HDFS sink, on
// local disk). Keys are snake_case; Flume's camelCase spellings (filePrefix,
// rollInterval, ...) are aliases, so a Flume agent's `hdfs.*` keys (without
// the `hdfs.` part) carry over. Defaults suit real use: roll every 30 s or
// 128 MiB, not Flume's 30 s / 1 KiB / 10 events.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/options.h"

namespace txpipe::sinks::archive {

struct ArchiveOptions {
  // Topics to archive. Required.
  std::vector<std::string> topics;
  // Consumer group; "" = "archive-<component name>".
  std::string group;
  // Bucket directory, relative to the data dir (or absolute), with Flume's
  // escape sequences (%Y %m %d %H ... %{header}, plus %{topic} and
  // %{partition}). It must begin with at least one fixed directory (the
  // archive root, here "archive"), which is where the sink looks for its
  // files at start.
  std::string path = "archive/%{topic}/%Y-%m-%d/%H";
  // Round event times down for the escapes (Flume's hdfs.round): to a
  // multiple of round_value round_units. Default off.
  bool round = false;
  int round_value = 1;
  std::string round_unit = "second";  // second | minute | hour
  // Bucket by the sink's clock instead of the event's time. Default false:
  // the event's "timestamp" header (ms since the epoch, or RFC 3339), else
  // its record time.
  bool use_local_timestamp = false;
  // Final file: <file_prefix>.<topic>+<partition>+<first>+<last><file_suffix>.
  std::string file_prefix = "FlumeData";
  // Appended to final file names; the codec's extension (".gz", ".zst") is
  // added after it. Default "".
  std::string file_suffix;
  // An open file is named <in_use_prefix><name><in_use_suffix>; at least one
  // of them must be non-empty so it never looks complete. Defaults "", ".tmp".
  std::string in_use_prefix;
  std::string in_use_suffix = ".tmp";
  // Roll (close and rename) a file this long after it was opened; 0 = never.
  // Default 30 s. A bare number is seconds (Flume's rollInterval).
  int64_t roll_interval_ms = 30'000;
  // Roll once this many body bytes (uncompressed, with the newlines) are in
  // the file; 0 = never. Default 128 MiB.
  uint64_t roll_size_bytes = 128ull << 20;
  // Roll once this many events are in the file; 0 = never. Default 0.
  int64_t roll_count = 0;
  // Roll a file no event was written to for this long; 0 = never. Default 60 s.
  int64_t idle_timeout_ms = 60'000;
  // none | gzip | zstd. Flume's DataStream is none, CompressedStream gzip.
  std::string codec = "none";
  // Compression level; 0 = the codec's default (gzip 6, zstd 3).
  int compression_level = 0;
  // Events buffered in memory before they are written to the open file
  // (Flume's batchSize); 1 MiB of output is written regardless. Default 1000.
  int batch_size = 1000;
};

const config::OptionTable<ArchiveOptions>& ArchiveOptionTable();

// Checks what the table cannot check alone (relations between options, the
// path's escapes). Pure: touches no file.
base::Status ValidateArchiveOptions(const ArchiveOptions& options);

// ".gz" for gzip, ".zst" for zstd, "" for none.
std::string CodecExtension(const std::string& codec);

}  // namespace txpipe::sinks::archive
