// `disa anchor`: stage 1 of DISA, the offline importance-sampled partition-function
// anchors (src/anchor/).
#include "command.hpp"
#include "disa/anchor/anchor_stage.hpp"

DISA_REGISTER_STAGE("anchor", "stage 1: importance-sampled log Z anchors -> partition file",
                    "Draw N proposal samples per prompt (MPI-sharded), estimate log Z(x) by importance sampling and "
                    "write the partition file (trajectories, anchors, diagnostics).",
                    disa::anchor::add_anchor_options, disa::anchor::run_anchor);
