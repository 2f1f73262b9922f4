// LoRA adapters: attach, merge, PEFT save/load. See include/disa/model/lora.hpp.
#include "disa/model/lora.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "disa/core/error.hpp"
#include "disa/io/safetensors.hpp"

namespace disa::model {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::vector<std::string>& canonical_targets() {
  static const std::vector<std::string> t = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  return t;
}

std::string normalise_target(const std::string& t) {
  for (const auto& c : canonical_targets())
    if (t == c || t + "_proj" == c) return c;
  DISA_THROW(ConfigError, "lora target_modules: '{}' is not one of q, k, v, o, gate, up, down", t);
}

// "model.layers.0.self_attn.q_proj" -> "q_proj"
std::string module_leaf(const std::string& path) { return path.substr(path.rfind('.') + 1); }

}  // namespace

void LoraConfig::validate() const {
  if (rank < 1) DISA_THROW(ConfigError, "lora rank must be >= 1 (got {})", rank);
  if (!(alpha > 0)) DISA_THROW(ConfigError, "lora alpha must be > 0 (got {})", alpha);
  if (!(dropout >= 0 && dropout < 1)) DISA_THROW(ConfigError, "lora dropout must be in [0, 1) (got {})", dropout);
  if (target_modules.empty()) DISA_THROW(ConfigError, "lora target_modules is empty");
  hf_target_modules();
}

std::vector<std::string> LoraConfig::hf_target_modules() const {
  std::set<std::string> wanted;
  for (const auto& t : target_modules) wanted.insert(normalise_target(t));
  std::vector<std::string> out;
  for (const auto& c : canonical_targets())
    if (wanted.count(c)) out.push_back(c);
  return out;
}

std::vector<torch::Tensor> apply_lora(CausalLMImpl& model, const LoraConfig& config, uint64_t seed) {
  config.validate();
  const auto targets = config.hf_target_modules();
  const std::set<std::string> wanted(targets.begin(), targets.end());
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  auto opt = torch::TensorOptions().device(model.device()).dtype(torch::kFloat32);
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> params;
  for (auto& [name, proj] : model.projections()) {
    if (!wanted.count(module_leaf(name))) continue;
    DISA_CHECK(!proj->has_lora(), ModelError, "apply_lora: {} already has an adapter", name);
    // PEFT: kaiming_uniform_(A, a=sqrt(5)) -> bound = 1 / sqrt(in_features).
    const double bound = 1.0 / std::sqrt(static_cast<double>(proj->in_features));
    torch::Tensor a = torch::empty({config.rank, proj->in_features}, torch::kFloat32).uniform_(-bound, bound, gen);
    proj->attach_lora(a.to(opt), torch::zeros({proj->out_features, config.rank}, opt),
                      config.alpha / static_cast<double>(config.rank), config.dropout);
    params.push_back(proj->lora_A);
    params.push_back(proj->lora_B);
  }
  DISA_CHECK(!params.empty(), ModelError, "apply_lora: no projection matched the targets");
  return params;
}

std::vector<torch::Tensor> lora_parameters(CausalLMImpl& model) {
  std::vector<torch::Tensor> out;
  for (auto& [name, proj] : model.projections())
    if (proj->has_lora()) {
      out.push_back(proj->lora_A);
      out.push_back(proj->lora_B);
    }
  return out;
}

void merge_lora(CausalLMImpl& model) {
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : model.projections()) {
    if (!proj->has_lora()) continue;
    torch::Tensor delta = torch::matmul(proj->lora_B.to(torch::kFloat32), proj->lora_A.to(torch::kFloat32)) *
                          proj->lora_scaling;
    proj->weight.copy_((proj->weight.to(torch::kFloat32) + delta).to(proj->weight.scalar_type()));
    proj->detach_lora();
  }
  for (auto& p : model.parameters()) p.set_requires_grad(true);
}

void save_lora_adapter(CausalLMImpl& model, const LoraConfig& config, const std::string& dir,
                       const std::string& base_model_name_or_path) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) DISA_THROW(IoError, "{}: cannot create directory: {}", dir, ec.message());
  std::vector<torch::Tensor> keep;
  std::vector<io::safetensors::TensorData> tensors;
  for (auto& [name, proj] : model.projections()) {
    if (!proj->has_lora()) continue;
    for (auto [suffix, t] : {std::pair<const char*, torch::Tensor>{"lora_A", proj->lora_A}, {"lora_B", proj->lora_B}}) {
      torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
      if (c.scalar_type() != torch::kFloat32 && c.scalar_type() != torch::kBFloat16 &&
          c.scalar_type() != torch::kFloat16)
        c = c.to(torch::kFloat32);
      keep.push_back(c);
      io::safetensors::DType dt = c.scalar_type() == torch::kFloat32    ? io::safetensors::DType::F32
                                  : c.scalar_type() == torch::kBFloat16 ? io::safetensors::DType::BF16
                                                                        : io::safetensors::DType::F16;
      tensors.push_back({fmt::format("base_model.model.{}.{}.weight", name, suffix), dt,
                         std::vector<int64_t>(c.sizes().begin(), c.sizes().end()), c.data_ptr(),
                         static_cast<size_t>(c.nbytes())});
    }
  }
  DISA_CHECK(!tensors.empty(), ModelError, "save_lora_adapter: the model has no adapters");
  io::safetensors::write_file((fs::path(dir) / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  json j = {{"peft_type", "LORA"},
            {"task_type", "CAUSAL_LM"},
            {"base_model_name_or_path", base_model_name_or_path},
            {"r", config.rank},
            {"lora_alpha", config.alpha},
            {"lora_dropout", config.dropout},
            {"target_modules", config.hf_target_modules()},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"use_rslora", false},
            {"use_dora", false},
            {"modules_to_save", nullptr},
            {"layers_to_transform", nullptr},
            {"layers_pattern", nullptr},
            {"rank_pattern", json::object()},
            {"alpha_pattern", json::object()},
            {"revision", nullptr}};
  const std::string path = (fs::path(dir) / "adapter_config.json").string();
  std::ofstream out(path);
  if (!out) DISA_THROW(IoError, "{}: cannot open for writing", path);
  out << j.dump(2) << "\n";
  if (!out) DISA_THROW(IoError, "{}: write failed", path);
}

