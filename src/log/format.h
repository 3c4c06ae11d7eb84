// The byte format of the embedded log: record batches in segment files.
// docs/log-format.md describes the same bytes for people; keep both in step.
//
// A batch (all integers little-endian):
//   0  u64 base_offset     offset of the first record; not covered by the CRC,
//                          so a producer can build the batch before its offset is known
//   8  u32 length          bytes after this field (kBatchHeaderSize - 12 + payload)
//  12  u32 crc             masked CRC32C of bytes [16, 12 + length)
//  16  u8  magic           kMagic (format version)
//  17  u8  attributes      bits 0-2: codec (0 none, 1 zstd); others 0
//  18  u16 reserved        0
//  20  u32 record_count    >= 1
//  24  i64 first_timestamp ms since the epoch, of the first record
//  32  i64 max_timestamp   ms, the largest of the batch
//  40  u32 records_size    size of the records section before compression
//  44  payload             the records section, compressed with the codec
// A record in the records section:
//   varint size of the rest of the record
//   varint zigzag(timestamp - first_timestamp)
//   varint key size, key bytes
//   varint header count, then per header: varint key size, key, varint value size, value
//   varint body size, body bytes
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace txpipe::log {

inline constexpr uint8_t kMagic = 1;
inline constexpr size_t kBatchHeaderSize = 44;
inline constexpr size_t kLengthFieldEnd = 12;      // bytes before what `length` counts
inline constexpr uint32_t kMaxBatchBytes = 64u << 20;  // sanity bound on `length`

enum class Codec : uint8_t { kNone = 0, kZstd = 1 };

struct HeaderView {
  std::string_view key;
  std::string_view value;
};

// One record. Views point into the caller's memory (producing) or into the
// decoded batch (consuming).
struct RecordView {
  int64_t timestamp_ms = 0;
  std::string_view key;
  std::span<const HeaderView> headers;
  std::string_view body;
};

struct BatchHeader {
  uint64_t base_offset = 0;
  uint32_t length = 0;
  uint32_t masked_crc = 0;
  uint8_t magic = 0;
  uint8_t attributes = 0;
  uint32_t record_count = 0;
  int64_t first_timestamp_ms = 0;
  int64_t max_timestamp_ms = 0;
  uint32_t records_size = 0;

  size_t total_size() const { return kLengthFieldEnd + length; }
  uint64_t last_offset() const { return base_offset + record_count - 1; }
  uint64_t next_offset() const { return base_offset + record_count; }
  Codec codec() const { return static_cast<Codec>(attributes & 7); }
};

// Builds one batch from records. Reusable: Reset() keeps the buffers.
// Not thread-safe.
class BatchBuilder {
 public:
  explicit BatchBuilder(Codec codec = Codec::kNone, int zstd_level = 1);
  ~BatchBuilder();
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;

  void Add(const RecordView& record);
  uint32_t count() const { return count_; }
  // Uncompressed bytes added so far.
  size_t records_size() const { return records_.size(); }
  // The finished batch (base offset 0: the log sets it on append). Valid and
  // writable until the next Add/Reset. Fails only over kMaxBatchBytes.
  base::Result<std::span<char>> Finish();
  void Reset();

 private:
  Codec codec_;
  int level_;
  void* cctx_ = nullptr;  // ZSTD_CCtx
  std::string records_;
  std::string batch_;
  uint32_t count_ = 0;
  int64_t first_ts_ = 0;
  int64_t max_ts_ = 0;
};

// Writes `base_offset` into a finished batch.
void SetBaseOffset(char* batch, uint64_t base_offset);

// Parses the fixed header from at least kBatchHeaderSize bytes. Checks magic,
// attributes and sizes, not the CRC. kCorruption names what is wrong.
base::Status DecodeHeader(std::string_view bytes, BatchHeader* header);
// Checks the CRC of a whole batch (header.total_size() bytes).
base::Status VerifyCrc(const BatchHeader& header, std::string_view batch);

// Decodes the records of a verified batch, appending them to `records`.
// Views point into `batch` or into the decoder (the decompressed section and
// the headers), and stay valid until the next Decode. Reuse a decoder to
// avoid allocation. Not thread-safe.
class BatchDecoder {
 public:
  BatchDecoder();
  ~BatchDecoder();
  BatchDecoder(const BatchDecoder&) = delete;
  BatchDecoder& operator=(const BatchDecoder&) = delete;

  base::Status Decode(const BatchHeader& header, std::string_view batch,
                      std::vector<RecordView>* records);

 private:
  void* dctx_ = nullptr;  // ZSTD_DCtx
  std::string scratch_;
  std::vector<HeaderView> headers_;
};

}  // namespace txpipe::log
