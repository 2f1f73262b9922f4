// Loading, random initialisation, saving and fingerprinting of HF model directories.
// See include/disa/model/weights.hpp.
#include "disa/model/weights.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "disa/core/error.hpp"
#include "disa/io/safetensors.hpp"

namespace disa::model {

namespace fs = std::filesystem;
namespace st = io::safetensors;
using json = nlohmann::json;

torch::Dtype parse_dtype_name(const std::string& name) {
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  DISA_THROW(ConfigError, "dtype '{}' is not one of float32, bfloat16, float16", name);
}

std::string dtype_config_name(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: DISA_THROW(ModelError, "model dtype {} cannot be stored", c10::toString(dtype));
  }
}

torch::Device parse_device_name(const std::string& name) {
  try {
    torch::Device d(name);
    if (d.is_cuda() && !torch::cuda::is_available())
      DISA_THROW(ConfigError, "device '{}': this LibTorch has no CUDA or no GPU is visible", name);
    return d;
  } catch (const c10::Error&) {
    DISA_THROW(ConfigError, "device '{}' is not a device (cpu, cuda, cuda:N)", name);
  }
}

namespace {

torch::Dtype to_torch(st::DType d, const std::string& name) {
  switch (d) {
    case st::DType::F64: return torch::kFloat64;
    case st::DType::F32: return torch::kFloat32;
    case st::DType::F16: return torch::kFloat16;
    case st::DType::BF16: return torch::kBFloat16;
    case st::DType::I64: return torch::kInt64;
    case st::DType::I32: return torch::kInt32;
    case st::DType::I16: return torch::kInt16;
    case st::DType::I8: return torch::kInt8;
    case st::DType::U8: return torch::kUInt8;
    case st::DType::BOOL: return torch::kBool;
  }
  DISA_THROW(ModelError, "tensor {}: unsupported dtype", name);
}

st::DType to_safetensors(torch::Dtype d) {
  switch (d) {
    case torch::kFloat32: return st::DType::F32;
    case torch::kBFloat16: return st::DType::BF16;
    case torch::kFloat16: return st::DType::F16;
    case torch::kFloat64: return st::DType::F64;
    default: DISA_THROW(ModelError, "dtype {} cannot be stored", c10::toString(d));
  }
}

// A CPU tensor viewing (or, when misaligned, copying) the bytes of `v`.
torch::Tensor view_tensor(const st::TensorView& v) {
  const torch::Dtype dt = to_torch(v.dtype, v.name);
  const size_t align = st::dtype_size(v.dtype);
  if (reinterpret_cast<uintptr_t>(v.data) % align == 0)
    return torch::from_blob(const_cast<uint8_t*>(v.data), v.shape, torch::TensorOptions().dtype(dt));
  torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(dt));
  std::memcpy(t.data_ptr(), v.data, v.nbytes);
  return t;
}

struct Fnv64 {
  uint64_t h = 0xcbf29ce484222325ULL;
  void add(const uint8_t* p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
    h = (h ^ static_cast<uint64_t>(n)) * 0x100000001b3ULL;
  }
  void add(const std::string& s) { add(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
};

std::string fingerprint_of(const ModelConfig& config, const st::Checkpoint& ckpt) {
  Fnv64 f;
  f.add(config.to_json().dump());
  for (const auto& file : ckpt.files()) {
    f.add(fs::path(file->path()).filename().string());
    f.add(file->bytes(), file->size());
  }
  return fmt::format("{:016x}", f.h);
}

}  // namespace

std::string model_fingerprint(const std::string& dir) {
  return fingerprint_of(ModelConfig::load(dir), st::Checkpoint::open(dir));
}

CausalLM load_model(const std::string& dir, torch::Device device, torch::Dtype dtype) {
  ModelConfig config = ModelConfig::load(dir);
  st::Checkpoint ckpt = st::Checkpoint::open(dir);
  CausalLM model(config, device, dtype);
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters(/*recurse=*/true)) {
      const st::TensorView* v = ckpt.find(p.key());
      if (!v) {
        missing.push_back(p.key());
        continue;
      }
      used.insert(p.key());
      if (c10::IntArrayRef(v->shape) != p.value().sizes()) {
        mismatched.push_back(fmt::format("{} (file [{}], model [{}])", p.key(), fmt::join(v->shape, ", "),
                                         fmt::join(p.value().sizes(), ", ")));
        continue;
      }
      p.value().copy_(view_tensor(*v));
    }
  }
  std::vector<std::string> unexpected;
  for (const st::TensorView* v : ckpt.tensors()) {
    if (used.count(v->name)) continue;
    // Older Llama checkpoints store the rotary buffer; it is recomputed from the config.
    if (v->name.size() > 20 && v->name.rfind("rotary_emb.inv_freq") == v->name.size() - 19) continue;
    if (v->name == "lm_head.weight" && config.tie_word_embeddings) {
      // Redundant copy of the tied embedding: accepted only if it is the same matrix.
      torch::Tensor lm = view_tensor(*v).to(torch::kFloat32);
      torch::Tensor emb = model->model->embed_tokens->weight.detach().to(torch::kCPU, torch::kFloat32);
      if (lm.sizes() != emb.sizes() || !torch::equal(lm, emb))
        DISA_THROW(ModelError,
                   "{}: lm_head.weight is stored but tie_word_embeddings is true "
                   "and it differs from model.embed_tokens.weight",
                   dir);
      continue;
    }
    unexpected.push_back(v->name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = fmt::format("{}: weights do not match config.json ({} {} layers)", dir, config.model_type,
                                  config.num_hidden_layers);
    if (!missing.empty()) msg += fmt::format("; missing tensors: {}", fmt::join(missing, ", "));
    if (!unexpected.empty()) msg += fmt::format("; unexpected tensors: {}", fmt::join(unexpected, ", "));
    if (!mismatched.empty()) msg += fmt::format("; shape mismatches: {}", fmt::join(mismatched, ", "));
    throw core::ModelError(msg);
  }
  model->fingerprint = fingerprint_of(config, ckpt);
  model->eval();
  return model;
}

