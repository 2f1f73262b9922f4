// The text a task scores for a generated response: the ids decoded without special
// tokens, where ids the tokenizer does not know (a model's padded vocabulary beyond the
// tokenizer's) become U+FFFD instead of vanishing. A response containing such an id is
// not any correct token sequence, so it must not decode to a correct string (which
// would also break the exact log Z, computed from the correct strings' token sequences).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace disa::model {

class Tokenizer;

std::string response_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids);

}  // namespace disa::model
