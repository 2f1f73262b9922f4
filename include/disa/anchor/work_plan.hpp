// How the anchoring work is split: work units are (prompt, sample) pairs numbered
// u = prompt * N + sample; fixed global batches of `batch_size` consecutive units (a
// function of the data and the batch size only, never of the rank count); whole batches
// assigned to ranks in balanced contiguous blocks. So every batch is computed with the
// same shapes and contents whatever the number of ranks.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "disa/dist/work_split.hpp"

namespace disa::anchor {

using disa::dist::balanced_block;

struct WorkPlan {
  int64_t num_prompts = 0;
  int64_t samples_per_prompt = 0;
  int64_t batch_size = 0;

  int64_t num_units() const { return num_prompts * samples_per_prompt; }
  int64_t num_batches() const { return (num_units() + batch_size - 1) / batch_size; }
  // Units [begin, end) of batch b.
  std::pair<int64_t, int64_t> batch_units(int64_t b) const {
    return {b * batch_size, std::min(num_units(), (b + 1) * batch_size)};
  }
  int64_t prompt_of(int64_t unit) const { return unit / samples_per_prompt; }
  int64_t sample_of(int64_t unit) const { return unit % samples_per_prompt; }
};

}  // namespace disa::anchor
