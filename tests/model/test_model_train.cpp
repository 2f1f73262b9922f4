// Training-side tests: the differentiable chunked scorer's gradients equal plain autograd
// through a full log-softmax; LoRA at init equals the base model, only adapters receive
// gradients, merging reproduces the adapted model, PEFT save/load round-trips; and a tiny
// model overfits a few sequences to near-zero loss with gradients reaching every
// parameter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "disa/core/error.hpp"
#include "disa/io/safetensors.hpp"
#include "disa/model/lora.hpp"
#include "disa/model/score.hpp"
#include "disa/model/weights.hpp"
#include "model_test_util.hpp"

using namespace disa;

namespace {

const std::vector<model::ScoreItem> kItems = {{{1, 2, 3}, {4, 5, 6, 7}},
                                              {{8, 9, 10, 11, 12}, {13, 14}},
                                              {{15, 16}, {17, 18, 19}}};

using test::fp32_log_softmax_error;  // the error models: model_test_util.hpp
using test::fp32_logit_bound;
using test::kU;

torch::Tensor logits_of(model::CausalLMImpl& m) {
  torch::NoGradGuard g;
  model::PaddedBatch b = model::left_pad({{1, 2, 3, 4}, {5, 6}}, torch::kCPU);
  return m.forward(b.input_ids, b.position_ids, b.mask);
}

// Sum of response log-probs via a full [B, T, V] log-softmax (the naive reference).
torch::Tensor naive_sum(model::CausalLMImpl& m, double temperature) {
  torch::Tensor total = torch::zeros({});
  for (const auto& it : kItems) {
    std::vector<int32_t> seq = it.prompt;
    seq.insert(seq.end(), it.response.begin(), it.response.end());
    model::PaddedBatch b = model::left_pad({seq}, torch::kCPU);
    torch::Tensor lsm = torch::log_softmax(m.forward(b.input_ids, b.position_ids, b.mask)[0] / temperature, -1);
    for (size_t t = 0; t < it.response.size(); ++t) total = total + lsm[it.prompt.size() + t - 1][it.response[t]];
  }
  return total;
}

std::map<std::string, torch::Tensor> grads(model::CausalLMImpl& m) {
  std::map<std::string, torch::Tensor> g;
  for (auto& p : m.named_parameters())
    if (p.value().grad().defined()) g[p.key()] = p.value().grad().clone();
  return g;
}

void zero_grads(model::CausalLMImpl& m) {
  for (auto& p : m.parameters())
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

}  // namespace

// Gradients of the chunked, recomputing scorer equal autograd through the full
// log-softmax (relative tolerance 1e-4), tied and untied heads, temperature 1 and 0.7.
// The scorer runs the three items as one padded batch with 2-row logit chunks, the naive
// reference each item alone: two fp32 paths (error model above).
TEST(DifferentiableScore, GradientsMatchNaiveAutograd) {
  for (const char* f : {"configs/qwen2_tied.json", "configs/llama_llama3_bias.json"})
    for (double temperature : {1.0, 0.7}) {
      model::CausalLM m = model::init_random_model(test::fixture_config(f), 4);
      model::ScoreOptions so;
      so.differentiable = true;
      so.sampling.temperature = temperature;
      so.chunk_tokens = 2;
      model::ScoreResult r = model::score(*m, kItems, so);
      ASSERT_TRUE(r.sum_logprobs.requires_grad());
      r.sum_logprobs.sum().backward();
      auto g1 = grads(*m);
      zero_grads(*m);
      torch::Tensor naive = naive_sum(*m, temperature);
      // Per token: the path bound for log-probs at this temperature and both sides' fp32
      // log-softmax; the n = 9 log-probs then summed in fp32 on both sides (<= n u sum|l|
      // each, sum|l| = |naive| as every log-prob is <= 0).
      double z = 0;
      {
        torch::NoGradGuard g;
        for (const auto& it : kItems) {
          std::vector<int32_t> seq = it.prompt;
          seq.insert(seq.end(), it.response.begin(), it.response.end());
          model::PaddedBatch b = model::left_pad({seq}, torch::kCPU);
          z = std::max(z, m->forward(b.input_ids, b.position_ids, b.mask).abs().max().item<double>() / temperature);
        }
      }
      double n = 0;
      for (const auto& it : kItems) n += double(it.response.size());
      const double per_token = 2.0 * fp32_logit_bound(m->config(), z) +
                               2.0 * fp32_log_softmax_error(double(m->config().vocab_size), z);
      const double tol = n * per_token + 2.0 * n * kU * std::abs(naive.item<double>());
      EXPECT_NEAR(naive.item<double>(), r.sum_logprobs.sum().item<double>(), tol);
      naive.backward();
      auto g2 = grads(*m);
      ASSERT_EQ(g1.size(), g2.size()) << f;
      // A gradient entry sums per-token contributions that went through the same fp32
      // reductions forward and backward: ~2 x 4 (L + 1) sqrt(K) u = 1.1e-5 (L = 2, K = 64)
      // relative to the tensor's largest entry. 1e-4 leaves 9x; a dropped chunk or a wrong
      // temperature factor is an O(1) relative error. The 1e-3 floor only keeps an
      // all-but-zero gradient from turning rounding into a relative failure.
      for (const auto& [name, g] : g2) {
        ASSERT_TRUE(g1.count(name)) << name;
        const double scale = std::max(1e-3, g.abs().max().item<double>());
        EXPECT_LT((g1[name] - g).abs().max().item<double>() / scale, 1e-4) << f << " " << name;
      }
    }
}

TEST(Lora, InitEqualsBaseAndOnlyAdaptersGetGradients) {
  model::CausalLM m = model::init_random_model(test::fixture_config("configs/qwen3_untied_head_dim.json"), 4);
  torch::Tensor base = logits_of(*m);
  model::LoraConfig lc;
  lc.rank = 4;
  lc.alpha = 8;
  lc.target_modules = {"q", "v", "down_proj"};
  auto params = model::apply_lora(*m, lc, 1);
  EXPECT_EQ(params.size(), 2u * 3 * 2);  // A and B x 3 targets x 2 layers
  EXPECT_TRUE(torch::equal(base, logits_of(*m)));
  model::ScoreOptions so;
  so.differentiable = true;
  m->train();
  model::score(*m, kItems, so).sum_logprobs.sum().backward();
  for (auto& p : m->named_parameters()) {
    const bool is_adapter = p.key().find("lora_") != std::string::npos;
    EXPECT_EQ(p.value().requires_grad(), is_adapter) << p.key();
    if (!is_adapter) {
      EXPECT_FALSE(p.value().grad().defined()) << p.key();
    }
    if (p.key().find("lora_B") != std::string::npos) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
    }
  }
  EXPECT_NE(m->named_parameters().find("model.layers.1.self_attn.q_proj.lora_A"), nullptr);
  EXPECT_EQ(m->named_parameters().find("model.layers.1.self_attn.k_proj.lora_A"), nullptr);
  model::LoraConfig bad;
  bad.target_modules = {"qkv"};
  EXPECT_THROW(bad.validate(), core::ConfigError);
}

