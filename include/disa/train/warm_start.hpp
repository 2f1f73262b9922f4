// `disa warm-start`: the supervised warm start that turns a randomly initialised model into a
// reference policy pi_ref with a moderate pass rate. Each step draws a global batch of
// (prompt, correct response) pairs — the response uniform over the prompt's listed
// solution set, so no correct solution is preferred — shards it over the MPI ranks,
// minimises the token-mean negative log-likelihood of the responses (normalised by the
// step's global token count, so any rank count gives the same step), all-reduces the
// gradients in buckets, clips them and takes one AdamW step. Needs a task that lists its
// solutions (countdown, graph_paths).
#pragma once

#include <string>

namespace disa::core {
class Options;
class Config;
}  // namespace disa::core
namespace disa::dist {
class MpiContext;
}  // namespace disa::dist

namespace disa::train {

// The warm-start.* options (named apart from train.algorithm = sft and its sft.* options).
void add_warm_start_options(core::Options& options);

// Trains and writes the model directory; returns its path.
std::string run_warm_start(const core::Config& config, dist::MpiContext& mpi);

}  // namespace disa::train
