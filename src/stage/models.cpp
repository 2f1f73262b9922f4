// Loading a stage's models with their tokenizer (include/disa/stage/models.hpp).
#include "disa/stage/models.hpp"

#include <filesystem>

#include "disa/core/error.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/weights.hpp"

namespace disa::stage {
namespace {

void require_directory(const ModelSource& m) {
  if (!std::filesystem::is_directory(m.dir))
    DISA_THROW(ConfigError, "option --{}: model directory '{}' does not exist", m.option, m.dir);
  if (!m.weights_dir.empty() && !std::filesystem::is_directory(m.weights_dir))
    DISA_THROW(ConfigError, "option --{}: weights directory '{}' does not exist", m.option, m.weights_dir);
}

model::CausalLM load_weights(const ModelSource& m, torch::Device device, torch::Dtype dtype) {
  return model::load_model(m.weights_dir.empty() ? m.dir : m.weights_dir, device, dtype);
}

}  // namespace

LoadedModels load_models(const ModelSource& first, const std::optional<ModelSource>& second,
                         const std::string& why_same_tokenizer, torch::Device device, torch::Dtype dtype) {
  require_directory(first);
  if (second) require_directory(*second);
  LoadedModels out;
  auto tokenizer = std::make_shared<model::Tokenizer>(model::Tokenizer::load(first.dir));
  if (second) {
    // Compared before any weights are read: a mismatch fails in milliseconds.
    const model::Tokenizer other = model::Tokenizer::load(second->dir);
    if (other.fingerprint() != tokenizer->fingerprint())
      DISA_THROW(ModelError,
                 "the {} '{}' (--{}) has another tokenizer than the {} '{}' (--{}; fingerprints {} vs {}): {}",
                 second->role, second->dir, second->option, first.role, first.dir, first.option, other.fingerprint(),
                 tokenizer->fingerprint(), why_same_tokenizer);
  }
  out.first = load_weights(first, device, dtype);
  model::restrict_to_tokenizer(*out.first, *tokenizer);
  if (second) {
    out.second = load_weights(*second, device, dtype);
    model::restrict_to_tokenizer(*out.second, *tokenizer);
  }
  out.tokenizer = std::move(tokenizer);
  return out;
}

torch::Dtype compute_dtype(torch::Device device) { return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32; }

}  // namespace disa::stage
