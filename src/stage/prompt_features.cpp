// Prompt features of the regressor (include/disa/stage/prompt_features.hpp).
#include "disa/stage/prompt_features.hpp"

#include <cstring>

#include "disa/core/error.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/model/score.hpp"

namespace disa::stage {

std::vector<std::vector<double>> prompt_features(model::CausalLMImpl& model,
                                                 const std::vector<std::vector<int32_t>>& prompts, int64_t batch_size,
                                                 dist::Communicator& comm) {
  DISA_CHECK(batch_size >= 1, ConfigError, "prompt features: batch size must be >= 1 (got {})", batch_size);
  const int64_t n = int64_t(prompts.size());
  const int64_t batches = (n + batch_size - 1) / batch_size;
  auto [b0, b1] = dist::balanced_block(batches, comm.rank(), comm.size());
  const int64_t p0 = std::min(n, b0 * batch_size), p1 = std::min(n, b1 * batch_size);
  int64_t width = 0;
  std::vector<double> mine;  // this rank's rows, flat
  torch::NoGradGuard no_grad;
  for (int64_t b = b0; b < b1; ++b) {
    std::vector<model::ScoreItem> items;
    for (int64_t p = b * batch_size; p < std::min(n, (b + 1) * batch_size); ++p) {
      DISA_CHECK(!prompts[size_t(p)].empty(), DataError, "prompt features: prompt {} has no tokens", p);
      items.push_back({prompts[size_t(p)], {}});
    }
    model::ScoreOptions o;
    o.prompt_hidden_mean = true;
    auto r = model::score(model, items, o);
    torch::Tensor h = r.prompt_hidden_mean.to(torch::kCPU, torch::kDouble).contiguous();
    width = h.size(1);
    mine.insert(mine.end(), h.data_ptr<double>(), h.data_ptr<double>() + h.numel());
  }
  DISA_CHECK(mine.size() == size_t((p1 - p0) * width), DataError, "prompt features: {} values for {} prompts",
             mine.size(), p1 - p0);
  std::string bytes(mine.size() * sizeof(double), '\0');
  if (!mine.empty()) std::memcpy(bytes.data(), mine.data(), bytes.size());
  std::vector<std::vector<double>> out;
  out.reserve(size_t(n));
  for (const auto& part : comm.all_gather(bytes)) {
    std::vector<double> values(part.size() / sizeof(double));
    if (!values.empty()) std::memcpy(values.data(), part.data(), part.size());
    const size_t d = size_t(model.config().hidden_size);
    DISA_CHECK(values.size() % d == 0, DataError, "prompt features: {} gathered values, rows of {}", values.size(), d);
    for (size_t i = 0; i < values.size(); i += d) out.emplace_back(values.begin() + i, values.begin() + i + d);
  }
  DISA_CHECK(int64_t(out.size()) == n, DataError, "prompt features: gathered {} rows for {} prompts", out.size(), n);
  return out;
}

}  // namespace disa::stage
