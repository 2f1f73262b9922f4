// The Qwen2/Qwen3/Llama decoder: modules, rotary embeddings, masked grouped-query
// attention (LibTorch's fused scaled_dot_product_attention on LibTorch >= 2, a plain
// fp32-softmax implementation otherwise), KV cache and left padding.
#include "disa/model/causal_lm.hpp"

#include <cmath>

#include <torch/version.h>

#include "disa/core/error.hpp"

namespace disa::model {

namespace F = torch::nn::functional;

// Rotary tables and the attention mask of one forward pass, shared by all layers.
struct AttentionAux {
  torch::Tensor cos, sin;  // [B, 1, T, head_dim] in the activation dtype
  torch::Tensor mask;      // [B, 1, T, S] bool, true where the query may attend the key
  int64_t past = 0;        // cached positions before this forward
};

// ---------------------------------------------------------------------------------------
ProjectionImpl::ProjectionImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& options)
    : in_features(in), out_features(out) {
  weight = register_parameter("weight", torch::empty({out, in}, options));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}, options));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::nn::functional::linear(x, weight, bias);
  if (lora_A.defined()) {
    // The adapter runs in its own dtype (fp32) and its output is cast back.
    torch::Tensor h = x.to(lora_A.scalar_type());
    if (lora_dropout > 0 && is_training()) h = torch::dropout(h, lora_dropout, true);
    torch::Tensor delta = torch::nn::functional::linear(torch::nn::functional::linear(h, lora_A), lora_B);
    y = y + (delta * lora_scaling).to(y.scalar_type());
  }
  return y;
}

void ProjectionImpl::attach_lora(torch::Tensor a, torch::Tensor b, double scaling, double dropout) {
  lora_A = register_parameter("lora_A", std::move(a));
  lora_B = register_parameter("lora_B", std::move(b));
  lora_scaling = scaling;
  lora_dropout = dropout;
}

void ProjectionImpl::detach_lora() {
  if (!has_lora()) return;
  parameters_.erase("lora_A");
  parameters_.erase("lora_B");
  lora_A = torch::Tensor();
  lora_B = torch::Tensor();
  lora_scaling = 0.0;
  lora_dropout = 0.0;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, const torch::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", torch::empty({dim}, options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x.to(torch::kFloat32);
  torch::Tensor var = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * torch::rsqrt(var + eps);
  return weight * h.to(x.scalar_type());
}

EmbeddingImpl::EmbeddingImpl(int64_t vocab, int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({vocab, dim}, options));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

void KvCache::select_rows(const torch::Tensor& rows) {
  for (auto& k : keys) k = k.index_select(0, rows);
  for (auto& v : values) v = v.index_select(0, rows);
  valid = valid.index_select(0, rows);
}

// ---------------------------------------------------------------------------------------
namespace {

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

torch::Tensor apply_rope(const torch::Tensor& x, const AttentionAux& aux) {
  return x * aux.cos + rotate_half(x) * aux.sin;
}

// [B, kv, S, D] -> [B, kv * rep, S, D] (each kv head serves `rep` query heads).
torch::Tensor repeat_kv(const torch::Tensor& x, int64_t rep) {
  if (rep == 1) return x;
  const auto B = x.size(0), H = x.size(1), S = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({B, H, rep, S, D}).reshape({B, H * rep, S, D});
}

}  // namespace

AttentionImpl::AttentionImpl(const ModelConfig& c, const torch::TensorOptions& o)
    : num_heads(c.num_attention_heads), num_kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  const int64_t H = c.hidden_size;
  q_proj = register_module("q_proj", Projection(H, num_heads * head_dim, c.qkv_bias, o));
  k_proj = register_module("k_proj", Projection(H, num_kv_heads * head_dim, c.qkv_bias, o));
  v_proj = register_module("v_proj", Projection(H, num_kv_heads * head_dim, c.qkv_bias, o));
  o_proj = register_module("o_proj", Projection(num_heads * head_dim, H, c.o_bias, o));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim, c.rms_norm_eps, o));
    k_norm = register_module("k_norm", RMSNorm(head_dim, c.rms_norm_eps, o));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionAux& aux, KvCache* cache, int64_t layer) {
  const int64_t B = x.size(0), T = x.size(1);
  torch::Tensor q = q_proj(x).view({B, T, num_heads, head_dim});
  torch::Tensor k = k_proj(x).view({B, T, num_kv_heads, head_dim});
  torch::Tensor v = v_proj(x).view({B, T, num_kv_heads, head_dim});
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rope(q.transpose(1, 2), aux);  // [B, nh, T, D]
  k = apply_rope(k.transpose(1, 2), aux);  // [B, kv, T, D]
  v = v.transpose(1, 2);
  if (cache) {
    cache->keys[layer].narrow(2, aux.past, T).copy_(k);
    cache->values[layer].narrow(2, aux.past, T).copy_(v);
    k = cache->keys[layer].narrow(2, 0, aux.past + T);
    v = cache->values[layer].narrow(2, 0, aux.past + T);
  }
  const int64_t rep = num_heads / num_kv_heads;
  torch::Tensor mask = aux.mask;
  if (T == 1 && rep > 1) {
    // Decoding: the `rep` query heads of a kv head become `rep` query rows against that
    // kv head, so the cached keys/values are not repeated (mask [B,1,1,S] broadcasts).
    q = q.reshape({B, num_kv_heads, rep, head_dim});
  } else {
    k = repeat_kv(k, rep);
    v = repeat_kv(v, rep);
  }
  torch::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  out = at::scaled_dot_product_attention(q, k, v, mask);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  out = torch::matmul(probs, v);
#endif
  // [B, nh, T, D] (or [B, kv, rep, D] when decoding grouped, the same memory order).
  out = out.reshape({B, num_heads, T, head_dim});
  out = out.transpose(1, 2).reshape({B, T, num_heads * head_dim});
  return o_proj(out);
}

