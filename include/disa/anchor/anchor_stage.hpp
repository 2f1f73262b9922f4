// `disa anchor`: stage 1 of DISA. Every rank draws its share of the (prompt, sample)
// work units from the proposal in fixed global batches, scores rewards and the
// teacher-forced log pi_ref, forms the log importance weights, appends the trajectories
// to the partition file collectively, reduces per-prompt log-sum-exps across ranks,
// then computes the anchors (logmeanexp and length-normalised) and the diagnostics from
// the log weights read back from the file, and commits the file atomically.
#pragma once

#include <string>

namespace disa::core {
class Options;
class Config;
}  // namespace disa::core
namespace disa::dist {
class MpiContext;
}  // namespace disa::dist

namespace disa::anchor {

// Adds every option of `disa anchor` (anchor.*, proposal.*, task.*, sandbox.*).
void add_anchor_options(core::Options& options);

// Runs the stage; throws disa::Error on bad input (before any file is created) and on
// failures. Returns the path of the committed partition file.
std::string run_anchor(const core::Config& config, dist::MpiContext& mpi);

}  // namespace disa::anchor
