// Where a stage computes: the <command>.device and <command>.threads options every stage
// has, declared once, and putting them into effect on a rank.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "disa/core/option_table.hpp"

namespace disa::dist {
class MpiContext;
}  // namespace disa::dist

namespace disa::stage {

struct ComputeSettings {
  std::string device = "auto";  // auto, cpu or cuda
  int64_t threads = 0;          // CPU threads per rank; 0: hardware threads / ranks per node
};

// "<command>.device" and "<command>.threads".
core::OptionTable<ComputeSettings> compute_option_table(const std::string& command);

// Selects this rank's device (select_device) and sets its CPU threads
// (configure_threads); returns the device.
torch::Device setup_compute(dist::MpiContext& mpi, const ComputeSettings& compute);

}  // namespace disa::stage