// On a bf16 model the adapters are fp32 (as PEFT's autocast_adapter_dtype), the adapted
// model starts equal to the base, and gradients reach the adapters.
TEST(Lora, Bf16ModelHasFp32Adapters) {
  model::CausalLM m =
      model::init_random_model(test::fixture_config("configs/qwen2_tied.json"), 4, torch::kCPU, torch::kBFloat16);
  torch::Tensor base = logits_of(*m);
  model::LoraConfig lc;
  auto params = model::apply_lora(*m, lc, 1);
  for (const auto& p : params) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(base, logits_of(*m)));
  model::ScoreOptions so;
  so.differentiable = true;
  model::score(*m, kItems, so).sum_logprobs.sum().backward();
  double total = 0;
  for (const auto& p : model::lora_parameters(*m))
    if (p.grad().defined()) total += p.grad().abs().sum().item<double>();
  EXPECT_GT(total, 0.0);
}

TEST(Lora, MergeAndPeftSaveLoad) {
  model::CausalLM m = model::init_random_model(test::fixture_config("configs/llama_llama3_bias.json"), 4);
  const torch::Tensor base = logits_of(*m);
  model::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 6;
  model::apply_lora(*m, lc, 3);
  {
    // Adapters of sd 0.1 (scaled by alpha / rank = 3): the adapted weights stay at the base
    // weights' scale, the regime of the fp32 path bound used below, yet move the logits by
    // O(1). (At sd 0.3 every adapted weight is ~2x the base; activations then outgrow the
    // logits' scale and the bound, which takes max|z| as the scale, no longer holds.)
    // Seeded: the draw must not depend on the tests run before.
    torch::NoGradGuard g;
    torch::manual_seed(5);
    for (auto& p : model::lora_parameters(*m)) p.normal_(0.0, 0.1);
  }
  torch::Tensor adapted = logits_of(*m);
  EXPECT_GT((adapted - base).abs().max().item<double>(), 0.1) << "the adapters must matter";
  test::TempDir dir("peft");
  EXPECT_THROW(model::save_model(*m, dir / "full"), core::ModelError);
  model::save_lora_adapter(*m, lc, dir / "adapter", "base-model");
  auto file = io::safetensors::File::open(dir / "adapter/adapter_model.safetensors");
  EXPECT_NE(file->find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), nullptr);
  EXPECT_NE(file->find("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"), nullptr);
  EXPECT_EQ(file->tensors().size(), 2u * 7 * 2);
  std::ifstream cin(dir / "adapter/adapter_config.json");
  auto cfg = nlohmann::json::parse(cin);
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["r"], 2);
  EXPECT_EQ(cfg["target_modules"].size(), 7u);

  // Reload the adapter onto a fresh base model: same logits.
  model::CausalLM fresh = model::init_random_model(test::fixture_config("configs/llama_llama3_bias.json"), 4);
  model::LoraConfig back = model::load_lora_adapter(*fresh, dir / "adapter");
  EXPECT_EQ(back.rank, 2);
  // The same base weights (same seed), the adapters stored and read back as fp32, the same
  // computation: bitwise.
  EXPECT_TRUE(torch::equal(logits_of(*fresh), adapted));

  model::merge_lora(*m);
  EXPECT_TRUE(model::lora_parameters(*m).empty());
  EXPECT_EQ(m->named_parameters().find("model.layers.0.self_attn.q_proj.lora_A"), nullptr);
  // W' x with W' = W + s B A rounded to fp32, against W x + s B (A x): the same products
  // summed in other orders (the path bound; the rounding of W' is one more u per term).
  // The merged model saved as fp32 and loaded is the merged model, bitwise.
  const double merge_tol = fp32_logit_bound(m->config(), adapted.abs().max().item<double>());
  EXPECT_LT((logits_of(*m) - adapted).abs().max().item<double>(), merge_tol);
  for (auto& p : m->parameters()) EXPECT_TRUE(p.requires_grad());
  model::save_model(*m, dir / "merged");
  EXPECT_TRUE(torch::equal(logits_of(*model::load_model(dir / "merged")), logits_of(*m)));
  EXPECT_LT((logits_of(*model::load_model(dir / "merged")) - adapted).abs().max().item<double>(), merge_tol);
}