LoraConfig load_lora_adapter(CausalLMImpl& model, const std::string& dir) {
  const std::string cpath = (fs::path(dir) / "adapter_config.json").string();
  std::ifstream in(cpath);
  if (!in) DISA_THROW(IoError, "{}: cannot open", cpath);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& ex) {
    DISA_THROW(ModelError, "{}: invalid JSON: {}", cpath, ex.what());
  }
  auto need = [&](const char* k) -> const json& {
    if (!j.contains(k)) DISA_THROW(ModelError, "{}: field {} is missing", cpath, k);
    return j[k];
  };
  if (need("peft_type") != "LORA")
    DISA_THROW(ModelError, "{}: field peft_type {} is not supported (only LORA)", cpath, j["peft_type"].dump());
  for (const char* k : {"use_rslora", "use_dora", "fan_in_fan_out"})
    if (j.contains(k) && j[k].is_boolean() && j[k].get<bool>())
      DISA_THROW(ModelError, "{}: field {}=true is not supported", cpath, k);
  if (j.contains("bias") && j["bias"] != "none") DISA_THROW(ModelError, "{}: field bias must be \"none\"", cpath);
  for (const char* k : {"rank_pattern", "alpha_pattern"})
    if (j.contains(k) && !j[k].is_null() && !j[k].empty())
      DISA_THROW(ModelError, "{}: field {} is not supported", cpath, k);
  for (const char* k : {"modules_to_save", "layers_to_transform"})
    if (j.contains(k) && !j[k].is_null()) DISA_THROW(ModelError, "{}: field {} is not supported", cpath, k);
  LoraConfig c;
  c.rank = need("r").get<int64_t>();
  c.alpha = need("lora_alpha").get<double>();
  c.dropout = j.value("lora_dropout", 0.0);
  const json& tm = need("target_modules");
  if (!tm.is_array()) DISA_THROW(ModelError, "{}: field target_modules must be a list of module names", cpath);
  c.target_modules = tm.get<std::vector<std::string>>();
  try {
    c.validate();
  } catch (const core::ConfigError& e) {
    DISA_THROW(ModelError, "{}: {}", cpath, e.what());
  }
  apply_lora(model, c, 0);
  auto file = io::safetensors::File::open((fs::path(dir) / "adapter_model.safetensors").string());
  std::set<std::string> used;
  std::vector<std::string> missing;
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : model.projections()) {
    if (!proj->has_lora()) continue;
    for (auto [suffix, t] : {std::pair<const char*, torch::Tensor>{"lora_A", proj->lora_A}, {"lora_B", proj->lora_B}}) {
      const std::string key = fmt::format("base_model.model.{}.{}.weight", name, suffix);
      const auto* v = file->find(key);
      if (!v) {
        missing.push_back(key);
        continue;
      }
      used.insert(key);
      DISA_CHECK(c10::IntArrayRef(v->shape) == t.sizes(), ModelError, "{}: tensor {} has shape [{}], expected [{}]",
                 file->path(), key, fmt::join(v->shape, ", "), fmt::join(t.sizes(), ", "));
      torch::Dtype dt = v->dtype == io::safetensors::DType::F32    ? torch::kFloat32
                        : v->dtype == io::safetensors::DType::BF16 ? torch::kBFloat16
                        : v->dtype == io::safetensors::DType::F16  ? torch::kFloat16
                                                                   : torch::ScalarType::Undefined;
      DISA_CHECK(dt != torch::ScalarType::Undefined, ModelError, "{}: tensor {} has unsupported dtype {}", file->path(),
                 key, io::safetensors::dtype_name(v->dtype));
      torch::Tensor src = torch::empty(v->shape, torch::TensorOptions().dtype(dt));
      std::memcpy(src.data_ptr(), v->data, v->nbytes);
      t.copy_(src);
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& v : file->tensors())
    if (!used.count(v.name)) unexpected.push_back(v.name);
  if (!missing.empty() || !unexpected.empty())
    DISA_THROW(ModelError,
               "{}: adapter does not match the model; missing: [{}]; unexpected: "
               "[{}]",
               file->path(), fmt::join(missing, ", "), fmt::join(unexpected, ", "));
  return c;
}

}  // namespace disa::model