CausalLM init_random_model(const ModelConfig& config, uint64_t seed, torch::Device device, torch::Dtype dtype) {
  CausalLM model(config, device, dtype);
  auto gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters(true)) {
    const std::string& n = p.key();
    torch::Tensor v = torch::empty(p.value().sizes(), torch::kFloat32);
    const bool is_norm = n.find("norm.weight") != std::string::npos;
    const bool is_bias = n.size() >= 5 && n.compare(n.size() - 5, 5, ".bias") == 0;
    if (is_norm)
      v.fill_(1.0);
    else if (is_bias)
      v.zero_();
    else
      v.normal_(0.0, config.initializer_range, gen);
    p.value().copy_(v);
  }
  model->eval();
  return model;
}

void write_generation_config(const ModelConfig& config, const std::string& dir) {
  json g;
  if (config.bos_token_id >= 0) g["bos_token_id"] = config.bos_token_id;
  if (config.eos_token_ids.size() == 1)
    g["eos_token_id"] = config.eos_token_ids[0];
  else if (!config.eos_token_ids.empty())
    g["eos_token_id"] = config.eos_token_ids;
  g["transformers_version"] = "4.45.0";
  const std::string path = (fs::path(dir) / "generation_config.json").string();
  std::ofstream out(path);
  if (!out) DISA_THROW(IoError, "{}: cannot open for writing", path);
  out << g.dump(2) << "\n";
}

void save_model(CausalLMImpl& model, const std::string& dir, const SaveOptions& options) {
  for (const auto& [name, proj] : model.projections())
    DISA_CHECK(!proj->has_lora(), ModelError,
               "save_model: {} has a LoRA adapter; merge it "
               "(merge_lora) or save it with save_lora_adapter",
               name);
  const torch::Dtype dtype = options.dtype.value_or(model.dtype());
  ModelConfig config = model.config();
  config.torch_dtype = dtype_config_name(dtype);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) DISA_THROW(IoError, "{}: cannot create directory: {}", dir, ec.message());
  std::vector<torch::Tensor> keep;
  std::vector<st::TensorData> tensors;
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : model.named_parameters(true)) {
      torch::Tensor t = p.value().detach().to(torch::kCPU, dtype).contiguous();
      keep.push_back(t);
      tensors.push_back({p.key(), to_safetensors(dtype), std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                         t.data_ptr(), static_cast<size_t>(t.nbytes())});
    }
  }
  st::write_checkpoint(dir, tensors, options.max_shard_bytes);
  {
    const std::string path = (fs::path(dir) / "config.json").string();
    std::ofstream out(path);
    if (!out) DISA_THROW(IoError, "{}: cannot open for writing", path);
    out << config.to_json().dump(2) << "\n";
    if (!out) DISA_THROW(IoError, "{}: write failed", path);
  }
  bool have_generation_config = false;
  if (!options.copy_from_dir.empty()) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                          "merges.txt", "chat_template.jinja", "generation_config.json"}) {
      const fs::path src = fs::path(options.copy_from_dir) / f;
      if (!fs::exists(src)) continue;
      if (fs::equivalent(src.parent_path(), fs::path(dir))) {
        have_generation_config |= std::string(f) == "generation_config.json";
        continue;
      }
      fs::copy_file(src, fs::path(dir) / f, fs::copy_options::overwrite_existing, ec);
      if (ec) DISA_THROW(IoError, "{}: cannot copy to {}: {}", src.string(), dir, ec.message());
      have_generation_config |= std::string(f) == "generation_config.json";
    }
  }
  if (!have_generation_config) write_generation_config(config, dir);
  model.fingerprint = model_fingerprint(dir);
}

}  // namespace disa::model
