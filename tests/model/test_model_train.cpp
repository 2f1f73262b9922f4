// Training-side tests: the differentiable chunked scorer's gradients equal plain autograd
// through a full log-softmax; LoRA at init equals the base model, only adapters receive
// gradients, merging reproduces the adapted model, PEFT save/load round-trips; and a tiny
// model overfits a few sequences to near-zero loss with gradients reaching every
// parameter.
#include <gtest/gtest.h>

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
      EXPECT_NEAR(naive.item<double>(), r.sum_logprobs.sum().item<double>(), 1e-4);
      naive.backward();
      auto g2 = grads(*m);
      ASSERT_EQ(g1.size(), g2.size()) << f;
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
  model::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 6;
  model::apply_lora(*m, lc, 3);
  {
    torch::NoGradGuard g;
    for (auto& p : model::lora_parameters(*m)) p.normal_(0.0, 0.3);
  }
  torch::Tensor adapted = logits_of(*m);
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
  EXPECT_TRUE(torch::allclose(logits_of(*fresh), adapted, 0, 1e-6));

  model::merge_lora(*m);
  EXPECT_TRUE(model::lora_parameters(*m).empty());
  EXPECT_EQ(m->named_parameters().find("model.layers.0.self_attn.q_proj.lora_A"), nullptr);
  EXPECT_LT((logits_of(*m) - adapted).abs().max().item<double>(), 1e-4);
  for (auto& p : m->parameters()) EXPECT_TRUE(p.requires_grad());
  model::save_model(*m, dir / "merged");
  EXPECT_LT((logits_of(*model::load_model(dir / "merged")) - adapted).abs().max().item<double>(), 1e-4);
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
    EXPECT_NEAR(first, std::log(320.0), 0.5) << arch;
    EXPECT_LT(last, 0.05) << arch;
  }
}
