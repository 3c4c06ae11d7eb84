// A small, fast, seedable random number generator (SplitMix64) for generators.
#pragma once

#include <cstdint>

namespace txpipe::sources::generator {

// Bijective 64-bit mixer (the SplitMix64 finalizer).
constexpr uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(Mix64(seed ^ 0x5851f42d4c957f2dULL)) {}
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  // Uniform in [0, n) (Lemire's multiply-shift; bias below 2^-40 for n < 2^24).
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [lo, hi], like Python's randint.
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint32_t>(hi - lo + 1)));
  }

 private:
  uint64_t state_;
};

}  // namespace txpipe::sources::generator
