// Decoding of generated responses for scoring (include/disa/model/response_text.hpp).
#include "disa/model/response_text.hpp"

#include "disa/model/tokenizer.hpp"

namespace disa::model {

std::string response_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  const int64_t vocab = tokenizer.vocab_size();
  std::string text;
  std::vector<int32_t> run;
  for (int32_t id : ids) {
    if (id >= 0 && id < vocab) {
      run.push_back(id);
      continue;
    }
    text += tokenizer.decode(run, /*skip_special_tokens=*/true) + "\xEF\xBF\xBD";
    run.clear();
  }
  return text + tokenizer.decode(run, /*skip_special_tokens=*/true);
}

}  // namespace disa::model
