// GPU selection by node-local rank.
#include "disa/dist/device.hpp"

#include <dlfcn.h>

#include <thread>

#include "disa/core/error.hpp"
#include "disa/dist/mpi_context.hpp"

namespace disa::dist {

torch::Device select_device(const MpiContext& mpi, const std::string& requested) {
  if (requested == "cpu") return torch::Device(torch::kCPU);
  if (requested != "auto" && requested != "cuda")
    DISA_THROW(ConfigError, "option --device: unknown device '{}' (auto, cpu, cuda)", requested);
  bool available = torch::cuda::is_available();
  if (!available) {
    if (requested == "cuda")
      DISA_THROW(ConfigError,
                 "option --device=cuda: no CUDA device is visible (LibTorch {} CUDA; check "
                 "CUDA_VISIBLE_DEVICES and that the job requested GPUs)",
                 torch::cuda::is_available() ? "has" : "has no usable");
    return torch::Device(torch::kCPU);
  }
  int count = int(torch::cuda::device_count());
  // With per-rank GPU binding (Slurm --gpus-per-task) each rank sees one device.
  int index = mpi.local_rank() % count;
  if (mpi.local_size() > count && mpi.is_root())
    fmt::print(stderr, "warning: {} ranks on node {} share {} GPU(s)\n", mpi.local_size(), mpi.node_name(), count);
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

int configure_threads(const MpiContext& mpi, int64_t requested) {
  DISA_CHECK(requested >= 0, ConfigError, "threads must be >= 0 (0: automatic), got {}", requested);
  int n = int(requested);
  if (n == 0) n = std::max(1, int(std::thread::hardware_concurrency()) / std::max(1, mpi.local_size()));
  at::set_num_threads(n);
  // OpenBLAS keeps its own thread pool; its count changes GEMM results too.
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(n);
  return n;
}

}  // namespace disa::dist
