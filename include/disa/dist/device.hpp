// Device binding: chooses the torch::Device of this rank from the node-local rank
// (cuda:local_rank % visible GPUs), before any CUDA tensor exists.
#pragma once

#include <string>

#include <torch/torch.h>

namespace disa::dist {

class MpiContext;

// `requested`: "auto" (CUDA when available, else CPU), "cpu", "cuda" (error if none).
torch::Device select_device(const MpiContext& mpi, const std::string& requested);

// Sets the CPU compute threads of this rank (LibTorch intra-op and OpenBLAS's own pool)
// to `requested`, or with 0 to the hardware threads divided by the node-local ranks.
// Float results depend on the thread count (reduction splits), so runs that must agree
// bitwise (1 rank vs N ranks) fix it explicitly. Returns the count in use.
int configure_threads(const MpiContext& mpi, int64_t requested);

}  // namespace disa::dist
