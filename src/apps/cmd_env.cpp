// `disa version` and `disa env`: what this binary is and where it runs.
#include <cstdio>

#include <torch/torch.h>

#include "command.hpp"
#include "disa/build_info.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/mpi_context.hpp"
#include "environment.hpp"

namespace disa::apps {
namespace {

int run_version(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("version", "Print the version of disa and of the libraries it was built with.");
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  if (mpi.is_root())
    std::printf("disa %s (%s, %s, %s)\n", DISA_VERSION_STRING, DISA_GIT_DESCRIBE, DISA_BUILD_TYPE, DISA_CXX_COMPILER);
  return 0;
}

int run_env(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("env",
                        "Print the build and run environment (LibTorch, CUDA/NCCL, MPI, HDF5, ranks, "
                        "threads, BLAS). Under mpirun, rank 0 prints one table for the job.");
  options.add_bool("env.per-rank", false, "also print one line per rank (host, local rank)");
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  // Gather one line per rank so that rank 0 can show where every rank runs.
  auto comm = dist::make_mpi_communicator(mpi.world());
  std::string mine = fmt::format("rank {} on {} (local rank {} of {})", mpi.rank(), mpi.node_name(), mpi.local_rank(),
                                 mpi.local_size());
  auto all = comm->all_gather(mine);
  if (mpi.is_root()) {
    core::Table table("disa env");
    for (const auto& [k, v] : environment_rows(mpi)) table.row(k, v);
    if (config->get_bool("env.per-rank")) {
      table.section("ranks");
      for (size_t r = 0; r < all.size(); ++r) table.row(fmt::format("rank {}", r), all[r]);
    }
    std::fputs(table.render().c_str(), stdout);
  }
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("version", "print the version", run_version);
DISA_REGISTER_COMMAND("env", "print the build and run environment (once per job)", run_env);

}  // namespace disa::apps
