// Collects the environment rows shown by `disa env` and the start-up banner.
#include "environment.hpp"

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <torch/torch.h>
#ifdef DISA_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

#include "disa/build_info.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/io/hdf5.hpp"

namespace disa::apps {
namespace {

int collect_blas(struct dl_phdr_info* info, size_t, void* data) {
  auto* found = static_cast<std::vector<std::string>*>(data);
  std::string name = info->dlpi_name ? info->dlpi_name : "";
  auto base = std::filesystem::path(name).filename().string();
  // cuBLAS / NVBLAS are the GPU's BLAS (loaded with a CUDA LibTorch even without a GPU).
  if (base.find("cublas") != std::string::npos || base.find("nvblas") != std::string::npos) return 0;
  if (base.find("blas") != std::string::npos || base.find("mkl_rt") != std::string::npos ||
      base.find("mkl_core") != std::string::npos)
    found->push_back(name);
  return 0;
}

}  // namespace

std::string blas_in_use() {
  std::vector<std::string> libs;
  dl_iterate_phdr(collect_blas, &libs);
  std::string config;
  using GetConfig = char* (*)();
  if (auto* f = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) config = f();
  std::string out;
  for (const auto& l : libs) {
    std::error_code ec;
    auto real = std::filesystem::canonical(l, ec).string();
    std::string shown = ec ? l : real;
    std::string kind = shown.find("openblas") != std::string::npos ? "OpenBLAS"
                       : shown.find("mkl") != std::string::npos    ? "MKL"
                       : shown.find("blis") != std::string::npos   ? "BLIS"
                       : shown.find("atlas") != std::string::npos  ? "ATLAS"
                                                                   : "reference BLAS (slow!)";
    if (!out.empty()) out += "; ";
    out += kind + " (" + shown + ")";
  }
  if (!config.empty()) out += " [" + config + "]";
  if (out.empty()) {
    // No BLAS library loaded on its own: LibTorch's statically linked one (the wheels' MKL).
    const std::string cfg = at::show_config();
    const auto at = cfg.find("BLAS_INFO=");
    const std::string info =
        at == std::string::npos ? "unknown" : cfg.substr(at + 10, cfg.find_first_of(", \n", at + 10) - at - 10);
    out = "linked into LibTorch (BLAS_INFO=" + info + ")";
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> environment_rows(const dist::MpiContext& mpi) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("disa", fmt::format("{} ({}, {})", DISA_VERSION_STRING, DISA_GIT_DESCRIBE, DISA_BUILD_TYPE));
  rows.emplace_back("LibTorch", fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH));
  bool cuda = torch::cuda::is_available();
  rows.emplace_back("LibTorch CUDA", cuda ? fmt::format("available, {} device(s)", torch::cuda::device_count())
                                          : std::string("no GPU visible at run time") +
                                                (at::show_config().find("USE_CUDA=1") != std::string::npos ||
                                                         at::show_config().find("USE_CUDA=ON") != std::string::npos
                                                     ? " (LibTorch built with CUDA)"
                                                     : " (CPU-only LibTorch)"));
#ifdef DISA_WITH_CUDA
  int runtime = 0;
  const std::string cuda_runtime = cudaRuntimeGetVersion(&runtime) == cudaSuccess
                                       ? fmt::format("{}.{}", runtime / 1000, (runtime % 1000) / 10)
                                       : "unknown";
  rows.emplace_back("CUDA + NCCL compiled",
                    fmt::format("yes (CUDA {}.{} headers, runtime {} loaded, {})", CUDART_VERSION / 1000,
                                (CUDART_VERSION % 1000) / 10, cuda_runtime, dist::nccl_version()));
#else
  rows.emplace_back("CUDA + NCCL compiled", "no (configure with -DDISA_WITH_CUDA=ON)");
#endif
  rows.emplace_back("MPI library", dist::MpiContext::library_version());
  rows.emplace_back("HDF5", fmt::format("{} ({})", io::h5::library_version(),
                                        io::h5::library_is_parallel() ? "parallel" : "serial"));
  rows.emplace_back("world size", std::to_string(mpi.size()));
  rows.emplace_back("nodes", std::to_string(mpi.num_nodes()));
  rows.emplace_back("node-local ranks",
                    fmt::format("{} on {} (this rank: local {})", mpi.local_size(), mpi.node_name(), mpi.local_rank()));
  rows.emplace_back("intra-op threads", std::to_string(at::get_num_threads()));
  rows.emplace_back("inter-op threads", std::to_string(at::get_num_interop_threads()));
  rows.emplace_back("hardware threads", std::to_string(std::thread::hardware_concurrency()));
  const char* omp = std::getenv("OMP_NUM_THREADS");
  rows.emplace_back("OMP_NUM_THREADS", omp ? omp : "(unset)");
  rows.emplace_back("BLAS", blas_in_use());
  return rows;
}

}  // namespace disa::apps
