// CRC32C (Castagnoli), as iSCSI, ext4, leveldb and Kafka record batches use it.
// Uses the SSE4.2 crc32 instruction when the CPU has it, else a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace txpipe::base::crc32c {

// CRC32C of data[0, n) continuing from `crc` (the CRC of the bytes before).
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// Stored CRCs are masked (as leveldb does), so that the CRC of data that
// itself contains CRCs does not degenerate.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace txpipe::base::crc32c
