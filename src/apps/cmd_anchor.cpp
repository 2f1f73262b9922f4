// `disa anchor`: stage 1 of DISA, the offline importance-sampled partition-function
// anchors (src/anchor/).
#include "command.hpp"
#include "disa/anchor/anchor_stage.hpp"
#include "disa/dist/mpi_context.hpp"

namespace disa::apps {
namespace {

int run_anchor_command(const std::vector<std::string>& args, MpiContext& mpi) {
  Options options("anchor",
                  "Draw N proposal samples per prompt (MPI-sharded), estimate log Z(x) by importance "
                  "sampling and write the partition file (trajectories, anchors, diagnostics).");
  anchor::add_anchor_options(options);
  auto config = parse_command(options, args, mpi);
  if (!config) return 0;
  anchor::run_anchor(*config, mpi);
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("anchor", "stage 1: importance-sampled log Z anchors -> partition file",
                      run_anchor_command);

}  // namespace disa::apps
