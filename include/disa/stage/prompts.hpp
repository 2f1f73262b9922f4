// A task's prompts as the stages use them: the record, the rendered text and its
// token ids, in data-set order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disa/model/tokenizer.hpp"
#include "disa/tasks/dataset.hpp"
#include "disa/tasks/task.hpp"

namespace disa::stage {

struct EncodedPrompt {
  const tasks::Record* record = nullptr;  // owned by the data set
  std::string text;                       // task.render_prompt(record)
  std::vector<int32_t> tokens;            // its token ids
};

// Renders and encodes every record of `dataset`. A prompt that encodes to no tokens is
// a DataError naming it, prefixed by `where` ("benchmark 'gsm': "; may be empty).
std::vector<EncodedPrompt> encode_prompts(const tasks::Task& task, const tasks::Dataset& dataset,
                                          const model::Tokenizer& tokenizer, const std::string& where = "");

}  // namespace disa::stage
