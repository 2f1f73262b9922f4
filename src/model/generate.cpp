// Batched KV-cache sampling: left-padded prefill, one decode step per token for all
// running sequences, counter-based per-sequence uniforms, stop tokens/strings, and the
// compaction of finished rows. See include/disa/model/generate.hpp.
#include "disa/model/generate.hpp"

#include <algorithm>

#include "disa/core/error.hpp"
#include "disa/model/tokenizer.hpp"

namespace disa::model {

void restrict_to_tokenizer(CausalLMImpl& model, const Tokenizer& tokenizer) {
  if (model.config().vocab_size > tokenizer.vocab_size()) model.limit_output_vocab(tokenizer.vocab_size());
}

void set_model_stops(GenerationParams& params, const CausalLMImpl& model, const Tokenizer& tokenizer) {
  // The policy is the softmax over the tokenizer's ids everywhere (sampling and scoring
  // alike), so the model must have been restricted before its sampling is set up.
  DISA_CHECK(model.output_vocab() <= tokenizer.vocab_size(), ModelError,
             "the model's output vocabulary ({} ids) is larger than its tokenizer's ({}): call "
             "restrict_to_tokenizer after loading, so that sampling and scoring share one support",
             model.output_vocab(), tokenizer.vocab_size());
  auto add = [&](int32_t id) {
    if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), id) == params.stop_token_ids.end())
      params.stop_token_ids.push_back(id);
  };
  if (auto eos = tokenizer.eos_token_id()) add(*eos);
  for (int64_t id : model.config().eos_token_ids) add(int32_t(id));
}

void GenerationParams::validate() const {
  sampling.validate();
  if (max_new_tokens < 1) DISA_THROW(ConfigError, "generation max_new_tokens must be >= 1 (got {})", max_new_tokens);
  if (max_batch_size < 1) DISA_THROW(ConfigError, "generation max_batch_size must be >= 1 (got {})", max_batch_size);
  for (const auto& s : stop_strings)
    if (s.empty()) DISA_THROW(ConfigError, "generation stop strings must not be empty");
  if (!(compact_fraction >= 0.0 && compact_fraction <= 1.0))
    DISA_THROW(ConfigError, "generation compact_fraction must be in [0, 1]");
}

const char* finish_reason_name(FinishReason r) { return r == FinishReason::Stop ? "stop" : "length"; }

namespace {

struct Running {
  size_t result;  // index into the results vector
  bool done = false;
};

void run_batch(CausalLMImpl& model, const std::vector<GenerationRequest>& requests, size_t begin, size_t end,
               const GenerationParams& params, uint64_t seed, const Tokenizer* tokenizer,
               std::vector<GenerationResult>& results) {
  const torch::Device dev = model.device();
  const int64_t vocab = model.config().vocab_size;
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = begin; i < end; ++i) {
    const auto& r = requests[i];
    DISA_CHECK(!r.prompt.empty(), DataError,
               "generation request {} (prompt id {}, sample {}) "
               "has an empty prompt",
               i, r.prompt_id, r.sample_index);
    for (int32_t t : r.prompt)
      DISA_CHECK(t >= 0 && t < vocab, DataError,
                 "generation request {} (prompt id {}): token "
                 "id {} outside the model vocabulary [0, {})",
                 i, r.prompt_id, t, vocab);
    prompts.push_back(r.prompt);
    results[i].prompt_id = r.prompt_id;
    results[i].sample_index = r.sample_index;
  }
  size_t max_stop_bytes = 0;
  for (const auto& s : params.stop_strings) max_stop_bytes = std::max(max_stop_bytes, s.size());

  PaddedBatch pb = left_pad(prompts, dev);
  const int64_t B = static_cast<int64_t>(prompts.size()), P = pb.input_ids.size(1);
  KvCache cache = model.make_cache(B, P + params.max_new_tokens);
  torch::Tensor h = model.hidden_states(pb.input_ids, pb.position_ids, pb.mask, &cache);
  // The step's logits [R, V] (model dtype), in one buffer for the whole batch.
  torch::Tensor logits_buffer = torch::empty({B, model.output_vocab()}, h.options());
  torch::Tensor logits = model.logits_into(h.select(1, P - 1), logits_buffer);
  torch::Tensor next_pos = torch::tensor(pb.lengths, torch::kLong).to(dev);

