// Architecture and configuration tests: config.json parsing (unsupported fields are
// errors naming them), HF parameter names, parameter counts, tied/untied heads, KV-cache
// decoding equal to a full forward pass, and invariance to left padding. The numerical
// architecture check against an independent implementation is test_model_reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "disa/core/error.hpp"
#include "disa/model/causal_lm.hpp"
#include "disa/model/weights.hpp"
#include "model_test_util.hpp"

using namespace disa;
using nlohmann::json;

namespace {

json base_config() {
  std::ifstream in(test::model_fixture("configs/qwen2_tied.json"));
  return json::parse(in);
}

std::string config_error(const json& j) {
  try {
    model::ModelConfig::from_json(j, "cfg.json");
  } catch (const core::ModelError& e) {
    return e.what();
  }
  return "";
}

using test::fp32_logit_bound;  // the error model: model_test_util.hpp

const char* kFixtures[] = {"configs/qwen2_tied.json", "configs/qwen3_untied_head_dim.json",
                           "configs/llama_llama3_bias.json", "configs/llama_linear_tied.json"};

}  // namespace

TEST(ModelConfig, ParsesFixtures) {
  model::ModelConfig q2 = test::fixture_config("configs/qwen2_tied.json");
  EXPECT_EQ(q2.model_type, "qwen2");
  EXPECT_TRUE(q2.qkv_bias);
  EXPECT_FALSE(q2.o_bias);
  EXPECT_TRUE(q2.tie_word_embeddings);
  EXPECT_EQ(q2.head_dim, 8);
  model::ModelConfig q3 = test::fixture_config("configs/qwen3_untied_head_dim.json");
  EXPECT_TRUE(q3.qk_norm);
  EXPECT_EQ(q3.head_dim, 12);
  EXPECT_EQ(q3.torch_dtype, "bfloat16");
  model::ModelConfig l3 = test::fixture_config("configs/llama_llama3_bias.json");
  EXPECT_EQ(l3.rope_scaling.type, model::RopeScaling::Type::Llama3);
  EXPECT_EQ(l3.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_TRUE(l3.mlp_bias && l3.o_bias && l3.qkv_bias);
  EXPECT_EQ(l3.eos_token_ids, (std::vector<int64_t>{2, 3}));
  model::ModelConfig ll = test::fixture_config("configs/llama_linear_tied.json");
  EXPECT_EQ(ll.rope_scaling.type, model::RopeScaling::Type::Linear);
  EXPECT_EQ(ll.rope_scaling.factor, 2.0);  // parsed from "2.0": exact
}

TEST(ModelConfig, UnsupportedFieldsAndValuesNameTheField) {
  json j = base_config();
  j["foo_bar"] = 1;
  EXPECT_NE(config_error(j).find("foo_bar"), std::string::npos);
  j = base_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(config_error(j).find("rope_scaling.rope_type"), std::string::npos);
  j = base_config();
  j["hidden_act"] = "gelu";
  EXPECT_NE(config_error(j).find("hidden_act"), std::string::npos);
  j = base_config();
  j["use_sliding_window"] = true;
  EXPECT_NE(config_error(j).find("use_sliding_window"), std::string::npos);
  j = base_config();
  j["model_type"] = "mistral";
  EXPECT_NE(config_error(j).find("model_type"), std::string::npos);
  j = base_config();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(config_error(j).find("num_key_value_heads"), std::string::npos);
  j = base_config();
  j.erase("hidden_size");
  EXPECT_NE(config_error(j).find("hidden_size"), std::string::npos);
  j = base_config();
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"beta_fast", 3}};
  EXPECT_NE(config_error(j).find("rope_scaling.beta_fast"), std::string::npos);
  j = base_config();
  j["quantization_config"] = {{"quant_method", "gptq"}};
  EXPECT_NE(config_error(j).find("quantization_config"), std::string::npos);
  EXPECT_EQ(config_error(base_config()), "");
}

