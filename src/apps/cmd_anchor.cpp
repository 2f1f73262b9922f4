// `disa anchor` and `disa anchor fit`: stage 1 of DISA, the offline importance-sampled
// partition-function anchors and the frozen regressor fitted on them (src/anchor/).
#include "command.hpp"
#include "disa/anchor/anchor_stage.hpp"
#include "disa/anchor/fit_stage.hpp"

DISA_REGISTER_STAGE("anchor", "stage 1: importance-sampled log Z anchors -> partition file",
                    "Draw N proposal samples per prompt (MPI-sharded), estimate log Z(x) by importance sampling and "
                    "write the partition file (trajectories, anchors, diagnostics).",
                    disa::anchor::add_anchor_options, disa::anchor::run_anchor);
DISA_REGISTER_STAGE("anchor fit", "stage 1: the frozen log Z regressor g(x) from partition files -> regressor file",
                    "Fit the frozen partition-function regressor: features of the reference (MPI-sharded), a weighted "
                    "ridge with the ridge strength by K-fold cross-validation and tau^2 by the method of moments; "
                    "write the regressor file.",
                    disa::anchor::add_fit_options, disa::anchor::run_fit);