// A tiny model drives the mean token NLL of three sequences from ~log V to near zero;
// after the first backward every parameter has a nonzero gradient.
TEST(Training, TinyModelOverfitsAndGradientsReachEveryParameter) {
  torch::manual_seed(0);
  for (std::string arch : {"qwen2", "qwen3", "llama"}) {
    model::ModelConfig c = model::preset_config(arch, "tiny");
    if (arch == "llama") {
      c.qkv_bias = c.o_bias = c.mlp_bias = true;
      c.rope_scaling.type = model::RopeScaling::Type::Llama3;
      c.rope_scaling.factor = 4;
      c.rope_scaling.original_max_position_embeddings = 64;
    }
    model::CausalLM m = model::init_random_model(c, 21);
    m->train();
    const std::vector<model::ScoreItem> data = {{{256, 72, 101}, {108, 108, 111, 32, 119, 111, 114, 108, 100}},
                                                {{256, 49, 43, 49}, {61, 50, 256}},
                                                {{256, 97, 98}, {99, 100, 101, 102, 103, 104}}};
    int64_t n_tokens = 0;
    for (const auto& d : data) n_tokens += static_cast<int64_t>(d.response.size());
    torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-2));
    double first = 0, last = 0;
    for (int step = 0; step < 120; ++step) {
      opt.zero_grad();
      model::ScoreOptions so;
      so.differentiable = true;
      torch::Tensor loss = -model::score(*m, data, so).sum_logprobs.sum() / n_tokens;
      loss.backward();
      if (step == 0) {
        first = loss.item<double>();
        for (auto& p : m->named_parameters()) {
          ASSERT_TRUE(p.value().grad().defined()) << arch << " " << p.key();
          EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << arch << " " << p.key();
        }
      }
      opt.step();
      last = loss.item<double>();
    }
    // At init (initializer_range 0.02) the logits are small, Var(z) = s^2 << 1, and the
    // mean NLL is log V + ~s^2 / 2, a few 1e-2. 0.5 allows s up to ~1; a wrong loss
    // normalisation (a sum, not a mean: x 18) or a far too large init scale fails it.
    EXPECT_NEAR(first, std::log(320.0), 0.5) << arch;
    // A criterion, not a rounding tolerance: mean token NLL < 0.05 (every token memorised,
    // p ~ 0.95). The fp32 trajectory differs between CPU kernel sets (Adam normalises tiny
    // gradient differences up to ~lr per step), so only the reach is checked; a gradient
    // that does not reach a parameter or a wrong loss keeps it far above.
    EXPECT_LT(last, 0.05) << arch;
  }
}