  const SamplingParams& sp = params.sampling;
  std::vector<Running> rows;
  for (size_t i = begin; i < end; ++i) rows.push_back({i, false});
  int64_t running = B;
  for (int64_t step = 0; step < params.max_new_tokens && running > 0; ++step) {
    const int64_t R = static_cast<int64_t>(rows.size());
    std::vector<double> u(R);
    for (int64_t r = 0; r < R; ++r) {
      const auto& req = requests[rows[r].result];
      u[r] = counter_uniform(seed, static_cast<uint64_t>(req.prompt_id), static_cast<uint64_t>(req.sample_index),
                             static_cast<uint64_t>(step));
    }
    TokenDraws draws = draw_tokens(logits, u, sp, /*model_logprobs=*/true);
    torch::Tensor tok = draws.tokens;
    torch::Tensor packed =
        torch::stack({tok.to(torch::kDouble), draws.sampler_logprobs, draws.model_logprobs}, 1).to(torch::kCPU);
    auto acc = packed.accessor<double, 2>();
    for (int64_t r = 0; r < R; ++r) {
      Running& row = rows[r];
      if (row.done) continue;
      GenerationResult& res = results[row.result];
      const int32_t t = static_cast<int32_t>(acc[r][0]);
      res.tokens.push_back(t);
      res.sampler_logprobs.push_back(acc[r][1]);
      res.model_logprobs.push_back(acc[r][2]);
      res.sum_sampler_logprob += acc[r][1];
      res.sum_model_logprob += acc[r][2];
      bool stop = std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), t) !=
                  params.stop_token_ids.end();
      if (!stop && !params.stop_strings.empty()) {
        const size_t n = res.tokens.size(), w = std::min(n, max_stop_bytes + 1);
        const std::string tail = tokenizer->decode(
            std::vector<int32_t>(res.tokens.end() - static_cast<std::ptrdiff_t>(w), res.tokens.end()));
        for (const auto& s : params.stop_strings)
          if (tail.find(s) != std::string::npos) {
            stop = true;
            res.stop_string = s;
            break;
          }
      }
      if (stop || static_cast<int64_t>(res.tokens.size()) >= params.max_new_tokens) {
        res.finish_reason = stop ? FinishReason::Stop : FinishReason::Length;
        row.done = true;
        --running;
      }
    }
    if (running == 0 || step + 1 == params.max_new_tokens) break;
    if (running < R && static_cast<double>(running) <= params.compact_fraction * R) {
      std::vector<int64_t> keep;
      std::vector<Running> kept_rows;
      for (int64_t r = 0; r < R; ++r)
        if (!rows[r].done) keep.push_back(r), kept_rows.push_back(rows[r]);
      torch::Tensor k = torch::tensor(keep, torch::kLong).to(dev);
      cache.select_rows(k);
      tok = tok.index_select(0, k);
      next_pos = next_pos.index_select(0, k);
      rows = std::move(kept_rows);
    }
    h = model.hidden_states(tok.view({-1, 1}), next_pos.view({-1, 1}), {}, &cache);
    logits = model.logits_into(h.select(1, 0), logits_buffer);
    next_pos = next_pos + 1;
  }
}

}  // namespace

std::vector<GenerationResult> generate(CausalLMImpl& model, const std::vector<GenerationRequest>& requests,
                                       const GenerationParams& params, uint64_t seed, const Tokenizer* tokenizer) {
  params.validate();
  if (!params.stop_strings.empty() && tokenizer == nullptr)
    DISA_THROW(ConfigError, "generation with stop strings needs a tokenizer");
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<GenerationResult> results(requests.size());
  try {
    for (size_t b = 0; b < requests.size(); b += static_cast<size_t>(params.max_batch_size))
      run_batch(model, requests, b, std::min(requests.size(), b + static_cast<size_t>(params.max_batch_size)), params,
                seed, tokenizer, results);
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return results;
}

}  // namespace disa::model
