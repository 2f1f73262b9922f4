// The result rows of `disa eval` (private to src/eval): what a rank holds for the prompts
// of its current batch and their samples, and their two homes in HDF5:
//   * the staging tables under /staging of EVAL.incomplete, appended round by round in
//     completion order (strings as bytes), with the batch index /staging/batches that
//     makes them a resumable checkpoint;
//   * the final tables /prompts and /samples of eval.h5, appended in prompt order.
// One column list (eval_rows.cpp) serves both, so the two cannot drift apart.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "disa/io/hdf5.hpp"

namespace disa::eval::detail {

struct ResultRows {
  // Per prompt (global prompt indices, in order).
  std::vector<int64_t> prompts;
  std::vector<double> metrics;  // row-major [prompt][metric]
  std::vector<int8_t> judge_status;
  std::vector<std::string> judge_answer;
  std::vector<int64_t> reachable_solutions, unreachable_solutions;
  // Per sample (prompt-major).
  std::vector<int64_t> prompt_index, sample_index;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<int32_t> length;
  std::vector<int8_t> finish_reason, reason, correct;
  std::vector<double> reward, log_prob;
  std::vector<std::string> key;

  size_t num_prompts() const { return prompts.size(); }
  size_t num_samples() const { return prompt_index.size(); }
  // Appends the rows of `more` (prompt and sample order kept).
  void extend(ResultRows&& more);
};

// A batch recorded complete in /staging/batches: its staged rows, and the longest judge
// answer and sample key in it (the widths of the final string columns).
struct StagedBatch {
  int64_t batch = 0, first_prompt_row = 0, first_sample_row = 0, answer_bytes = 0, key_bytes = 0;
};

// Collective: the empty staging tables (`metrics` columns per prompt).
void create_staging(io::h5::File& file, int64_t metrics, int deflate);
// Collective: appends every rank's rows in rank order, then records this rank's rows as
// batch `batch` (-1: records nothing): a batch is in the index only after its rows.
void append_staging(io::h5::File& file, const ResultRows& rows, int64_t batch);
// The batches recorded complete, in the order they were appended.
std::vector<StagedBatch> read_staged_batches(const io::h5::File& file);
// Collective: drops the staged rows of batches not recorded complete (a round cut short)
// and returns the records. `prompts_of(batch)` is the number of prompts of a batch.
std::vector<StagedBatch> drop_unrecorded_rows(io::h5::File& file, int64_t samples_per_prompt,
                                              const std::function<int64_t(int64_t)>& prompts_of);
// Rows of one staged batch (`prompts` prompts, `samples_per_prompt` samples each).
ResultRows read_staged(const io::h5::File& file, const StagedBatch& batch, int64_t prompts, int64_t samples_per_prompt,
                       int64_t metrics);

// The final tables. Widths of the string columns are over all prompts/samples.
struct FinalWidths {
  int64_t answer_bytes = 0, key_bytes = 0;
};
// Collective: the empty /prompts result columns (/prompts/metrics/NAME for every name)
// and /samples tables of eval.h5.
void create_final(io::h5::File& file, const std::vector<std::string>& metric_names, const FinalWidths& widths,
                  int deflate);
// Collective: appends every rank's rows in rank order.
void append_final(io::h5::File& file, const ResultRows& rows, const std::vector<std::string>& metric_names);

}  // namespace disa::eval::detail
