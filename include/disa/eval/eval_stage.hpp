// `disa eval`: stage 3 (docs/method.md §4). Benchmarks (one or several, see
// benchmarks.hpp) are cut into fixed batches of prompts (a function of the data and
// eval.batch-prompts only); batches go to the MPI ranks in balanced contiguous blocks.
// Each rank draws k samples per prompt of its batches (streams from (seed, prompt,
// sample), so no sample depends on the rank count), scores them with the task, computes
// the per-prompt statistics, asks the LLM judge (if any) about the correct responses,
// and scores every listed correct response under the policy and the reference for the
// exact distribution metrics. Ranks then write their slabs of eval.h5 collectively,
// the per-prompt metrics are gathered in prompt order and aggregated per benchmark and
// macro-averaged; the file is committed atomically and eval.md / eval.json are written
// beside it. docs/eval.md documents the options, the metrics and the file.
#pragma once

#include <string>

namespace disa::core {
class Options;
class Config;
}  // namespace disa::core
namespace disa::dist {
class MpiContext;
}  // namespace disa::dist

namespace disa::eval {

// Adds every option of `disa eval` (eval.*, judge.*, task.*, sandbox.*).
void add_eval_options(core::Options& options);

// Runs the evaluation; throws disa::Error on bad input (before any file is created) and
// on failures. Returns the path of the committed eval.h5.
std::string run_eval(const core::Config& config, dist::MpiContext& mpi);

}  // namespace disa::eval
