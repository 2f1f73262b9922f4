// What one training step works on: the training prompts (record, tokens, frozen
// anchor) and the step's samples (a response with its reward, the per-token log-probs
// of the policy before the step and of the reference, and the per-objective targets).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "disa/tasks/dataset.hpp"

namespace disa::train {

// A training prompt: the data record, its tokens, its frozen anchor (NaN if none).
struct Prompt {
  const tasks::Record* record = nullptr;
  std::vector<int32_t> tokens;
  double anchor = std::numeric_limits<double>::quiet_NaN();
  double exact_log_z = std::numeric_limits<double>::quiet_NaN();
  int64_t file_index = -1;  // in the partition file
};

// One response of the step, on the rank that owns its prompt.
struct Sample {
  int64_t prompt = 0;  // training prompt index (-1 for a pool sample; prompt tokens in `prompt_tokens`)
  int64_t minibatch = 0;
  int64_t group = 0;  // consecutive samples of one prompt share a group id
  const std::vector<int32_t>* prompt_tokens = nullptr;
  std::vector<int32_t> tokens;
  double reward = 0;
  bool correct = false, truncated = false;
  double anchor = std::numeric_limits<double>::quiet_NaN();
  double log_q = 0;           // offline: proposal log density
  double advantage = 0;       // group-normalised reward (grpo/gspo advantage, flowrl target)
  double offline_weight = 1;  // offline disa: self-normalised pi_theta/q weight
  std::vector<float> old_logp, ref_logp;
};

// Sum of a sample's per-token log-probs (accumulated in double).
inline double sequence_sum(const std::vector<float>& token_logprobs) {
  double s = 0;
  for (float v : token_logprobs) s += v;
  return s;
}

}  // namespace disa::train
