// Loading the models of a stage (anchor: reference and proposal; train: policy and
// reference; eval: policy and reference): each model with the tokenizer it is read with,
// restricted to that tokenizer's ids (restrict_to_tokenizer), and a second model only if
// it reads the same token ids. One function, so every stage refuses a missing directory
// with the same ConfigError naming the option, and a tokenizer mismatch with the same
// ModelError (exit code 6).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "disa/model/causal_lm.hpp"
#include "disa/model/tokenizer.hpp"

namespace disa::stage {

// Where one model comes from.
struct ModelSource {
  std::string option;       // the option naming it ("eval.model"), for errors
  std::string role;         // what it is to the stage ("policy", "reference"), for errors
  std::string dir;          // the HF model directory: config, tokenizer and weights
  std::string weights_dir;  // weights from here instead (a checkpoint); empty: dir
};

struct LoadedModels {
  model::CausalLM first{nullptr};
  model::CausalLM second{nullptr};  // null when no second model was asked for
  // The first model's tokenizer; the second model's has the same fingerprint.
  std::shared_ptr<const model::Tokenizer> tokenizer;
};

// Loads `first` and, if given, `second`, on `device` in `dtype`, both restricted to the
// first one's tokenizer. `why_same_tokenizer` completes the mismatch error ("importance
// weights need both to score the same token sequences"). Models are returned as loaded
// (train mode, gradients on): the caller freezes what it does not train.
LoadedModels load_models(const ModelSource& first, const std::optional<ModelSource>& second,
                         const std::string& why_same_tokenizer, torch::Device device, torch::Dtype dtype);

// The dtype a stage computes in on `device`: bfloat16 on a GPU, float32 on the CPU.
torch::Dtype compute_dtype(torch::Device device);

}  // namespace disa::stage
