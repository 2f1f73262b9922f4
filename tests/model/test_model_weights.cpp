// Weights and safetensors I/O: round trips for F32/F16/BF16 (and a file written by an
// independent Python writer), sharded checkpoints with an index, model save/load, the
// documented errors for missing, unexpected and shape-mismatched tensors and corrupt
// files, fingerprints, and bf16 loading.
#include <gtest/gtest.h>

#include <cstring>

#include "disa/core/error.hpp"
#include "disa/io/safetensors.hpp"
#include "disa/model/weights.hpp"
#include "model_test_util.hpp"

using namespace disa;
namespace st = disa::io::safetensors;

namespace {

st::TensorData data_of(const std::string& name, const torch::Tensor& t, st::DType dt) {
  return {name, dt, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
          static_cast<size_t>(t.nbytes())};
}

torch::Tensor tensor_of(const st::TensorView& v, torch::Dtype dt) {
  torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(dt));
  std::memcpy(t.data_ptr(), v.data, v.nbytes);
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "";
}

torch::Tensor logits_of(model::CausalLMImpl& m) {
  torch::NoGradGuard g;
  model::PaddedBatch b = model::left_pad({{1, 2, 3, 4}, {5, 6}}, m.device());
  return m.forward(b.input_ids, b.position_ids, b.mask).to(torch::kCPU, torch::kFloat32);
}

}  // namespace

TEST(Safetensors, RoundTripF32F16BF16) {
  test::TempDir dir("st");
  torch::Tensor f32 = torch::randn({3, 5});
  torch::Tensor f16 = torch::randn({7}).to(torch::kFloat16);
  torch::Tensor bf16 = torch::randn({2, 2, 2}).to(torch::kBFloat16);
  torch::Tensor i64 = torch::arange(4, torch::kLong);
  const std::string path = dir / "t.safetensors";
  st::write_file(path,
                 {data_of("b.f16", f16, st::DType::F16), data_of("a.f32", f32, st::DType::F32),
                  data_of("c.bf16", bf16, st::DType::BF16), data_of("d.i64", i64, st::DType::I64)},
                 {{"format", "pt"}});
  auto f = st::File::open(path);
  ASSERT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_TRUE(torch::equal(tensor_of(*f->find("a.f32"), torch::kFloat32), f32));
  EXPECT_TRUE(torch::equal(tensor_of(*f->find("b.f16"), torch::kFloat16), f16));
  EXPECT_TRUE(torch::equal(tensor_of(*f->find("c.bf16"), torch::kBFloat16), bf16));
  EXPECT_TRUE(torch::equal(tensor_of(*f->find("d.i64"), torch::kLong), i64));
  EXPECT_EQ(f->find("c.bf16")->shape, (std::vector<int64_t>{2, 2, 2}));
  for (const auto& t : f->tensors())
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % st::dtype_size(t.dtype), 0u) << t.name;
  EXPECT_EQ(f->find("nope"), nullptr);
}

TEST(Safetensors, ReadsIndependentlyWrittenFixture) {
  auto f = st::File::open(test::model_fixture("dtypes.safetensors"));
  torch::Tensor f32 = tensor_of(*f->find("f32"), torch::kFloat32);
  EXPECT_TRUE(torch::equal(f32, torch::arange(6, torch::kFloat32).view({2, 3}) * 0.5 - 1.0));
  torch::Tensor f16 = tensor_of(*f->find("f16"), torch::kFloat16).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(f16, torch::tensor({1.5f, -2.25f, 65504.0f})));
  torch::Tensor bf16 = tensor_of(*f->find("bf16"), torch::kBFloat16).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(bf16, torch::tensor({1.0f, -3.5f, 0.0078125f, 256.0f}).view({2, 2})));
  torch::Tensor i64 = tensor_of(*f->find("i64"), torch::kLong);
  EXPECT_TRUE(torch::equal(i64, torch::tensor({int64_t{0}, int64_t{-1}, int64_t{1} << 40, int64_t{7}})));
  EXPECT_EQ(f->metadata().at("writer"), "make_fixtures.py");
}

