#include <cstdint>
#include <cstring>

#include "runtime/broker.h"

namespace txpipe::runtime {

namespace {
// Kafka's Utils.murmur2 (seed 0x9747b28c), byte for byte.
int32_t Murmur2(std::string_view data) {
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const size_t length = data.size();
  uint32_t h = 0x9747b28c ^ static_cast<uint32_t>(length);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t i = 0;
  for (; i + 4 <= length; i += 4) {
    uint32_t k = static_cast<uint32_t>(p[i]) | static_cast<uint32_t>(p[i + 1]) << 8 |
                 static_cast<uint32_t>(p[i + 2]) << 16 | static_cast<uint32_t>(p[i + 3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3: h ^= static_cast<uint32_t>(p[i + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint32_t>(p[i + 1]) << 8; [[fallthrough]];
    case 1: h ^= p[i]; h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}
}  // namespace

int PartitionForKey(std::string_view key, int partitions) {
  return static_cast<int>((static_cast<uint32_t>(Murmur2(key)) & 0x7fffffff) %
                          static_cast<uint32_t>(partitions));
}

}  // namespace txpipe::runtime
