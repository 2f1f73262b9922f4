// Frozen anchors from a partition file, with the provenance checks
// (include/disa/train/frozen_anchors.hpp).
#include "disa/train/frozen_anchors.hpp"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "disa/core/error.hpp"
#include "provenance_checks.hpp"

namespace disa::train {

FrozenAnchors FrozenAnchors::open(const std::string& path, const AnchorExpectations& e) {
  FrozenAnchors a(io::partition::Reader::open(path));
  const auto& p = a.reader_.provenance();
  std::vector<std::string> problems;
  detail::add_run_mismatches(p, e, "the file was anchored", problems);
  if (p.anchors.find(e.residual) == std::string::npos)
    problems.push_back(
        fmt::format("estimator: the file's anchors are '{}', the run needs '{}'", p.anchors, e.residual));
  if (e.stops && p.stops) {
    // Shown as JSON, the file's own spelling of them (escaped: a stop string is often "\n").
    auto json = [](const auto& v) { return nlohmann::json(v).dump(); };
    if (p.stops->token_ids != e.stops->token_ids)
      problems.push_back(fmt::format("stop_token_ids: the file's responses end at tokens {}, the run's at {}",
                                     json(p.stops->token_ids), json(e.stops->token_ids)));
    if (p.stops->strings != e.stops->strings)
      problems.push_back(fmt::format("stop_strings: the file's responses end at {}, the run's at {}",
                                     json(p.stops->strings), json(e.stops->strings)));
    if (p.stops->vocab_limit != e.stops->vocab_limit)
      problems.push_back(fmt::format("vocab_limit: the file's responses draw ids below {}, the run's below {}",
                                     p.stops->vocab_limit, e.stops->vocab_limit));
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& s : problems) msg += "\n  - " + s;
    DISA_THROW(ConfigError, "partition file '{}' does not match this run:{}", path, msg);
  }
  a.anchor_ = a.reader_.anchors(e.residual);
  a.exact_ = a.reader_.exact_log_z();
  a.standard_error_ = a.reader_.diagnostic("delta_se");
  a.prompt_tokens_ = a.reader_.prompt_tokens();
  return a;
}

std::optional<int64_t> FrozenAnchors::index_of(const std::string& prompt_id) const {
  return reader_.prompt_index(prompt_id);
}

void FrozenAnchors::check_prompt(int64_t p, const std::string& prompt_id, const std::vector<int32_t>& tokens) const {
  DISA_CHECK(prompt_tokens_[size_t(p)] == tokens, DataError,
             "partition file '{}': prompt '{}' has other tokens in the file than this run's prompt (another "
             "data set or prompt template?)",
             path(), prompt_id);
}

}  // namespace disa::train