MlpImpl::MlpImpl(const ModelConfig& c, const torch::TensorOptions& o) {
  gate_proj = register_module("gate_proj", Projection(c.hidden_size, c.intermediate_size, c.mlp_bias, o));
  up_proj = register_module("up_proj", Projection(c.hidden_size, c.intermediate_size, c.mlp_bias, o));
  down_proj = register_module("down_proj", Projection(c.intermediate_size, c.hidden_size, c.mlp_bias, o));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return down_proj(torch::silu(gate_proj(x)) * up_proj(x)); }

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o) {
  self_attn = register_module("self_attn", Attention(c, o));
  mlp = register_module("mlp", Mlp(c, o));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const AttentionAux& aux, KvCache* cache,
                                        int64_t layer) {
  torch::Tensor h = x + self_attn->forward(input_layernorm(x), aux, cache, layer);
  return h + mlp(post_attention_layernorm(h));
}

DecoderImpl::DecoderImpl(const ModelConfig& c, const torch::TensorOptions& o) {
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, o));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c, o));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
}

// ---------------------------------------------------------------------------------------
torch::Tensor rope_inverse_frequencies(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> inv(half);
  const auto& rs = c.rope_scaling;
  for (int64_t i = 0; i < half; ++i) {
    // HF: 1 / theta ** (arange(0, d, 2).float() / d), in float32.
    float expo = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
    float f = 1.0f / std::pow(static_cast<float>(c.rope_theta), expo);
    if (rs.type == RopeScaling::Type::Linear) {
      f = f / static_cast<float>(rs.factor);
    } else if (rs.type == RopeScaling::Type::Llama3) {
      const double orig = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = orig / rs.low_freq_factor;
      const double high_wavelen = orig / rs.high_freq_factor;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / rs.factor);
      } else if (wavelen >= high_wavelen) {
        const double smooth = (orig / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * f / rs.factor + smooth * f);
      }
    }
    inv[i] = f;
  }
  return torch::tensor(inv, torch::kFloat32);
}

CausalLMImpl::CausalLMImpl(const ModelConfig& config, torch::Device device, torch::Dtype dtype) : config_(config) {
  config_.validate("model configuration");
  auto o = torch::TensorOptions().device(device).dtype(dtype);
  model = register_module("model", Decoder(config_, o));
  if (!config_.tie_word_embeddings)
    lm_head = register_module("lm_head", Projection(config_.hidden_size, config_.vocab_size, false, o));
}

torch::Tensor CausalLMImpl::lm_head_weight() const {
  const torch::Tensor& w = lm_head ? lm_head->weight : model->embed_tokens->weight;
  return output_vocab_ > 0 ? w.narrow(0, 0, output_vocab_) : w;
}

void CausalLMImpl::limit_output_vocab(int64_t n) {
  DISA_CHECK(n >= 0 && n <= config_.vocab_size, ModelError, "output vocabulary {} outside [0, vocab_size {}]", n,
             config_.vocab_size);
  output_vocab_ = n == config_.vocab_size ? 0 : n;
}

int64_t CausalLMImpl::output_vocab() const { return output_vocab_ > 0 ? output_vocab_ : config_.vocab_size; }

KvCache CausalLMImpl::make_cache(int64_t batch, int64_t capacity) const {
  KvCache c;
  auto o = torch::TensorOptions().device(device()).dtype(dtype());
  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    c.keys.push_back(torch::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, o));
    c.values.push_back(torch::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, o));
  }
  c.valid = torch::zeros({batch, capacity}, torch::TensorOptions().device(device()).dtype(torch::kBool));
  c.capacity = capacity;
  return c;
}