TEST(Safetensors, CorruptFilesNameTheFileAndTensor) {
  test::TempDir dir("bad");
  const std::string p = dir / "bad.safetensors";
  auto write_raw = [&](const std::string& header, size_t data_bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << std::string(data_bytes, '\0');
  };
  write_raw(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  std::string e = error_of([&] { st::File::open(p); });
  EXPECT_NE(e.find("bad.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("'w'"), std::string::npos) << e;
  write_raw(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}})", 16);
  EXPECT_NE(error_of([&] { st::File::open(p); }).find("expected 12"), std::string::npos);
  write_raw(R"({"w": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 16]}})", 16);
  EXPECT_NE(error_of([&] { st::File::open(p); }).find("Q4"), std::string::npos);
  write_raw(R"({"w": {"dtype": "F32", "shape": [4], )", 16);
  EXPECT_NE(error_of([&] { st::File::open(p); }).find("JSON"), std::string::npos);
  write_raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
            R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
            16);
  EXPECT_NE(error_of([&] { st::File::open(p); }).find("overlap"), std::string::npos);
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    uint64_t n = 1000;
    out.write(reinterpret_cast<const char*>(&n), 8);
  }
  EXPECT_NE(error_of([&] { st::File::open(p); }).find("header length"), std::string::npos);
  EXPECT_THROW(st::File::open(dir / "absent.safetensors"), core::IoError);
}

TEST(Weights, SaveLoadRoundTripTiedAndUntied) {
  for (const char* f :
       {"configs/qwen2_tied.json", "configs/qwen3_untied_head_dim.json", "configs/llama_llama3_bias.json"}) {
    test::TempDir dir("rt");
    model::CausalLM m = model::init_random_model(test::fixture_config(f), 5);
    model::save_model(*m, dir.str());
    EXPECT_TRUE(std::filesystem::exists(dir / "config.json"));
    EXPECT_TRUE(std::filesystem::exists(dir / "generation_config.json"));
    auto file = st::File::open(dir / "model.safetensors");
    EXPECT_EQ(file->find("lm_head.weight") != nullptr, !m->config().tie_word_embeddings) << f;
    model::CausalLM back = model::load_model(dir.str());
    EXPECT_TRUE(torch::equal(logits_of(*m), logits_of(*back))) << f;
    EXPECT_EQ(back->fingerprint, model::model_fingerprint(dir.str()));
    EXPECT_EQ(back->fingerprint, m->fingerprint);
    EXPECT_EQ(back->fingerprint.size(), 16u);
    for (const auto& p : back->parameters()) EXPECT_TRUE(p.requires_grad());
  }
}

TEST(Weights, ShardedCheckpointAndDtypes) {
  test::TempDir dir("shard");
  model::CausalLM m = model::init_random_model(test::fixture_config("configs/llama_llama3_bias.json"), 9);
  model::SaveOptions opt;
  opt.max_shard_bytes = 20000;
  model::save_model(*m, dir.str(), opt);
  EXPECT_TRUE(std::filesystem::exists(dir / "model.safetensors.index.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors"));
  st::Checkpoint ck = st::Checkpoint::open(dir.str());
  EXPECT_TRUE(ck.sharded());
  EXPECT_GT(ck.files().size(), 2u);
  model::CausalLM back = model::load_model(dir.str());
  EXPECT_TRUE(torch::equal(logits_of(*m), logits_of(*back)));

  // Stored as bf16 and f16: loads (to fp32) within the storage rounding.
  for (torch::Dtype dt : {torch::kBFloat16, torch::kFloat16}) {
    test::TempDir d2("dtype");
    model::SaveOptions o2;
    o2.dtype = dt;
    model::save_model(*m, d2.str(), o2);
    auto file = st::File::open(d2 / "model.safetensors");
    EXPECT_EQ(file->tensors()[0].dtype, dt == torch::kBFloat16 ? st::DType::BF16 : st::DType::F16);
    EXPECT_EQ(model::ModelConfig::load(d2.str()).torch_dtype, model::dtype_config_name(dt));
    model::CausalLM b2 = model::load_model(d2.str());
    EXPECT_EQ(b2->dtype(), torch::kFloat32);
    for (const auto& p : m->named_parameters()) {
      torch::Tensor expect = p.value().detach().to(dt).to(torch::kFloat32);
      EXPECT_TRUE(torch::equal(b2->named_parameters()[p.key()], expect)) << p.key();
    }
    // Loading into bf16 (as on a GPU): logits close to fp32.
    model::CausalLM b3 = model::load_model(d2.str(), torch::kCPU, torch::kBFloat16);
    EXPECT_EQ(b3->dtype(), torch::kBFloat16);
    EXPECT_LT((logits_of(*b3) - logits_of(*b2)).abs().max().item<double>(), 0.1);
  }
}

