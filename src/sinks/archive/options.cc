#include "sinks/archive/options.h"

#include <fmt/format.h>

#include "sinks/archive/path_template.h"

namespace txpipe::sinks::archive {

using base::Status;
using O = ArchiveOptions;

const config::OptionTable<ArchiveOptions>& ArchiveOptionTable() {
  static const auto* t =
      &(*new config::OptionTable<ArchiveOptions>("archive"))
           .StringList("topics", &O::topics, "Topics to archive (required)")
           .String("group", &O::group, "Consumer group; \"\" = archive-<component name>")
           .String("path", &O::path,
                   "Bucket directory under the data dir, with escapes (%Y %m %d %H %M %S %{header} "
                   "%{topic} %{partition} ...); must begin with a fixed directory")
           .Bool("round", &O::round, "Round event times down for the path escapes")
           .Integer("round_value", &O::round_value, "Round down to a multiple of this", 1, 86400)
           .Alias("roundValue")
           .Enum("round_unit", &O::round_unit, {"second", "minute", "hour"}, "Unit of round_value")
           .Alias("roundUnit")
           .Bool("use_local_timestamp", &O::use_local_timestamp,
                 "Bucket by the sink's clock, not the event's timestamp header / record time")
           .Alias("useLocalTimeStamp")
           .String("file_prefix", &O::file_prefix, "Start of final file names")
           .Alias("filePrefix")
           .String("file_suffix", &O::file_suffix,
                   "End of final file names, before the codec's .gz / .zst")
           .Alias("fileSuffix")
           .String("in_use_prefix", &O::in_use_prefix, "Prefix of files being written")
           .Alias("inUsePrefix")
           .String("in_use_suffix", &O::in_use_suffix, "Suffix of files being written")
           .Alias("inUseSuffix")
           .DurationMs(
               "roll_interval_s", &O::roll_interval_ms,
               "Roll a file this long after it was opened (bare number: seconds); 0 = never", 1000,
               0)
           .Alias("rollInterval")
           .Bytes("roll_size_bytes", &O::roll_size_bytes,
                  "Roll once this many body bytes (uncompressed) are written; 0 = never")
           .Alias("rollSize")
           .Integer("roll_count", &O::roll_count,
                    "Roll once this many events are written; 0 = never", int64_t{0})
           .Alias("rollCount")
           .DurationMs("idle_timeout_s", &O::idle_timeout_ms,
                       "Roll a file nothing was written to for this long (bare number: seconds); "
                       "0 = never",
                       1000, 0)
           .Alias("idleTimeout")
           .Enum("codec", &O::codec, {"none", "gzip", "zstd"},
                 "File compression (Flume DataStream = none, CompressedStream = gzip)")
           .Alias("codeC")
           .Integer("compression_level", &O::compression_level,
                    "Compression level; 0 = codec default (gzip 6, zstd 3)", -7, 22)
           .Integer("batch_size", &O::batch_size,
                    "Events buffered before they are written to the open file", 1, 1'000'000)
           .Alias("batchSize");
  return *t;
}

Status ValidateArchiveOptions(const ArchiveOptions& o) {
  if (o.topics.empty()) return Status::InvalidArgument("archive: 'topics' is required");
  auto t = PathTemplate::Compile(o.path);
  if (!t.ok()) return Status::InvalidArgument("archive: " + t.status().message());
  if (o.in_use_prefix.empty() && o.in_use_suffix.empty()) {
    return Status::InvalidArgument(
        "archive: in_use_prefix and in_use_suffix are both empty: files being written would look "
        "complete");
  }
  if (o.file_prefix.empty()) return Status::InvalidArgument("archive: file_prefix is empty");
  for (const std::string* s :
       {&o.file_prefix, &o.file_suffix, &o.in_use_prefix, &o.in_use_suffix}) {
    if (s->find('/') != std::string::npos || s->find('%') != std::string::npos ||
        s->find('\0') != std::string::npos) {
      return Status::InvalidArgument(fmt::format(
          "archive: '{}': file name prefixes and suffixes may not hold '/' or '%'", *s));
    }
  }
  if (o.round) {
    int max = o.round_unit == "hour" ? 24 : 60;
    if (o.round_value < 1 || o.round_value > max) {
      return Status::InvalidArgument(
          fmt::format("archive: round_value must be 1..{} for round_unit {}, got {}", max,
                      o.round_unit, o.round_value));
    }
  }
  if (o.codec == "gzip" && (o.compression_level < 0 || o.compression_level > 9)) {
    return Status::InvalidArgument(
        fmt::format("archive: gzip compression_level must be 1..9, got {}", o.compression_level));
  }
  if (o.batch_size < 1) return Status::InvalidArgument("archive: batch_size must be >= 1");
  return Status::OK();
}

std::string CodecExtension(const std::string& codec) {
  if (codec == "gzip") return ".gz";
  if (codec == "zstd") return ".zst";
  return "";
}

}  // namespace txpipe::sinks::archive
