// Generation and scoring: the sampling distribution (temperature/top-k/top-p/vocab limit),
// the counter-based random stream, invariance of samples to batch composition, batch size,
// order, padding and compaction, the sampler's log q equal to re-scoring the tokens under
// the same parameters, stop tokens/strings and length limits, and scoring invariance to
// padding and chunking.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "disa/core/error.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/model/weights.hpp"
#include "model_test_util.hpp"

using namespace disa;

namespace {

model::CausalLM test_model(const std::string& arch = "qwen2") {
  model::ModelConfig c = model::preset_config(arch, "tiny");
  c.initializer_range = 0.3;  // peaked distributions: top-k/top-p matter
  return model::init_random_model(c, 11);
}

std::vector<model::GenerationRequest> requests() {
  std::vector<model::GenerationRequest> r;
  const std::vector<std::vector<int32_t>> prompts = {{72, 105, 33},
                                                     {10, 20, 30, 40, 50, 60, 70},
                                                     {5},
                                                     {200, 201, 202, 203}};
  for (int64_t p = 0; p < 4; ++p)
    for (int64_t s = 0; s < 2; ++s) r.push_back({prompts[p], p + 100, s});
  return r;
}

using test::fp32_log_softmax_error;  // the error models: model_test_util.hpp
using test::fp32_logprob_bound;
using test::kU;

// max |logit| over every position of the given sequences (each run alone; fp32 copy).
double max_abs_logit(model::CausalLMImpl& m, const std::vector<std::vector<int32_t>>& seqs) {
  torch::NoGradGuard no_grad;
  double z = 0;
  for (const auto& seq : seqs) {
    model::PaddedBatch pb = model::left_pad({seq}, m.device());
    torch::Tensor logits = m.logits(m.hidden_states(pb.input_ids, pb.position_ids, pb.mask)).to(torch::kFloat32);
    z = std::max(z, logits.abs().max().item<double>());
  }
  return z;
}

// prompt + response of every request.
std::vector<std::vector<int32_t>> sequences(const std::vector<model::GenerationRequest>& reqs,
                                            const std::vector<model::GenerationResult>& out) {
  std::vector<std::vector<int32_t>> seqs;
  for (size_t i = 0; i < reqs.size(); ++i) {
    seqs.push_back(reqs[i].prompt);
    seqs.back().insert(seqs.back().end(), out[i].tokens.begin(), out[i].tokens.end());
  }
  return seqs;
}

// Same tokens; log-probs within the fp32 path bounds (tol_q for the sampler's tempered
// log q, tol_p for the untempered log-prob).
void expect_same_samples(const model::GenerationResult& a, const model::GenerationResult& b, double tol_q, double tol_p,
                         const std::string& what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.finish_reason, b.finish_reason) << what;
  ASSERT_EQ(a.sampler_logprobs.size(), b.sampler_logprobs.size()) << what;
  for (size_t i = 0; i < a.sampler_logprobs.size(); ++i) {
    EXPECT_NEAR(a.sampler_logprobs[i], b.sampler_logprobs[i], tol_q) << what;
    EXPECT_NEAR(a.model_logprobs[i], b.model_logprobs[i], tol_p) << what;
  }
}

}  // namespace

