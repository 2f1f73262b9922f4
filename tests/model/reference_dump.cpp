// Helper of test_model_reference (not a test itself): builds a random model from a
// config.json fixture (norm weights and biases perturbed so they matter), saves it as a
// HF model directory, loads it back and writes the logits of a left-padded batch to
// OUT/logits.safetensors, for tests/model/reference_forward.py to check against an
// independent Python implementation of the HF architectures.
// Usage: model_reference_dump CONFIG_JSON OUT_DIR
#include <cstdio>
#include <fstream>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "disa/io/safetensors.hpp"
#include "disa/model/causal_lm.hpp"
#include "disa/model/weights.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: model_reference_dump CONFIG_JSON OUT_DIR\n");
    return 2;
  }
  try {
    std::ifstream in(argv[1]);
    const auto config = disa::model::ModelConfig::from_json(nlohmann::json::parse(in), argv[1]);
    disa::model::CausalLM model = disa::model::init_random_model(config, 1234);
    {
      torch::NoGradGuard no_grad;
      auto gen = at::detail::createCPUGenerator(99);
      for (auto& p : model->named_parameters()) {
        const std::string& n = p.key();
        if (n.find("norm.weight") != std::string::npos)
          p.value().add_(torch::empty(p.value().sizes()).normal_(0.0, 0.2, gen));
        else if (n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0)
          p.value().add_(torch::empty(p.value().sizes()).normal_(0.0, 0.2, gen));
      }
    }
    const std::string dir = std::string(argv[2]) + "/model";
    disa::model::save_model(*model, dir);
    disa::model::CausalLM loaded = disa::model::load_model(dir);
    std::vector<std::vector<int32_t>> seqs = {{3, 17, 5, 9, 44, 12, 7, 30, 1, 22, 8}, {4, 40, 2, 19, 6}, {49, 0, 33}};
    disa::model::PaddedBatch b = disa::model::left_pad(seqs, torch::kCPU);
    torch::Tensor logits;
    {
      torch::NoGradGuard no_grad;
      logits = loaded->forward(b.input_ids, b.position_ids, b.mask).contiguous();
    }
    torch::Tensor ids = b.input_ids.contiguous();
    torch::Tensor mask = b.mask.to(torch::kLong).contiguous();
    namespace st = disa::io::safetensors;
    auto shape = [](const torch::Tensor& t) { return std::vector<int64_t>(t.sizes().begin(), t.sizes().end()); };
    st::write_file(std::string(argv[2]) + "/logits.safetensors",
                   {{"logits", st::DType::F32, shape(logits), logits.data_ptr(), static_cast<size_t>(logits.nbytes())},
                    {"input_ids", st::DType::I64, shape(ids), ids.data_ptr(), static_cast<size_t>(ids.nbytes())},
                    {"mask", st::DType::I64, shape(mask), mask.data_ptr(), static_cast<size_t>(mask.nbytes())}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_reference_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
