// Teacher-forced scoring: left-padded forward, gather of the response positions, chunked
// log-softmax (double precision without gradients, a recomputing fp32 autograd function
// with them). See include/disa/model/score.hpp.
#include "disa/model/score.hpp"

#include <algorithm>

#include "disa/core/error.hpp"

namespace disa::model {

namespace {

int64_t auto_chunk(int64_t vocab, int64_t bytes_per_value) {
  const int64_t budget = int64_t{256} << 20;
  return std::max<int64_t>(1, budget / std::max<int64_t>(1, vocab * bytes_per_value));
}

// Fused linear + log-softmax + gather, recomputed chunk by chunk in backward.
struct ChunkedLogProb : public torch::autograd::Function<ChunkedLogProb> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor hidden, torch::Tensor weight,
                               torch::Tensor targets, double temperature, int64_t chunk) {
    torch::NoGradGuard no_grad;
    const int64_t N = hidden.size(0);
    torch::Tensor out = torch::empty({N}, hidden.options().dtype(torch::kFloat32));
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      torch::Tensor logits = torch::nn::functional::linear(hidden.narrow(0, s, n), weight).to(torch::kFloat32) /
                             temperature;
      torch::Tensor t = targets.narrow(0, s, n).unsqueeze(1);
      out.narrow(0, s, n).copy_((logits.gather(1, t) - logits.logsumexp(1, true)).squeeze(1));
    }
    ctx->save_for_backward({hidden, weight, targets});
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["weight_grad"] = weight.requires_grad();
    ctx->saved_data["hidden_grad"] = hidden.requires_grad();
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor hidden = saved[0], weight = saved[1], targets = saved[2];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const bool want_w = ctx->saved_data["weight_grad"].toBool();
    const bool want_h = ctx->saved_data["hidden_grad"].toBool();
    torch::Tensor g = grads[0].to(torch::kFloat32);
    const int64_t N = hidden.size(0);
    torch::Tensor grad_h, grad_w;
    if (want_h) grad_h = torch::empty_like(hidden);
    if (want_w) grad_w = torch::zeros(weight.sizes(), weight.options().dtype(torch::kFloat32));
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      torch::Tensor h = hidden.narrow(0, s, n);
      torch::Tensor logits = torch::nn::functional::linear(h, weight).to(torch::kFloat32) / temperature;
      torch::Tensor gc = g.narrow(0, s, n).unsqueeze(1);
      // d/dlogits of log_softmax[target] = onehot - softmax; chain through 1/temperature.
      torch::Tensor dlogits = torch::softmax(logits, 1) * (-gc);
      dlogits.scatter_add_(1, targets.narrow(0, s, n).unsqueeze(1), gc);
      dlogits = (dlogits / temperature).to(hidden.scalar_type());
      if (want_h) grad_h.narrow(0, s, n).copy_(torch::matmul(dlogits, weight));
      if (want_w) grad_w.add_(torch::matmul(dlogits.t(), h).to(torch::kFloat32));
    }
    if (want_w) grad_w = grad_w.to(weight.scalar_type());
    return {grad_h, grad_w, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

struct Gathered {
  torch::Tensor hidden_rows;  // [N, H] hidden states that predict the response tokens
  torch::Tensor targets;      // [N] long
  torch::Tensor rows, cols;   // [N] long: (item, response position) of each
  torch::Tensor prompt_mean;  // [B, H] float32 or undefined
  int64_t max_response = 0;
};

Gathered forward_and_gather(CausalLMImpl& model, const std::vector<ScoreItem>& items, size_t begin, size_t end,
                            bool prompt_mean) {
  const torch::Device dev = model.device();
  const int64_t vocab = model.config().vocab_size, support = model.output_vocab();
  std::vector<std::vector<int32_t>> seqs;
  for (size_t i = begin; i < end; ++i) {
    const auto& it = items[i];
    DISA_CHECK(!it.prompt.empty(), DataError, "score item {} has an empty prompt", i);
    std::vector<int32_t> s = it.prompt;
    s.insert(s.end(), it.response.begin(), it.response.end());
    for (int32_t t : s)
      DISA_CHECK(t >= 0 && t < vocab, DataError,
                 "score item {}: token id {} outside the model "
                 "vocabulary [0, {})",
                 i, t, vocab);
    for (int32_t t : it.response)
      DISA_CHECK(t < support, DataError,
                 "score item {}: response token id {} outside the "
                 "policy's vocabulary [0, {}) (the tokenizer's ids)",
                 i, t, support);
    seqs.push_back(std::move(s));
  }
  PaddedBatch pb = left_pad(seqs, dev);
  const int64_t B = static_cast<int64_t>(seqs.size()), T = pb.input_ids.size(1);
  torch::Tensor hidden = model.hidden_states(pb.input_ids, pb.position_ids, pb.mask);
  const int64_t H = hidden.size(2);
  std::vector<int64_t> flat, targets, rows, cols;
  std::vector<float> pmask(B * T, 0.0f);
  Gathered g;
  for (int64_t b = 0; b < B; ++b) {
    const auto& it = items[begin + b];
    const int64_t P = static_cast<int64_t>(it.prompt.size());
    const int64_t R = static_cast<int64_t>(it.response.size());
    const int64_t off = T - P - R;
    for (int64_t j = 0; j < R; ++j) {
      flat.push_back(b * T + off + P + j - 1);
      targets.push_back(it.response[j]);
      rows.push_back(b);
      cols.push_back(j);
    }
    for (int64_t t = 0; t < P; ++t) pmask[b * T + off + t] = 1.0f / static_cast<float>(P);
    g.max_response = std::max(g.max_response, R);
  }
  auto lopt = torch::TensorOptions().dtype(torch::kLong);
  g.hidden_rows = hidden.reshape({B * T, H}).index_select(0, torch::tensor(flat, lopt).to(dev));
  g.targets = torch::tensor(targets, lopt).to(dev);
  g.rows = torch::tensor(rows, lopt).to(dev);
  g.cols = torch::tensor(cols, lopt).to(dev);
  if (prompt_mean) {
    torch::Tensor w = torch::tensor(pmask).view({B, T, 1}).to(dev);
    g.prompt_mean = (hidden.to(torch::kFloat32) * w).sum(1);
  }
  return g;
}

ScoreResult assemble(const Gathered& g, const torch::Tensor& values, int64_t B, torch::Dtype dtype) {
  ScoreResult r;
  auto dev = values.device();
  r.token_logprobs =
      torch::zeros({B, g.max_response}, values.options().dtype(dtype)).index_put({g.rows, g.cols}, values.to(dtype));
  r.response_mask = torch::zeros({B, g.max_response}, torch::TensorOptions().device(dev).dtype(torch::kBool))
                        .index_put_({g.rows, g.cols}, true);
  r.sum_logprobs = r.token_logprobs.sum(1);
  r.prompt_hidden_mean = g.prompt_mean;
  return r;
}

}  // namespace

