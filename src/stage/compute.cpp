// The compute options of a stage (include/disa/stage/compute.hpp).
#include "disa/stage/compute.hpp"

#include "disa/core/log.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"

namespace disa::stage {

core::OptionTable<ComputeSettings> compute_option_table(const std::string& command) {
  core::OptionTable<ComputeSettings> t;
  t.text(command + ".device", DISA_FIELD(device), "auto, cpu or cuda (rank r uses cuda:local_rank)");
  t.integer(command + ".threads", DISA_FIELD(threads),
            "CPU threads per rank (0: hardware threads / ranks per node); fix it for results that are bitwise "
            "identical across rank counts",
            core::at_least<int64_t>(0, "0: hardware threads / ranks per node"));
  return t;
}

torch::Device setup_compute(dist::MpiContext& mpi, const ComputeSettings& compute) {
  const torch::Device device = dist::select_device(mpi, compute.device);
  const int threads = dist::configure_threads(mpi, compute.threads);
  core::log::debug("compute threads per rank: {}", threads);
  return device;
}

}  // namespace disa::stage
