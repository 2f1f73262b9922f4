// Device binding: chooses the torch::Device of this rank from the node-local rank
// (cuda:local_rank % visible GPUs), before any CUDA tensor exists.
#pragma once

#include <string>

#include <torch/torch.h>

namespace disa {

class MpiContext;

// `requested`: "auto" (CUDA when available, else CPU), "cpu", "cuda" (error if none).
torch::Device select_device(const MpiContext& mpi, const std::string& requested);

}  // namespace disa
