// Counter-based randomness shared by every stage: a 64-bit mixing function (the
// splitmix64 finaliser) to derive independent streams from (seed, ids...), and an
// unbiased index from a 64-bit hash. Platform-independent, unlike <random>'s
// distributions, so results do not depend on the standard library.
#pragma once

#include <cstddef>
#include <cstdint>

namespace disa::core {

inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// A uniform index in [0, n) from a 64-bit hash (multiply-shift: no modulo bias).
inline size_t uniform_index(uint64_t hash, size_t n) {
  return size_t((static_cast<unsigned __int128>(hash) * n) >> 64);
}

}  // namespace disa::core