std::vector<std::pair<std::string, Projection>> CausalLMImpl::projections() const {
  std::vector<std::pair<std::string, Projection>> out;
  for (size_t i = 0; i < model->layers->size(); ++i) {
    auto layer = model->layers->ptr<DecoderLayerImpl>(i);
    const std::string p = fmt::format("model.layers.{}.", i);
    out.emplace_back(p + "self_attn.q_proj", layer->self_attn->q_proj);
    out.emplace_back(p + "self_attn.k_proj", layer->self_attn->k_proj);
    out.emplace_back(p + "self_attn.v_proj", layer->self_attn->v_proj);
    out.emplace_back(p + "self_attn.o_proj", layer->self_attn->o_proj);
    out.emplace_back(p + "mlp.gate_proj", layer->mlp->gate_proj);
    out.emplace_back(p + "mlp.up_proj", layer->mlp->up_proj);
    out.emplace_back(p + "mlp.down_proj", layer->mlp->down_proj);
  }
  return out;
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                                          const torch::Tensor& token_mask, KvCache* cache) {
  DISA_CHECK(input_ids.dim() == 2, ModelError, "input_ids must be [batch, time], got {} dims", input_ids.dim());
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  DISA_CHECK(position_ids.sizes() == input_ids.sizes(), ModelError, "position_ids must have the shape of input_ids");
  const torch::Device dev = device();
  torch::Tensor ids = input_ids.to(dev, torch::kLong);
  torch::Tensor pos = position_ids.to(dev, torch::kLong);
  torch::Tensor tmask = token_mask.defined()
                            ? token_mask.to(dev, torch::kBool)
                            : torch::ones({B, T}, torch::TensorOptions().device(dev).dtype(torch::kBool));
  AttentionAux aux;
  torch::Tensor key_valid;
  if (cache) {
    DISA_CHECK(cache->batch_size() == B, ModelError, "KV cache holds {} rows, batch has {}", cache->batch_size(), B);
    DISA_CHECK(cache->length + T <= cache->capacity, ModelError,
               "KV cache capacity {} exceeded ({} cached + {} new positions)", cache->capacity, cache->length, T);
    aux.past = cache->length;
    cache->valid.narrow(1, aux.past, T).copy_(tmask);
    key_valid = cache->valid.narrow(1, 0, aux.past + T);
  } else {
    key_valid = tmask;
  }
  const int64_t S = aux.past + T;
  auto lopt = torch::TensorOptions().device(dev).dtype(torch::kLong);
  torch::Tensor qi = torch::arange(aux.past, S, lopt).view({T, 1});
  torch::Tensor kj = torch::arange(0, S, lopt).view({1, S});
  torch::Tensor causal = kj.le(qi);  // [T, S]
  torch::Tensor diag = kj.eq(qi);
  aux.mask = (causal.unsqueeze(0) & key_valid.unsqueeze(1)) | diag.unsqueeze(0);
  aux.mask = aux.mask.unsqueeze(1);  // [B, 1, T, S]

  torch::Tensor inv = rope_inverse_frequencies(config_).to(dev);
  torch::Tensor freqs = pos.to(torch::kFloat32).unsqueeze(-1) * inv.view({1, 1, -1});
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);  // [B, T, D]
  const auto dt = dtype();
  aux.cos = emb.cos().to(dt).unsqueeze(1);
  aux.sin = emb.sin().to(dt).unsqueeze(1);

  torch::Tensor h = model->embed_tokens(ids);
  for (size_t l = 0; l < model->layers->size(); ++l)
    h = model->layers->ptr<DecoderLayerImpl>(l)->forward(h, aux, cache, static_cast<int64_t>(l));
  if (cache) cache->length += T;
  return model->norm(h);
}

torch::Tensor CausalLMImpl::logits(const torch::Tensor& hidden) {
  return torch::nn::functional::linear(hidden, lm_head_weight());
}

torch::Tensor CausalLMImpl::logits_into(const torch::Tensor& hidden, torch::Tensor& out) {
  DISA_CHECK(hidden.dim() == 2 && out.dim() == 2 && out.size(0) >= hidden.size(0), ModelError,
             "logits_into needs hidden [N, H] and a buffer of at least N rows");
  torch::Tensor rows = out.narrow(0, 0, hidden.size(0));
  return torch::mm_out(rows, hidden, lm_head_weight().t());
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                                    const torch::Tensor& token_mask, KvCache* cache) {
  return logits(hidden_states(input_ids, position_ids, token_mask, cache)).to(torch::kFloat32);
}

PaddedBatch left_pad(const std::vector<std::vector<int32_t>>& sequences, torch::Device device, int64_t pad_id,
                     int64_t min_length) {
  PaddedBatch b;
  const int64_t B = static_cast<int64_t>(sequences.size());
  int64_t T = min_length;
  for (const auto& s : sequences) T = std::max<int64_t>(T, static_cast<int64_t>(s.size()));
  std::vector<int64_t> ids(B * T, pad_id), pos(B * T, 0);
  std::vector<uint8_t> mask(B * T, 0);
  for (int64_t i = 0; i < B; ++i) {
    const auto& s = sequences[i];
    const int64_t n = static_cast<int64_t>(s.size()), off = T - n;
    for (int64_t t = 0; t < n; ++t) {
      ids[i * T + off + t] = s[t];
      pos[i * T + off + t] = t;
      mask[i * T + off + t] = 1;
    }
    b.lengths.push_back(n);
  }
  b.input_ids = torch::tensor(ids, torch::kLong).view({B, T}).to(device);
  b.position_ids = torch::tensor(pos, torch::kLong).view({B, T}).to(device);
  b.mask = torch::tensor(std::vector<int64_t>(mask.begin(), mask.end()), torch::kLong)
               .view({B, T})
               .to(torch::kBool)
               .to(device);
  return b;
}

}  // namespace disa::model
