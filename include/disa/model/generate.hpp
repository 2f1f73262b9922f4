// Batched autoregressive sampling with a KV cache and exact sampler log-probabilities.
// Prompts are left-padded; each sequence draws with its own counter-based random stream
// from (seed, prompt id, sample index), so its tokens do not depend on the batch it ran
// in. For every emitted token it returns log q (the distribution actually sampled from,
// after temperature/top-k/top-p; the sum is the exact proposal density log q(y|x) of
// docs/method.md §2) and the untempered log pi (temperature 1, no truncation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disa/model/causal_lm.hpp"
#include "disa/model/sampling.hpp"

namespace disa::model {

class Tokenizer;

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids (non-empty)
  int64_t prompt_id = 0;        // with sample_index and the seed: the random stream
  int64_t sample_index = 0;
};

struct GenerationParams {
  SamplingParams sampling;
  int64_t max_new_tokens = 256;
  // A sequence stops after emitting one of these (the stop token is part of the output).
  std::vector<int32_t> stop_token_ids;
  // A sequence stops after the token that completes one of these strings in the decoded
  // response (that token is part of the output); needs a tokenizer. The decoded tail is
  // checked after every token, so ids the tokenizer does not know are a DataError: restrict
  // the model to the tokenizer's ids (restrict_to_tokenizer) when its vocabulary is padded.
  std::vector<std::string> stop_strings;
  // Sequences per forward pass; requests are processed in consecutive micro-batches.
  int64_t max_batch_size = 64;
  // Finished sequences are dropped from the running batch (the KV cache rows are
  // compacted) once at most this fraction of the rows is still running.
  double compact_fraction = 0.5;
  void validate() const;
};

// Limits the model's distribution to the tokenizer's ids when its embedding is padded
// (CausalLMImpl::limit_output_vocab): called by every stage right after loading a model
// with its tokenizer, so that sampling, scoring and the exact metrics share one support.
void restrict_to_tokenizer(CausalLMImpl& model, const Tokenizer& tokenizer);

// Fits `params` to a model and its tokenizer: stop after the tokenizer's EOS and the
// config's eos_token_ids (each once). The model must already be restricted to the
// tokenizer's ids (restrict_to_tokenizer); a ModelError says so otherwise.
void set_model_stops(GenerationParams& params, const CausalLMImpl& model, const Tokenizer& tokenizer);

enum class FinishReason { Stop, Length };
const char* finish_reason_name(FinishReason r);

struct GenerationResult {
  int64_t prompt_id = 0;
  int64_t sample_index = 0;
  std::vector<int32_t> tokens;           // the response
  std::vector<double> sampler_logprobs;  // log q per token
  std::vector<double> model_logprobs;    // untempered log pi per token
  double sum_sampler_logprob = 0.0;      // log q(y|x)
  double sum_model_logprob = 0.0;        // log pi(y|x)
  FinishReason finish_reason = FinishReason::Length;
  std::string stop_string;  // the matched stop string, if any
};

// Samples one response per request, in request order. The model is used in eval mode
// without gradients. `tokenizer` is required when params.stop_strings is not empty.
std::vector<GenerationResult> generate(CausalLMImpl& model, const std::vector<GenerationRequest>& requests,
                                       const GenerationParams& params, uint64_t seed,
                                       const Tokenizer* tokenizer = nullptr);

}  // namespace disa::model
