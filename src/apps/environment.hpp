// The build and run environment as (name, value) rows: LibTorch and its CUDA, CUDA/NCCL
// compiled in, MPI library, HDF5 and whether it is parallel, world size, node-local
// ranks, intra-op threads, BLAS in use. Printed by `disa env` and at every command start.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace disa::dist {
class MpiContext;
}  // namespace disa::dist

namespace disa::apps {

std::vector<std::pair<std::string, std::string>> environment_rows(const dist::MpiContext& mpi);

// The BLAS library LibTorch's process has loaded ("OpenBLAS 0.3.21 (pthread) at ...").
std::string blas_in_use();

}  // namespace disa::apps
