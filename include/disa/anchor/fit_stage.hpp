// `disa anchor fit`: the frozen partition-function regressor (docs/method.md §2, "The
// frozen partition-function regressor"; docs/anchor.md). Reads one or more partition
// files (their per-prompt anchors log Zhat, standard errors and prompt tokens; the files
// must share the reference and tokenizer fingerprints, beta, the task and the response
// limit), computes the prompt features under the reference their provenance names,
// sharded over the ranks and gathered (stage/prompt_features.hpp), fits the weighted
// ridge with the ridge strength by K-fold cross-validation and tau^2 by the method of
// moments once on rank 0 (anchor/ridge.hpp), and writes the regressor file atomically
// (io/regressor_file.hpp).
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

// Adds every option of `disa anchor fit` (fit.*).
void add_fit_options(core::Options& options);

// Runs the fit; throws disa::Error on bad input (before any file is created) and on
// failures. Returns the path of the committed regressor file.
std::string run_fit(const core::Config& config, dist::MpiContext& mpi);

}  // namespace disa::anchor
