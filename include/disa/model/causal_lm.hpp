// The decoder-only transformer of Qwen2, Qwen3 and Llama (HF transformers semantics) as
// a LibTorch module whose named_parameters() are exactly HF's checkpoint names
// ("model.layers.0.self_attn.q_proj.weight", "lm_head.weight" unless tied):
// RMSNorm, rotary embeddings (none/linear/llama3 scaling), grouped-query attention with
// optional q/k/v bias (qwen2) and per-head q/k RMSNorm (qwen3), SwiGLU MLP, tied or
// untied head. Batches are left-padded (or arbitrarily masked): every token carries its
// own position id and a validity flag, so a sequence's result does not depend on the
// padding around it. A KvCache, allocated once per batch, makes decoding incremental.
// Projections carry optional LoRA adapters (see lora.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "disa/model/config.hpp"

namespace disa::model {

// A linear map y = x W^T (+ b) with an optional low-rank adapter:
// y += scaling * (dropout(x) A^T) B^T, A: [rank, in], B: [out, rank].
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in_features, int64_t out_features, bool bias, const torch::TensorOptions& options = {});
  torch::Tensor forward(const torch::Tensor& x);
  bool has_lora() const { return lora_A.defined(); }
  // Registers A [rank, in] and B [out, rank] as parameters "lora_A" and "lora_B".
  void attach_lora(torch::Tensor a, torch::Tensor b, double scaling, double dropout);
  // Unregisters the adapter (the weight is left as it is).
  void detach_lora();

  int64_t in_features, out_features;
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined
  torch::Tensor lora_A;  // [rank, in] or undefined (registered as parameter "lora_A")
  torch::Tensor lora_B;  // [out, rank]
  double lora_scaling = 0.0;
  double lora_dropout = 0.0;
};
TORCH_MODULE(Projection);

// HF RMSNorm: weight * (x / sqrt(mean(x^2) + eps)) computed in fp32.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options = {});
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// Token embedding table ("weight": [vocab, hidden]).
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab, int64_t dim, const torch::TensorOptions& options = {});
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// Per-layer keys and values of a batch, preallocated to `capacity` positions.
struct KvCache {
  std::vector<torch::Tensor> keys;    // per layer [B, kv_heads, capacity, head_dim]
  std::vector<torch::Tensor> values;  // per layer, same shape
  torch::Tensor valid;                // [B, capacity] bool: real (non-pad) cached tokens
  int64_t length = 0;                 // positions filled so far
  int64_t capacity = 0;
  int64_t batch_size() const { return valid.defined() ? valid.size(0) : 0; }
  // Keeps only the batch rows `rows` (int64 indices), e.g. to drop finished sequences.
  void select_rows(const torch::Tensor& rows);
};

struct AttentionAux;  // per-forward data shared by the layers (rotary tables, mask)

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const AttentionAux& aux, KvCache* cache, int64_t layer);
  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // qwen3 only
  int64_t num_heads, num_kv_heads, head_dim;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const ModelConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const AttentionAux& aux, KvCache* cache, int64_t layer);
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(DecoderLayer);

// HF's "model" submodule: embeddings, layers, final norm.
class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const ModelConfig& c, const torch::TensorOptions& options);
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Decoder);

// A left-padded batch of token sequences.
struct PaddedBatch {
  torch::Tensor input_ids;     // [B, T] int64 (pad positions hold `pad_id`)
  torch::Tensor position_ids;  // [B, T] int64, 0.. over the real tokens of each row
  torch::Tensor mask;          // [B, T] bool, true for real tokens
  std::vector<int64_t> lengths;
};
// Left-pads `sequences` to the longest one (at least `min_length`) on `device`.
PaddedBatch left_pad(const std::vector<std::vector<int32_t>>& sequences, torch::Device device, int64_t pad_id = 0,
                     int64_t min_length = 0);

class CausalLMImpl : public torch::nn::Module {
 public:
  // Parameters are allocated uninitialised (empty) in `dtype` on `device`; use
  // load_model / init_random_model (weights.hpp) to fill them.
  CausalLMImpl(const ModelConfig& config, torch::Device device = torch::kCPU, torch::Dtype dtype = torch::kFloat32);

  // Final-norm hidden states [B, T, hidden] of `input_ids` [B, T] at `position_ids`
  // [B, T]; `token_mask` [B, T] bool marks real tokens (undefined: all real). A token
  // attends to the real tokens at or before it (and always to itself, so pad rows stay
  // finite). With `cache`, the tokens are appended after the cache's `length` positions
  // and attend to the cached ones; cache->length grows by T.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                              const torch::Tensor& token_mask = {}, KvCache* cache = nullptr);
  // Logits [.., vocab] of hidden states, in the model dtype.
  torch::Tensor logits(const torch::Tensor& hidden);
  // The same logits of hidden [N, hidden] written into `out` (model dtype, contiguous, at
  // least N rows; its first N rows are returned): a decode loop reuses one buffer instead
  // of a fresh [N, vocab] allocation (and its page faults) per step.
  torch::Tensor logits_into(const torch::Tensor& hidden, torch::Tensor& out);
  // fp32 logits [B, T, vocab] (hidden_states + logits). Materialises B*T*V floats: use
  // score() / generate() for long sequences or large vocabularies.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                        const torch::Tensor& token_mask = {}, KvCache* cache = nullptr);

  // An empty cache for `batch` sequences of up to `capacity` positions.
  KvCache make_cache(int64_t batch, int64_t capacity) const;
  // The output embedding [output_vocab(), hidden]: the first rows of lm_head.weight, or of
  // the input embedding if tied. Every distribution the model defines goes through it.
  torch::Tensor lm_head_weight() const;

  // The policy's support. A checkpoint's embedding is often padded beyond its tokenizer
  // (real Qwen checkpoints, disa's tiny preset: 320 rows for 259 ids); the ids past the
  // tokenizer have no text and are never sampled. The model's distribution is then the
  // softmax over ids [0, n) only -- for sampling (log q), teacher-forced and
  // differentiable scoring (log pi_ref, log pi_theta in every loss) and the exact metrics
  // alike, since all of them take their logits from lm_head_weight(). One definition, so
  // that the sampled policy is the scored and trained one (docs/model.md). 0: all ids.
  void limit_output_vocab(int64_t n);
  // n of limit_output_vocab, or config().vocab_size when not limited.
  int64_t output_vocab() const;

  const ModelConfig& config() const { return config_; }
  torch::Device device() const { return model->embed_tokens->weight.device(); }
  torch::Dtype dtype() const { return model->embed_tokens->weight.scalar_type(); }
  // Every projection with its HF module path ("model.layers.0.self_attn.q_proj").
  std::vector<std::pair<std::string, Projection>> projections() const;

  Decoder model{nullptr};
  Projection lm_head{nullptr};  // null when tie_word_embeddings
  // Provenance of the weights: set by load_model / save_model, empty otherwise.
  std::string fingerprint;

 private:
  ModelConfig config_;
  int64_t output_vocab_ = 0;  // 0: config_.vocab_size
};
TORCH_MODULE(CausalLM);

// Inverse frequencies [head_dim / 2] (fp32) of the rotary embedding of `c`, with its
// rope_scaling applied as HF does.
torch::Tensor rope_inverse_frequencies(const ModelConfig& c);

}  // namespace disa::model
