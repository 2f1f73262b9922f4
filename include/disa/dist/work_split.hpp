// Splitting work over ranks: balanced contiguous blocks, so that rank r's share is a
// contiguous range and shares concatenate in rank order (which is also the row order of
// collective HDF5 slab writes).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

namespace disa::dist {

// The [begin, end) of rank `rank`'s share of `count` items split into `size` balanced
// contiguous blocks (the first count % size blocks are one longer).
inline std::pair<int64_t, int64_t> balanced_block(int64_t count, int rank, int size) {
  const int64_t base = count / size, extra = count % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace disa::dist