TEST(Weights, MissingUnexpectedAndMismatchedTensorsAreOneError) {
  test::TempDir dir("miss");
  model::CausalLM m = model::init_random_model(test::fixture_config("configs/qwen2_tied.json"), 2);
  model::save_model(*m, dir.str());
  // Rewrite the weights: drop one tensor, add one, and give one a wrong shape.
  std::vector<torch::Tensor> keep;
  std::vector<st::TensorData> tensors;
  for (const auto& p : m->named_parameters()) {
    if (p.key() == "model.layers.1.mlp.up_proj.weight") continue;
    torch::Tensor t = p.value().detach().contiguous();
    if (p.key() == "model.layers.0.self_attn.k_proj.bias") t = torch::zeros({3});
    keep.push_back(t);
    tensors.push_back(data_of(p.key(), t, st::DType::F32));
  }
  torch::Tensor extra = torch::zeros({2});
  tensors.push_back(data_of("model.layers.0.extra.weight", extra, st::DType::F32));
  st::write_file(dir / "model.safetensors", tensors);
  const std::string e = error_of([&] { model::load_model(dir.str()); });
  EXPECT_NE(e.find("missing tensors: model.layers.1.mlp.up_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected tensors: model.layers.0.extra.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("shape mismatches: model.layers.0.self_attn.k_proj.bias (file [3], model [16])"), std::string::npos)
      << e;
  EXPECT_NE(e.find(dir.str()), std::string::npos) << e;
}

TEST(Weights, TiedHeadStoredRedundantlyMustMatch) {
  test::TempDir dir("tied");
  model::CausalLM m = model::init_random_model(test::fixture_config("configs/qwen2_tied.json"), 2);
  std::vector<torch::Tensor> keep;
  std::vector<st::TensorData> tensors;
  for (const auto& p : m->named_parameters()) {
    keep.push_back(p.value().detach().contiguous());
    tensors.push_back(data_of(p.key(), keep.back(), st::DType::F32));
  }
  keep.push_back(m->model->embed_tokens->weight.detach().clone());
  tensors.push_back(data_of("lm_head.weight", keep.back(), st::DType::F32));
  model::save_model(*m, dir.str());
  st::write_file(dir / "model.safetensors", tensors);
  EXPECT_NO_THROW(model::load_model(dir.str()));
  keep.back().add_(1.0);
  st::write_file(dir / "model.safetensors", tensors);
  EXPECT_NE(error_of([&] { model::load_model(dir.str()); }).find("tie_word_embeddings"), std::string::npos);
}

TEST(Weights, FingerprintFollowsWeightsAndConfig) {
  test::TempDir a("fa"), b("fb");
  model::CausalLM m = model::init_random_model(test::fixture_config("configs/qwen2_tied.json"), 2);
  model::save_model(*m, a.str());
  {
    torch::NoGradGuard g;
    m->model->norm->weight[0].add_(1e-3);
  }
  model::save_model(*m, b.str());
  EXPECT_NE(model::model_fingerprint(a.str()), model::model_fingerprint(b.str()));
  EXPECT_EQ(model::model_fingerprint(a.str()), model::load_model(a.str())->fingerprint);
  model::CausalLM m2 = model::init_random_model(test::fixture_config("configs/qwen2_tied.json"), 2);
  test::TempDir c("fc");
  model::save_model(*m2, c.str());
  EXPECT_EQ(model::model_fingerprint(a.str()), model::model_fingerprint(c.str()));
}

TEST(Weights, DtypeAndDeviceNames) {
  EXPECT_EQ(model::parse_dtype_name("bf16"), torch::kBFloat16);
  EXPECT_EQ(model::parse_dtype_name("float32"), torch::kFloat32);
  EXPECT_THROW(model::parse_dtype_name("int8"), core::ConfigError);
  EXPECT_EQ(model::parse_device_name("cpu"), torch::Device(torch::kCPU));
  EXPECT_THROW(model::parse_device_name("gpu0"), core::ConfigError);
}