TEST(ModelConfig, JsonRoundTripAndParameterCount) {
  for (std::string arch : {"qwen2", "qwen3", "llama"})
    for (std::string size : {"tiny", "small"}) {
      model::ModelConfig c = model::preset_config(arch, size);
      model::ModelConfig back = model::ModelConfig::from_json(c.to_json(), "roundtrip");
      EXPECT_EQ(back.to_json(), c.to_json()) << arch << " " << size;
      if (size == "small") {
        EXPECT_GT(c.num_parameters(), 20'000'000);
        EXPECT_LT(c.num_parameters(), 30'000'000);
        continue;
      }
      model::CausalLM m(c);
      int64_t n = 0;
      for (const auto& p : m->parameters()) n += p.numel();
      EXPECT_EQ(n, c.num_parameters()) << arch;
    }
  for (const char* f : kFixtures) {
    model::ModelConfig c = test::fixture_config(f);
    model::CausalLM m(c);
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    EXPECT_EQ(n, c.num_parameters()) << f;
    EXPECT_EQ(model::ModelConfig::from_json(c.to_json(), f).to_json(), c.to_json()) << f;
  }
}

TEST(CausalLM, HfParameterNamesAndHeads) {
  model::CausalLM q2(test::fixture_config("configs/qwen2_tied.json"));
  auto names = q2->named_parameters().keys();
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("model.embed_tokens.weight"));
  EXPECT_TRUE(has("model.layers.1.self_attn.q_proj.bias"));
  EXPECT_FALSE(has("model.layers.1.self_attn.o_proj.bias"));
  EXPECT_TRUE(has("model.layers.0.mlp.down_proj.weight"));
  EXPECT_TRUE(has("model.layers.0.post_attention_layernorm.weight"));
  EXPECT_TRUE(has("model.norm.weight"));
  EXPECT_FALSE(has("lm_head.weight"));
  EXPECT_TRUE(q2->lm_head_weight().is_same(q2->model->embed_tokens->weight));

  model::CausalLM q3(test::fixture_config("configs/qwen3_untied_head_dim.json"));
  names = q3->named_parameters().keys();
  EXPECT_TRUE(has("model.layers.0.self_attn.q_norm.weight"));
  EXPECT_TRUE(has("model.layers.0.self_attn.k_norm.weight"));
  EXPECT_TRUE(has("lm_head.weight"));
  EXPECT_FALSE(has("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_FALSE(q3->lm_head_weight().is_same(q3->model->embed_tokens->weight));
  EXPECT_EQ(q3->model->layers->ptr<model::DecoderLayerImpl>(0)->self_attn->q_proj->weight.size(0), 4 * 12);
}

// Prefill of the prompt + one cached step per continuation token equals a full forward
// pass over prompt + continuation (tolerance: fp32_logit_bound, ~2e-5 here).
TEST(CausalLM, KvCacheDecodingMatchesFullForward) {
  torch::NoGradGuard no_grad;
  for (const char* f : kFixtures) {
    model::ModelConfig c = test::fixture_config(f);
    model::CausalLM m = model::init_random_model(c, 7);
    std::vector<std::vector<int32_t>> prompts = {{5, 6, 7, 8, 9}, {10, 11}, {12, 13, 14}};
    std::vector<std::vector<int32_t>> cont = {{20, 21, 22, 23}, {30, 31, 32, 33}, {40, 41, 42, 43}};
    const int64_t steps = 4;
    std::vector<std::vector<int32_t>> full;
    for (size_t i = 0; i < prompts.size(); ++i) {
      full.push_back(prompts[i]);
      full.back().insert(full.back().end(), cont[i].begin(), cont[i].end());
    }
    model::PaddedBatch fb = model::left_pad(full, torch::kCPU);
    torch::Tensor ref = m->forward(fb.input_ids, fb.position_ids, fb.mask);  // [B, T, V]
    const int64_t T = fb.input_ids.size(1);
    // Scale: the compared positions (the last steps + 1, real tokens in every row).
    const double tol = fp32_logit_bound(c, ref.narrow(1, T - steps - 1, steps).abs().max().item<double>());

    model::PaddedBatch pb = model::left_pad(prompts, torch::kCPU);
    model::KvCache cache = m->make_cache(3, pb.input_ids.size(1) + steps);
    torch::Tensor out = m->forward(pb.input_ids, pb.position_ids, pb.mask, &cache);
    // Last prompt position predicts the first continuation token.
    EXPECT_LT((out.select(1, -1) - ref.select(1, T - steps - 1)).abs().max().item<double>(), tol) << f;
    torch::Tensor pos = torch::tensor(pb.lengths, torch::kLong);
    for (int64_t s = 0; s < steps - 1; ++s) {
      std::vector<int64_t> tok;
      for (const auto& cc : cont) tok.push_back(cc[s]);
      torch::Tensor step = m->forward(torch::tensor(tok).view({3, 1}), (pos + s).view({3, 1}), {}, &cache);
      const double d = (step.select(1, 0) - ref.select(1, T - steps + s)).abs().max().item<double>();
      EXPECT_LT(d, tol) << f << " step " << s;
    }
    EXPECT_EQ(cache.length, pb.input_ids.size(1) + steps - 1);
  }
}

// A sequence's logits do not depend on the left padding around it (tolerance:
// fp32_logit_bound, ~1.5e-5 - 2e-5 here; padding changes the GEMM shapes and the length of
// the attention sums).
TEST(CausalLM, LeftPaddingInvariance) {
  torch::NoGradGuard no_grad;
  for (const char* f : kFixtures) {
    const model::ModelConfig c = test::fixture_config(f);
    model::CausalLM m = model::init_random_model(c, 3);
    std::vector<int32_t> seq = {1, 2, 3, 4, 5, 6};
    model::PaddedBatch alone = model::left_pad({seq}, torch::kCPU);
    model::PaddedBatch padded = model::left_pad({{7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, seq}, torch::kCPU);
    torch::Tensor a = m->forward(alone.input_ids, alone.position_ids, alone.mask)[0];
    torch::Tensor b = m->forward(padded.input_ids, padded.position_ids, padded.mask)[1];
    EXPECT_LT((a - b.narrow(0, 4, 6)).abs().max().item<double>(), fp32_logit_bound(c, a.abs().max().item<double>()))
        << f;
    EXPECT_TRUE(torch::isfinite(b).all().item<bool>()) << f;
  }
}

TEST(CausalLM, RejectsBadInputs) {
  model::CausalLM m = model::init_random_model(test::fixture_config("configs/qwen2_tied.json"), 1);
  torch::NoGradGuard no_grad;
  model::KvCache cache = m->make_cache(1, 2);
  torch::Tensor ids = torch::zeros({1, 3}, torch::kLong);
  EXPECT_THROW(m->forward(ids, ids, {}, &cache), core::ModelError);
  EXPECT_THROW(m->forward(ids.view({3}), ids.view({3})), core::ModelError);
}

// The config.json files of real checkpoints (Qwen2.5-7B-Instruct, Qwen3-8B,
// Llama-3.1-8B-Instruct, as published on the HF hub) parse, and their parameter counts are
// the published ones.
TEST(ModelConfig, RealCheckpointConfigs) {
  struct Case {
    const char* file;
    int64_t parameters;
  };
  for (const Case& c :
       {Case{"hf_configs/qwen2.5-7b-instruct.json", 7'615'616'512}, Case{"hf_configs/qwen3-8b.json", 8'190'735'360},
        Case{"hf_configs/llama-3.1-8b-instruct.json", 8'030'261'248}}) {
    model::ModelConfig mc = test::fixture_config(c.file);
    EXPECT_EQ(mc.num_parameters(), c.parameters) << c.file;
    EXPECT_EQ(model::ModelConfig::from_json(mc.to_json(), c.file).to_json(), mc.to_json()) << c.file;
  }
  model::ModelConfig llama = test::fixture_config("hf_configs/llama-3.1-8b-instruct.json");
  EXPECT_EQ(llama.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(llama.rope_scaling.type, model::RopeScaling::Type::Llama3);
  // Llama 3.1 frequencies: the highest band is unchanged, the lowest divided by 8.
  // inv[0] = 1 / theta^0 = 1 exactly. inv[63] is an fp32 powf (within ~1 ulp, 2^-23
  // relative) and two roundings to fp32 (half an ulp each) against the double formula:
  // <= ~2.4e-7 relative. 1e-5 is 40x that and far below a wrong band (a missing or
  // doubled factor 8).
  torch::Tensor inv = model::rope_inverse_frequencies(llama);
  EXPECT_FLOAT_EQ(inv[0].item<float>(), 1.0f);
  const double lowest = 1.0 / std::pow(500000.0, 126.0 / 128.0) / 8.0;
  EXPECT_NEAR(inv[63].item<double>() / lowest, 1.0, 1e-5);
}
