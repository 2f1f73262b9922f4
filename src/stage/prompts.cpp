// Encoding a task's prompts (include/disa/stage/prompts.hpp).
#include "disa/stage/prompts.hpp"

#include "disa/core/error.hpp"

namespace disa::stage {

std::vector<EncodedPrompt> encode_prompts(const tasks::Task& task, const tasks::Dataset& dataset,
                                          const model::Tokenizer& tokenizer, const std::string& where) {
  std::vector<EncodedPrompt> out;
  out.reserve(dataset.size());
  for (size_t i = 0; i < dataset.size(); ++i) {
    EncodedPrompt p;
    p.record = &dataset[i];
    p.text = task.render_prompt(dataset[i]);
    p.tokens = tokenizer.encode(p.text);
    DISA_CHECK(!p.tokens.empty(), DataError, "{}prompt '{}' encodes to no tokens", where, dataset[i].id);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace disa::stage
