// `disa model init` (a randomly initialised Qwen2/Qwen3/Llama model directory in the HF
// layout with disa's tiny byte-level tokenizer, for tests and the embedded default) and
// `disa model info` (configuration, parameter count and fingerprint of a model directory).
#include <cstdio>
#include <filesystem>

#include <torch/torch.h>

#include "command.hpp"
#include "disa/core/error.hpp"
#include "disa/core/log.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/io/safetensors.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/model/weights.hpp"

namespace disa::apps {
namespace {

std::string rope_text(const ModelConfig& c) {
  switch (c.rope_scaling.type) {
    case RopeScaling::Type::None: return fmt::format("theta {}", c.rope_theta);
    case RopeScaling::Type::Linear:
      return fmt::format("theta {}, linear x{}", c.rope_theta, c.rope_scaling.factor);
    case RopeScaling::Type::Llama3:
      return fmt::format("theta {}, llama3 x{} (low {}, high {}, original {})", c.rope_theta,
                         c.rope_scaling.factor, c.rope_scaling.low_freq_factor,
                         c.rope_scaling.high_freq_factor,
                         c.rope_scaling.original_max_position_embeddings);
  }
  return "?";
}

Table describe(const ModelConfig& c, const std::string& dir) {
  Table t("model " + dir);
  t.row("model_type", c.model_type);
  t.row("layers", std::to_string(c.num_hidden_layers));
  t.row("hidden / intermediate", fmt::format("{} / {}", c.hidden_size, c.intermediate_size));
  t.row("heads / kv heads / head_dim",
        fmt::format("{} / {} / {}", c.num_attention_heads, c.num_key_value_heads, c.head_dim));
  t.row("vocab_size", std::to_string(c.vocab_size));
  t.row("rope", rope_text(c));
  t.row("rms_norm_eps", fmt::format("{}", c.rms_norm_eps));
  t.row("biases (qkv / o / mlp)", fmt::format("{} / {} / {}", c.qkv_bias, c.o_bias, c.mlp_bias));
  t.row("q/k norm", c.qk_norm ? "yes" : "no");
  t.row("tied lm_head", c.tie_word_embeddings ? "yes" : "no");
  t.row("eos / bos ids", fmt::format("[{}] / {}", fmt::join(c.eos_token_ids, ", "),
                                     c.bos_token_id));
  t.row("stored dtype", c.torch_dtype);
  t.row("parameters", fmt::format("{} ({:.2f} M)", c.num_parameters(),
                                  static_cast<double>(c.num_parameters()) / 1e6));
  return t;
}

int run_model_init(const std::vector<std::string>& args, MpiContext& mpi) {
  Options options("model init",
                  "Write a randomly initialised model directory (HF layout: config.json, "
                  "model.safetensors, generation_config.json, byte-level tokenizer.json).");
  options.add_string("arch", "qwen2", "architecture: qwen2, qwen3 or llama");
  options.add_string("size", "tiny", "tiny (~0.1M parameters) or small (~25M parameters)");
  options.add_string("out", "", "output directory (created; existing model files overwritten)");
  options.add_int("seed", 0, "seed of the random initialisation");
  options.add_string("dtype", "float32", "stored dtype: float32, bfloat16 or float16");
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  config->require(!config->get_string("out").empty(), "out", "an output directory is required");
  config->require(config->get_int("seed") >= 0, "seed", "must be >= 0");
  const std::string arch = config->get_string("arch"), size = config->get_string("size");
  config->require(arch == "qwen2" || arch == "qwen3" || arch == "llama", "arch",
                  "must be qwen2, qwen3 or llama");
  config->require(size == "tiny" || size == "small", "size", "must be tiny or small");
  ModelConfig mc = preset_config(arch, size);
  const torch::Dtype dtype = parse_dtype_name(config->get_string("dtype"));
  const std::string out = config->get_string("out");
  if (mpi.is_root()) {
    CausalLM model = init_random_model(mc, static_cast<uint64_t>(config->get_int("seed")));
    SaveOptions so;
    so.dtype = dtype;
    save_model(*model, out, so);
    write_byte_level_tokenizer(out, {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 0);
    log::info("wrote {} {} model ({} parameters, fingerprint {}) to {}", mc.model_type,
              size, mc.num_parameters(), model->fingerprint, out);
  }
  return 0;
}

int run_model_info(const std::vector<std::string>& args, MpiContext& mpi) {
  Options options("model info",
                  "Print a model directory's configuration, parameter count and fingerprint.");
  options.add_positional("dir", "the model directory", 1);
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  const auto dirs = config->get_list("dir");
  config->require(dirs.size() == 1, "dir", "give exactly one model directory");
  const std::string dir = dirs[0];
  if (!mpi.is_root()) return 0;
  ModelConfig mc = ModelConfig::load(dir);
  safetensors::Checkpoint ck = safetensors::Checkpoint::open(dir);
  Table t = describe(mc, dir);
  int64_t stored = 0;
  for (const auto* v : ck.tensors()) stored += v->numel();
  t.row("stored tensors", fmt::format("{} tensors, {} values in {} file(s){}", ck.tensors().size(),
                                      stored, ck.files().size(), ck.sharded() ? " (sharded)" : ""));
  t.row("fingerprint", model_fingerprint(dir));
  if (std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) {
    Tokenizer tok = Tokenizer::load(dir);
    t.row("tokenizer", fmt::format("vocab {}, fingerprint {}", tok.vocab_size(),
                                   tok.fingerprint()));
  }
  std::fputs(t.render().c_str(), stdout);
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("model init", "write a randomly initialised HF model directory",
                      run_model_init);
DISA_REGISTER_COMMAND("model info", "print a model directory's configuration and fingerprint",
                      run_model_info);

}  // namespace disa::apps