torch::Tensor chunked_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& targets, double temperature, int64_t chunk_rows) {
  DISA_CHECK(temperature > 0, ConfigError, "scoring temperature must be > 0 (got {})", temperature);
  if (chunk_rows <= 0) chunk_rows = auto_chunk(weight.size(0), 4);
  return ChunkedLogProb::apply(hidden, weight, targets.to(torch::kLong), temperature, chunk_rows);
}

std::vector<double> ScoreResult::sums() const {
  if (!sum_logprobs.defined() || sum_logprobs.requires_grad()) return {};
  torch::Tensor s = sum_logprobs.to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
}

std::vector<std::vector<double>> ScoreResult::per_token() const {
  if (!token_logprobs.defined() || token_logprobs.requires_grad()) return {};
  torch::Tensor v = token_logprobs.to(torch::kCPU, torch::kDouble).contiguous();
  torch::Tensor m = response_mask.to(torch::kCPU).contiguous();
  std::vector<std::vector<double>> out(v.size(0));
  auto va = v.accessor<double, 2>();
  auto ma = m.accessor<bool, 2>();
  for (int64_t b = 0; b < v.size(0); ++b)
    for (int64_t j = 0; j < v.size(1); ++j)
      if (ma[b][j]) out[b].push_back(va[b][j]);
  return out;
}

ScoreResult score(CausalLMImpl& model, const std::vector<ScoreItem>& items, const ScoreOptions& options) {
  options.sampling.validate();
  DISA_CHECK(options.sampling.temperature > 0, ConfigError,
             "scoring needs a temperature > 0 (greedy decoding has no density to score)");
  const int64_t vocab = model.output_vocab();
  if (options.differentiable) {
    DISA_CHECK(!options.sampling.truncates() && options.sampling.vocab_limit == 0, ConfigError,
               "differentiable scoring under top-k/top-p/vocab_limit is not implemented "
               "(score at a temperature only)");
    Gathered g = forward_and_gather(model, items, 0, items.size(), options.prompt_hidden_mean);
    torch::Tensor v = chunked_token_logprobs(g.hidden_rows, model.lm_head_weight(), g.targets,
                                             options.sampling.temperature, options.chunk_tokens);
    return assemble(g, v, static_cast<int64_t>(items.size()), torch::kFloat32);
  }
  torch::NoGradGuard no_grad;
  const int64_t chunk = options.chunk_tokens > 0 ? options.chunk_tokens : auto_chunk(vocab, 4);
  const size_t mb = options.max_batch_size > 0 ? static_cast<size_t>(options.max_batch_size)
                                               : std::max<size_t>(items.size(), 1);
  std::vector<ScoreResult> parts;
  int64_t max_response = 0;
  for (size_t b = 0; b < items.size(); b += mb) {
    const size_t e = std::min(items.size(), b + mb);
    Gathered g = forward_and_gather(model, items, b, e, options.prompt_hidden_mean);
    const int64_t N = g.targets.size(0);
    torch::Tensor values = torch::empty({N}, g.targets.options().dtype(torch::kDouble));
    torch::Tensor W = model.lm_head_weight();
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      torch::Tensor logits = torch::nn::functional::linear(g.hidden_rows.narrow(0, s, n), W).to(torch::kFloat32);
      values.narrow(0, s, n).copy_(sampled_token_log_probs(logits, g.targets.narrow(0, s, n), options.sampling));
    }
    parts.push_back(assemble(g, values, static_cast<int64_t>(e - b), torch::kDouble));
    max_response = std::max(max_response, g.max_response);
  }
  if (parts.size() == 1) return parts[0];
  ScoreResult r;
  std::vector<torch::Tensor> tl, rm, pm;
  for (auto& p : parts) {
    const int64_t pad = max_response - p.token_logprobs.size(1);
    tl.push_back(torch::constant_pad_nd(p.token_logprobs, {0, pad}, 0.0));
    rm.push_back(torch::constant_pad_nd(p.response_mask, {0, pad}, 0));
    if (p.prompt_hidden_mean.defined()) pm.push_back(p.prompt_hidden_mean);
  }
  r.token_logprobs = torch::cat(tl, 0);
  r.response_mask = torch::cat(rm, 0);
  r.sum_logprobs = r.token_logprobs.sum(1);
  if (!pm.empty()) r.prompt_hidden_mean = torch::cat(pm, 0);
  return r;
}

}  // namespace disa::model