TEST(Sampling, CounterUniform) {
  std::set<double> seen;
  for (uint64_t step = 0; step < 1000; ++step) {
    double u = model::counter_uniform(1, 2, 3, step);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(model::counter_uniform(1, 2, 3, 4), model::counter_uniform(1, 2, 3, 4));
  EXPECT_NE(model::counter_uniform(1, 2, 3, 4), model::counter_uniform(1, 2, 4, 4));
  EXPECT_NE(model::counter_uniform(1, 2, 3, 4), model::counter_uniform(1, 3, 3, 4));
  EXPECT_NE(model::counter_uniform(1, 2, 3, 4), model::counter_uniform(2, 2, 3, 4));
  // The mean of 20000 uniforms has standard error 1 / sqrt(12 * 20000) = 2.0e-3: 0.01 is 4.9
  // standard errors (the stream is fixed, so this checks the generator, never flakes).
  double mean = 0;
  for (uint64_t i = 0; i < 20000; ++i) mean += model::counter_uniform(7, i, 0, 0);
  EXPECT_NEAR(mean / 20000, 0.5, 0.01);
}

TEST(Sampling, FilteredDistribution) {
  // probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625
  torch::Tensor logits = torch::tensor({0.5, 0.25, 0.125, 0.0625, 0.0625}, torch::kDouble).log().view({1, 5});
  auto probs = [&](const model::SamplingParams& p) { return model::sampling_log_probs(logits, p).exp()[0]; };
  // The distribution is computed in double: a log-softmax of logs |x| <= 2.8 (ulp 4.4e-16)
  // and exp are within a few ulp, so probabilities <= 1 are within ~1.3e-15 absolute (the
  // removed entries are exactly 0). 1e-14 leaves 8x; any fp32 step would err by ~1e-8.
  auto near = [](const torch::Tensor& a, const torch::Tensor& b) { return torch::allclose(a, b, 0.0, 1e-14); };
  model::SamplingParams p;
  EXPECT_TRUE(near(probs(p), logits.exp()[0]));
  p.top_k = 2;
  EXPECT_TRUE(near(probs(p), torch::tensor({2.0 / 3, 1.0 / 3, 0.0, 0.0, 0.0}, torch::kDouble)));
  p = {};
  p.top_p = 0.7;  // 0.5 (before 0 < 0.7), 0.25 (before 0.5 < 0.7), 0.125 (before 0.75): cut
  EXPECT_TRUE(near(probs(p), torch::tensor({2.0 / 3, 1.0 / 3, 0.0, 0.0, 0.0}, torch::kDouble)));
  p.top_p = 0.9;  // keeps 3 (before 0.875 < 0.9) and the tie at 0.0625 stays together
  EXPECT_TRUE(near(probs(p), torch::tensor({0.5, 0.25, 0.125, 0.0625, 0.0625}, torch::kDouble)));
  p.top_p = 0.8;
  EXPECT_TRUE(near(probs(p), torch::tensor({4.0 / 7, 2.0 / 7, 1.0 / 7, 0.0, 0.0}, torch::kDouble)));
  p = {};
  p.temperature = 0.5;  // p^2 renormalised
  torch::Tensor sq = logits.exp()[0].pow(2);
  EXPECT_TRUE(near(probs(p), sq / sq.sum()));
  p.temperature = 0.0;
  EXPECT_TRUE(torch::equal(probs(p), torch::tensor({1.0, 0.0, 0.0, 0.0, 0.0}, torch::kDouble)));
  p = {};
  p.vocab_limit = 3;
  EXPECT_TRUE(near(probs(p), torch::tensor({4.0 / 7, 2.0 / 7, 1.0 / 7, 0.0, 0.0}, torch::kDouble)));
  p = {};
  p.top_p = 0.0;
  EXPECT_THROW(p.validate(), core::ConfigError);
}

TEST(Sampling, InverseCdfNeverDrawsZeroMass) {
  torch::Tensor lq = torch::tensor({0.0, 0.5, 0.0, 0.5, 0.0}, torch::kDouble).log().view({1, 5}).expand({4, 5});
  torch::Tensor u = torch::tensor({0.0, 0.49, 0.5, 1.0 - 1e-17}, torch::kDouble);
  torch::Tensor t = model::inverse_cdf_sample(lq, u);
  EXPECT_EQ(t[0].item<int64_t>(), 1);
  EXPECT_EQ(t[1].item<int64_t>(), 1);
  EXPECT_EQ(t[2].item<int64_t>(), 3);
  EXPECT_EQ(t[3].item<int64_t>(), 3);
}

TEST(Sampling, KernelsNeverDrawZeroMass) {
  torch::Tensor logits =
      torch::tensor({0.0, 0.5, 0.0, 0.5, 0.0}, torch::kFloat32).log().view({1, 5}).expand({4, 5}).contiguous();
  const std::vector<double> u = {0.0, 0.49, 0.5, 1.0 - 1e-17};
  for (auto kernel : {model::SamplerKernel::Rows, model::SamplerKernel::Tensors}) {
    model::TokenDraws d = model::draw_tokens(logits, u, {}, true, kernel);
    EXPECT_EQ(d.tokens[0].item<int64_t>(), 1);
    EXPECT_EQ(d.tokens[1].item<int64_t>(), 1);
    EXPECT_EQ(d.tokens[2].item<int64_t>(), 3);
    EXPECT_EQ(d.tokens[3].item<int64_t>(), 3);
    EXPECT_NEAR(d.sampler_logprobs[0].item<double>(), std::log(0.5), 1e-7);
  }
  torch::Tensor bad = torch::full({1, 5}, std::nan(""), torch::kFloat32);
  EXPECT_THROW(model::draw_tokens(bad, {0.5}, {}, false, model::SamplerKernel::Rows), core::ModelError);
}

// Both sampler kernels against the dense double reference (sampling_log_probs +
// inverse_cdf_sample) on the same fp32 logits, over every option and two shapes: 5000 ids
// (peaked rows: normal logits with SD 3, so top-k/top-p cut inside the support) and the
// real vocabulary size 151,936 (flat rows, SD 0.5: the nucleus search grows to the whole
// row). Error models (2^-24 = fp32 unit roundoff; z = (x - max) / T, mass-carrying terms
// have |z| <= 40 here):
// * Rows: fp32 weights exp(z) with z rounded once or twice (relative |z| 2^-24 each) and
//   a polynomial exp within 2 ulp, summed in double: the normaliser within
//   (2 |z| + 3) 2^-24 <= 5e-6 relative, the token's own (x_t - max) / T exact in double:
//   log q within 5e-6. Tokens equal unless u lands within that of a CDF step (~3e-3
//   expected over these 301 draws; the kernel's bits are the same on every x86-64 CPU, so
//   a pass here is a pass everywhere): they must be equal.
// * Tensors works in fp32 throughout: z and exp carry relative 2^-24 (|z| <= 40 -> 2.4e-6
//   in the log), the normaliser a cascade sum (log2 V 2^-24 < 1.2e-6): log q within 1e-5.
//   Its cumulative sum is fp32, so a draw moves to a neighbouring token when u falls
//   within ~sqrt(V) 2^-24 <= 3e-5 of a step: at most one of the 301 draws (expected 0.01).
TEST(Sampling, KernelsMatchTheDenseReference) {
  struct Shape {
    int64_t rows, vocab;
    double sd;
  };
  std::vector<model::SamplingParams> params(7);
  params[1].temperature = 0.7, params[1].top_k = 50;
  params[2].top_p = 0.9;
  params[3].temperature = 1.3, params[3].top_k = 200, params[3].top_p = 0.8;
  params[4].vocab_limit = 4000;
  params[5].temperature = 0.0;
  params[6].top_p = 0.95, params[6].vocab_limit = 4500;
  int tensor_moves = 0, draws = 0;
  for (const Shape& shape : {Shape{40, 5000, 3.0}, Shape{3, 151936, 0.5}}) {
    torch::manual_seed(5);
    torch::Tensor logits = torch::randn({shape.rows, shape.vocab}, torch::kFloat32) * shape.sd;
    const torch::Tensor model_lp = torch::log_softmax(logits.to(torch::kDouble), 1);
    std::vector<double> u;
    for (int64_t r = 0; r < shape.rows; ++r) u.push_back(model::counter_uniform(3, uint64_t(r), 0, 0));
    for (const auto& p : params) {
      const std::string what = fmt::format("V {} T {} top_k {} top_p {} limit {}", shape.vocab, p.temperature, p.top_k,
                                           p.top_p, p.vocab_limit);
      torch::Tensor ref_lq = model::sampling_log_probs(logits.to(torch::kDouble), p);
      torch::Tensor ref_tok = model::inverse_cdf_sample(ref_lq, torch::tensor(u, torch::kDouble));
      // Targets at the edges of the kept set: the least likely kept token and the most
      // likely removed one (by logit), besides the drawn token.
      torch::Tensor kept = ref_lq.isfinite();
      torch::Tensor edge_in = ref_lq.masked_fill(kept.logical_not(), 1e300).argmin(1);
      torch::Tensor edge_out = logits.masked_fill(kept, -1e30f).argmax(1);
      for (auto kernel : {model::SamplerKernel::Rows, model::SamplerKernel::Tensors}) {
        const bool rows = kernel == model::SamplerKernel::Rows;
        const double tol = rows ? 5e-6 : 1e-5;
        model::TokenDraws d = model::draw_tokens(logits, u, p, true, kernel);
        for (int64_t r = 0; r < shape.rows; ++r) {
          const int64_t t = d.tokens[r].item<int64_t>(), rt = ref_tok[r].item<int64_t>();
          if (rows) {
            EXPECT_EQ(t, rt) << what << " row " << r;
          } else if (t != rt) {
            ++tensor_moves;
          }
          ASSERT_TRUE(std::isfinite(ref_lq[r][t].item<double>())) << what << ": drew a removed token";
          EXPECT_NEAR(d.sampler_logprobs[r].item<double>(), ref_lq[r][t].item<double>(), tol) << what;
          EXPECT_NEAR(d.model_logprobs[r].item<double>(), model_lp[r][t].item<double>(), tol) << what;
        }
        if (rows) draws += int(shape.rows);
        if (p.temperature == 0.0) continue;  // greedy: no density to score
        for (const torch::Tensor& targets : {ref_tok, edge_in, edge_out}) {
          torch::Tensor lq = model::sampled_token_log_probs(logits, targets, p, kernel);
          torch::Tensor want = ref_lq.gather(1, targets.unsqueeze(1)).squeeze(1);
          for (int64_t r = 0; r < shape.rows; ++r) {
            const double a = lq[r].item<double>(), b = want[r].item<double>();
            if (std::isinf(b)) {
              EXPECT_TRUE(std::isinf(a) && a < 0) << what << " row " << r << ": a removed token scored " << a;
            } else {
              EXPECT_NEAR(a, b, tol) << what << " row " << r;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(draws, 7 * 43);
  EXPECT_LE(tensor_moves, 1);
}

// A sample depends only on (seed, prompt id, sample index): not on the batch size, the
// order of the requests, the other prompts (and so the padding) or row compaction.
TEST(Generate, InvariantToBatchCompositionPaddingAndCompaction) {
  model::CausalLM m = test_model();
  model::GenerationParams gp;
  gp.max_new_tokens = 12;
  gp.sampling.temperature = 0.9;
  gp.sampling.top_p = 0.95;
  gp.stop_token_ids = {256};
  auto reqs = requests();
  auto ref = model::generate(*m, reqs, gp, 42);
  ASSERT_EQ(ref.size(), reqs.size());
  // Other batch shapes, padding and compaction: the fp32 path bound (see the top). The same
  // tokens are drawn unless a uniform falls within ~1e-5 of a CDF step (or a top-p cut
  // within that of a token's probability), which these fixed draws do not.
  const double z = max_abs_logit(*m, sequences(reqs, ref));
  const double tol_q = fp32_logprob_bound(m->config(), z, gp.sampling.temperature);
  const double tol_p = fp32_logprob_bound(m->config(), z);

  model::GenerationParams one = gp;
  one.max_batch_size = 1;
  auto single = model::generate(*m, reqs, one, 42);
  for (size_t i = 0; i < reqs.size(); ++i)
    expect_same_samples(ref[i], single[i], tol_q, tol_p, "batch size 1, request " + std::to_string(i));

  auto shuffled = reqs;
  std::reverse(shuffled.begin(), shuffled.end());
  shuffled.push_back({std::vector<int32_t>(30, 9), 999, 0});  // a long prompt: more padding
  model::GenerationParams three = gp;
  three.max_batch_size = 3;
  three.compact_fraction = 1.0;  // compact as soon as any row finishes
  auto mixed = model::generate(*m, shuffled, three, 42);
  for (size_t i = 0; i < reqs.size(); ++i)
    expect_same_samples(ref[i], mixed[reqs.size() - 1 - i], tol_q, tol_p, "shuffled " + std::to_string(i));

  // Different sample indices of the same prompt differ; a different seed differs.
  EXPECT_NE(ref[0].tokens, ref[1].tokens);
  auto other = model::generate(*m, reqs, gp, 43);
  EXPECT_NE(ref[0].tokens, other[0].tokens);
  for (const auto& r : ref) {
    EXPECT_EQ(r.prompt_id, reqs[&r - &ref[0]].prompt_id);
    EXPECT_EQ(r.sample_index, reqs[&r - &ref[0]].sample_index);
  }
}

// The sampler's per-token log q equals teacher-forced scoring of the sampled tokens under
// the same temperature / top-k / top-p; its untempered log-probs equal scoring at
// temperature 1; at temperature 1 without truncation the two coincide (the same tensor:
// bitwise). Tolerance: the fp32 path bound per token (the cached decode and the full
// forward pass are fp32 computations of different shapes; the distribution applied to the
// logits is the same code), the sum of the per-token bounds per response. Under top-k /
// top-p a logit within the bound of the cut could change the kept set; at ~1e-4 that has
// probability ~1e-4 per token, and these fixed draws do not hit it.
TEST(Generate, SamplerLogQEqualsRescoring) {
  model::CausalLM m = test_model("llama");
  std::vector<model::SamplingParams> settings(5);
  settings[0].temperature = 1.0;
  settings[1].temperature = 0.7;
  settings[2].temperature = 1.3;
  settings[2].top_k = 5;
  settings[3].temperature = 0.8;
  settings[3].top_p = 0.7;
  settings[4].top_k = 20;
  settings[4].top_p = 0.9;
  settings[4].vocab_limit = 259;
  auto reqs = requests();
  for (size_t k = 0; k < settings.size(); ++k) {
    model::GenerationParams gp;
    gp.sampling = settings[k];
    gp.max_new_tokens = 10;
    auto out = model::generate(*m, reqs, gp, 5);
    const double z = max_abs_logit(*m, sequences(reqs, out));
    const double tol_q = fp32_logprob_bound(m->config(), z, settings[k].temperature);
    const double tol_p = fp32_logprob_bound(m->config(), z);
    std::vector<model::ScoreItem> items;
    for (size_t i = 0; i < reqs.size(); ++i) items.push_back({reqs[i].prompt, out[i].tokens});
    model::ScoreOptions so;
    so.sampling = settings[k];
    model::ScoreResult sq = model::score(*m, items, so);
    model::ScoreResult sp = model::score(*m, items);
    auto q_tok = sq.per_token();
    auto p_tok = sp.per_token();
    auto q_sum = sq.sums();
    for (size_t i = 0; i < reqs.size(); ++i) {
      ASSERT_EQ(q_tok[i].size(), out[i].tokens.size());
      for (size_t t = 0; t < out[i].tokens.size(); ++t) {
        EXPECT_NEAR(out[i].sampler_logprobs[t], q_tok[i][t], tol_q) << "setting " << k;
        EXPECT_NEAR(out[i].model_logprobs[t], p_tok[i][t], tol_p) << "setting " << k;
        if (k == 0) {
          EXPECT_EQ(out[i].sampler_logprobs[t], out[i].model_logprobs[t]);
        }
        if (k == 4) {
          EXPECT_LT(out[i].tokens[t], 259);
        }
        EXPECT_TRUE(std::isfinite(out[i].sampler_logprobs[t]));
      }
      EXPECT_NEAR(out[i].sum_sampler_logprob, q_sum[i], double(out[i].tokens.size()) * tol_q) << "setting " << k;
    }
  }
}

TEST(Generate, GreedyIsArgmaxWithZeroLogQ) {
  model::CausalLM m = test_model();
  model::GenerationParams gp;
  gp.sampling.temperature = 0.0;
  gp.max_new_tokens = 5;
  auto reqs = requests();
  auto a = model::generate(*m, reqs, gp, 1);
  auto b = model::generate(*m, reqs, gp, 2);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens);
    EXPECT_EQ(a[i].sum_sampler_logprob, 0.0);
    model::PaddedBatch pb = model::left_pad({reqs[i].prompt}, torch::kCPU);
    torch::NoGradGuard g;
    torch::Tensor logits = m->forward(pb.input_ids, pb.position_ids, pb.mask);
    EXPECT_EQ(logits[0][-1].argmax().item<int64_t>(), a[i].tokens[0]);
  }
}

TEST(Generate, StopTokensStopStringsAndLength) {
  model::CausalLM m = test_model();
  test::TempDir dir("tok");
  model::write_byte_level_tokenizer(dir.str(), {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 0);
  model::Tokenizer tok = model::Tokenizer::load(dir.str());
  model::GenerationParams gp;
  gp.max_new_tokens = 40;
  gp.sampling.vocab_limit = tok.vocab_size();
  auto reqs = requests();
  auto free = model::generate(*m, reqs, gp, 8);
  for (const auto& r : free) {
    EXPECT_EQ(r.tokens.size(), 40u);
    EXPECT_EQ(r.finish_reason, model::FinishReason::Length);
  }
  // Stop token: the first occurrence of the token at position 3 ends the sequence there.
  {
    const int32_t stop = free[0].tokens[3];
    const size_t first = std::find(free[0].tokens.begin(), free[0].tokens.end(), stop) - free[0].tokens.begin();
    model::GenerationParams sp = gp;
    sp.stop_token_ids = {stop};
    auto out = model::generate(*m, {reqs[0]}, sp, 8);
    EXPECT_EQ(out[0].tokens, std::vector<int32_t>(free[0].tokens.begin(), free[0].tokens.begin() + first + 1));
    EXPECT_EQ(out[0].finish_reason, model::FinishReason::Stop);
  }
  // Stop string: a printable ASCII character whose first occurrence in the decoded
  // response comes from token j; generation must end with token j.
  bool tested = false;
  for (size_t i = 0; i < free.size() && !tested; ++i) {
    const auto& t = free[i].tokens;
    for (size_t j = 0; j < t.size(); ++j) {
      if (t[j] < 33 || t[j] > 126) continue;
      const std::string c(1, static_cast<char>(t[j]));
      if (tok.decode(std::vector<int32_t>(t.begin(), t.begin() + j)).find(c) != std::string::npos) continue;
      model::GenerationParams sp = gp;
      sp.stop_strings = {"never-produced-\x01", c};
      auto out = model::generate(*m, {reqs[i]}, sp, 8, &tok);
      EXPECT_EQ(out[0].tokens, std::vector<int32_t>(t.begin(), t.begin() + j + 1));
      EXPECT_EQ(out[0].finish_reason, model::FinishReason::Stop);
      EXPECT_EQ(out[0].stop_string, c);
      tested = true;
      break;
    }
  }
  EXPECT_TRUE(tested);
  model::GenerationParams sp = gp;
  sp.stop_strings = {"x"};
  EXPECT_THROW(model::generate(*m, reqs, sp, 8), core::ConfigError);
  EXPECT_THROW(model::generate(*m, {{{}, 0, 0}}, gp, 8), core::DataError);
  EXPECT_THROW(model::generate(*m, {{{999}, 0, 0}}, gp, 8), core::DataError);
}

// Scoring a pair alone or in a batch with longer (more left padding) items gives the same
// log-probs; chunking over positions and items changes nothing beyond fp32 rounding; the
// per-token values equal the log-softmax of a full forward pass. Tolerance: the fp32 path
// bound (see the top; padding, batch and chunk shapes change the summation orders), plus,
// against torch's fp32 log_softmax, that function's own error (fp32_log_softmax_error).
TEST(Score, InvariantToPaddingAndChunksAndMatchesFullForward) {
  model::CausalLM m = test_model("qwen3");
  std::vector<model::ScoreItem> items = {{{1, 2, 3}, {4, 5, 6, 7}},
                                         {{8, 9, 10, 11, 12, 13, 14, 15, 16}, {17, 18}},
                                         {{19}, {}},
                                         {{20, 21}, {22}}};
  model::ScoreResult all = model::score(*m, items);
  model::ScoreOptions tiny_chunks;
  tiny_chunks.chunk_tokens = 1;
  tiny_chunks.max_batch_size = 3;
  model::ScoreResult chunked = model::score(*m, items, tiny_chunks);
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& it : items) {
    seqs.push_back(it.prompt);
    seqs.back().insert(seqs.back().end(), it.response.begin(), it.response.end());
  }
  const double z = max_abs_logit(*m, seqs);
  const double tol = fp32_logprob_bound(m->config(), z);
  const double tol_fp32_lsm = tol + fp32_log_softmax_error(double(m->config().vocab_size), z);
  EXPECT_TRUE(torch::allclose(all.token_logprobs, chunked.token_logprobs, 0, tol));
  EXPECT_TRUE(torch::equal(all.response_mask, chunked.response_mask));
  EXPECT_EQ(all.token_logprobs.sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(all.sums()[2], 0.0);
  for (size_t i = 0; i < items.size(); ++i) {
    model::ScoreResult alone = model::score(*m, {items[i]});
    auto a = alone.per_token()[0];
    auto b = all.per_token()[i];
    ASSERT_EQ(a.size(), items[i].response.size());
    ASSERT_EQ(b.size(), a.size());
    for (size_t t = 0; t < a.size(); ++t) EXPECT_NEAR(a[t], b[t], tol);
    // Full forward over prompt + response without padding.
    std::vector<int32_t> seq = items[i].prompt;
    seq.insert(seq.end(), items[i].response.begin(), items[i].response.end());
    model::PaddedBatch pb = model::left_pad({seq}, torch::kCPU);
    torch::NoGradGuard g;
    torch::Tensor lsm = torch::log_softmax(m->forward(pb.input_ids, pb.position_ids, pb.mask)[0], -1);
    const size_t P = items[i].prompt.size();
    for (size_t t = 0; t < a.size(); ++t)
      EXPECT_NEAR(a[t], lsm[P + t - 1][items[i].response[t]].item<double>(), tol_fp32_lsm);
  }
  model::ScoreOptions with_hidden;
  with_hidden.prompt_hidden_mean = true;
  model::ScoreResult h = model::score(*m, items, with_hidden);
  ASSERT_TRUE(h.prompt_hidden_mean.defined());
  EXPECT_EQ(h.prompt_hidden_mean.sizes(), (std::vector<int64_t>{4, 64}));
  model::PaddedBatch pb = model::left_pad({items[1].prompt}, torch::kCPU);
  torch::NoGradGuard g;
  torch::Tensor hs = m->hidden_states(pb.input_ids, pb.position_ids, pb.mask)[0].mean(0);
  // The same path model on the hidden-state scale (the logit bound, without the log-prob
  // factor 2); the mean over <= 9 positions adds ~3 u.
  const double tol_hidden = fp32_logprob_bound(m->config(), hs.abs().max().item<double>()) / 2;
  EXPECT_LT((hs - h.prompt_hidden_mean[1]).abs().max().item<double>(), tol_hidden);
  EXPECT_THROW(model::score(*m, {{{}, {1}}}), core::DataError);
}

// One distribution for the policy (issue: the sampled policy was not the scored one). The
// tiny preset's embedding has 320 rows for the tokenizer's 259 ids; here the 61 padded
// output rows are made to carry a large share of the full-vocabulary softmax (as after
// training had pushed mass there: each is a copy of the most likely in-vocabulary output
// row). With the model restricted to the tokenizer's ids (restrict_to_tokenizer),
// (a) no padded id is ever sampled, (b) the sampler's log q equals the teacher-forced and
// the differentiable score, and (c) the sampled frequency of every frequent response
// agrees with its scored probability within sampling error. Scoring over all 320 ids
// (the old behaviour) puts each probability too low by the padded share (checked > 25%),
// which (c) detects by dozens of standard errors.
// Error model of (c): N = 6000 one-token draws, a response of probability p has frequency
// p +- sqrt(p (1 - p) / N); 4.5 standard errors over ~10 checked responses gives a false
// alarm probability below 1e-3 (Bonferroni), while a 25% relative shift of p >= 0.01 is
// >= 1.9 standard errors per response, and the shift has the same sign for every one.
TEST(PolicyVocabulary, SampledFrequenciesMatchScoredProbabilities) {
  disa::test::TempDir dir("policy_vocab");
  model::write_byte_level_tokenizer(dir.str(), {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 0);
  const model::Tokenizer tok = model::Tokenizer::load(dir.str());
  model::ModelConfig c = model::preset_config("qwen2", "tiny");
  c.initializer_range = 0.6;  // peaked: several responses above 1%
  model::CausalLM m = model::init_random_model(c, 21);
  const int64_t V = c.vocab_size, L = tok.vocab_size();
  ASSERT_GT(V, L);
  const std::vector<int32_t> prompt = {72, 105, 33, 10};
  auto next_token_probs = [&] {
    torch::NoGradGuard no_grad;
    torch::Tensor h = m->hidden_states(torch::tensor(std::vector<int64_t>(prompt.begin(), prompt.end())).unsqueeze(0),
                                       torch::arange(int64_t(prompt.size())).unsqueeze(0));
    return torch::softmax(m->logits(h.select(1, -1)).to(torch::kDouble), -1).squeeze(0);
  };
  {
    // Every padded output row: a copy of the most likely in-vocabulary row.
    torch::NoGradGuard no_grad;
    const int64_t top = next_token_probs().narrow(0, 0, L).argmax().item<int64_t>();
    torch::Tensor w = m->lm_head_weight();  // all V rows: not restricted yet
    for (int64_t r = L; r < V; ++r) w[r].copy_(w[top]);
  }
  // The padded share of the full softmax at the response position.
  const double padded_share = next_token_probs().narrow(0, L, V - L).sum().item<double>();
  ASSERT_GT(padded_share, 0.25) << "the test needs the padded ids to carry mass";

  model::restrict_to_tokenizer(*m, tok);
  EXPECT_EQ(m->output_vocab(), L);
  model::GenerationParams gp;
  gp.max_new_tokens = 1;
  gp.max_batch_size = 500;
  model::set_model_stops(gp, *m, tok);
  gp.stop_token_ids.clear();  // one-token responses: the response space is the L ids
  const int64_t N = 6000;
  std::vector<model::GenerationRequest> reqs;
  for (int64_t s = 0; s < N; ++s) reqs.push_back({prompt, 7, s});
  auto out = model::generate(*m, reqs, gp, 13);
  std::map<std::vector<int32_t>, int64_t> counts;
  std::map<std::vector<int32_t>, double> sampler_logq;
  for (const auto& g : out) {
    for (int32_t t : g.tokens) ASSERT_LT(t, L) << "a padded id was sampled";
    ++counts[g.tokens];
    sampler_logq[g.tokens] = g.sum_sampler_logprob;
  }
  std::vector<std::pair<int64_t, std::vector<int32_t>>> frequent;
  for (const auto& [y, n] : counts)
    if (n >= 60) frequent.push_back({n, y});  // p >= 0.01
  ASSERT_GE(frequent.size(), 3u);
  std::vector<model::ScoreItem> items;
  for (const auto& f : frequent) items.push_back({prompt, f.second});
  const auto scored = model::score(*m, items).sums();
  model::ScoreOptions diff;
  diff.differentiable = true;
  const torch::Tensor d = model::score(*m, items, diff).sum_logprobs.detach().to(torch::kDouble);
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& f : frequent) {
    seqs.push_back(prompt);
    seqs.back().insert(seqs.back().end(), f.second.begin(), f.second.end());
  }
  const double z = max_abs_logit(*m, seqs);
  const double K = double(std::max(c.hidden_size, c.intermediate_size));
  for (size_t i = 0; i < frequent.size(); ++i) {
    const double p = std::exp(scored[i]);
    const double freq = double(frequent[i].first) / double(N);
    const double se = std::sqrt(p * (1 - p) / double(N));
    const double n_tokens = double(frequent[i].second.size());
    // fp32 logits along two paths (the sampler's prefill of 500 rows vs the scorer's
    // batch), double log-softmax: the fp32 path bound per token.
    EXPECT_NEAR(sampler_logq.at(frequent[i].second), scored[i], n_tokens * fp32_logprob_bound(c, z));
    // The differentiable path: the same hidden states, the head GEMM possibly chunked
    // otherwise (2 sqrt(K) u max|z| per log-prob) and an fp32 log-softmax over the L ids.
    EXPECT_NEAR(d[int64_t(i)].item<double>(), scored[i],
                n_tokens * (2.0 * std::sqrt(K) * z * kU + fp32_log_softmax_error(double(L), z)));
    EXPECT_NEAR(freq, p, 4.5 * se) << "response " << i << ": sampled " << freq << ", scored " << p << " ("
                                   << (freq - p) / se << " standard errors)";
  }
  // A padded id has no probability in the policy: scoring it is an error, not -inf.
  EXPECT_THROW(model::score(*m, {{prompt, {int32_t(L + 1)}}}), core::DataError);
}

// bf16 weights (the GPU configuration), run on CPU: the sampler's log q and the re-scored
// log q (teacher-forced, the anchor stage's and the trainer's score()) are the same
// distribution computed along two paths (KV-cache decode steps vs one prefill), each with
// bf16 GEMMs and fp32 log-softmax. Error model: every bf16 rounding is relative
// u = 2^-8; an activation passes through ~4 roundings per layer (attention in/out, MLP
// in/out), so a logit z carries |dz| <~ 4 (layers + 1) u |z| on each path, and a token's
// log-softmax moves by at most 2 max|dz| (its own logit and the log-sum-exp). The bound
// per token is therefore 8 (layers + 1) u max|z|, with max|z| measured on the same batch.
// (docs/model.md quotes it and the measured values.)
TEST(Bf16, SamplerLogQMatchesRescoringWithinBf16Bound) {
  for (const auto& [arch, size] :
       std::vector<std::pair<std::string, std::string>>{{"qwen3", "small"}, {"llama", "tiny"}, {"qwen2", "tiny"}}) {
    model::ModelConfig c = model::preset_config(arch, size);
    c.initializer_range = 0.1;
    model::CausalLM m = model::init_random_model(c, 5);
    m->to(torch::kBFloat16);
    ASSERT_EQ(m->dtype(), torch::kBFloat16);
    model::GenerationParams gp;
    gp.max_new_tokens = 16;
    auto reqs = requests();
    auto out = model::generate(*m, reqs, gp, 3);
    std::vector<model::ScoreItem> items;
    for (size_t i = 0; i < reqs.size(); ++i) items.push_back({reqs[i].prompt, out[i].tokens});
    auto tok = model::score(*m, items).per_token();
    model::ScoreOptions diff;
    diff.differentiable = true;
    model::ScoreResult d = model::score(*m, items, diff);
    torch::Tensor dl = d.token_logprobs.detach().to(torch::kDouble);
    // max |logit| over the scored positions (fp32 of the bf16 GEMM).
    const double max_logit = max_abs_logit(*m, sequences(reqs, out));
    const double u = std::ldexp(1.0, -8);
    const double bound = 8.0 * double(c.num_hidden_layers + 1) * u * max_logit;
    double worst = 0, worst_diff = 0;
    for (size_t i = 0; i < reqs.size(); ++i)
      for (size_t t = 0; t < out[i].tokens.size(); ++t) {
        ASSERT_TRUE(std::isfinite(out[i].sampler_logprobs[t]));
        worst = std::max(worst, std::abs(out[i].sampler_logprobs[t] - tok[i][t]));
        worst_diff = std::max(worst_diff, std::abs(dl[int64_t(i)][int64_t(t)].item<double>() - tok[i][t]));
      }
    std::printf(
        "bf16 %s %s: max |sampler log q - rescored| %.3g, differentiable vs double %.3g, "
        "bound %.3g (max |logit| %.3g)\n",
        arch.c_str(), size.c_str(), worst, worst_diff, bound, max_logit);
    EXPECT_LE(worst, bound) << arch << " " << size;
    // Same hidden states, same bf16 GEMM; fp32 vs double log-softmax only
    // (fp32_log_softmax_error: ~4e-6 for V = 320, max|z| = 10). Were the two paths' bf16
    // logits to differ, by 2^-8 |z|, this would fail.
    EXPECT_LE(worst_diff, fp32_log_softmax_error(double(c.vocab_size), max_logit)) << arch << " " << size;
  }
}
