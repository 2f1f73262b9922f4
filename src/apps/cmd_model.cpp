// `disa model init` (a randomly initialised Qwen2/Qwen3/Llama model directory in the HF
// layout with disa's tiny byte-level tokenizer, for tests and the embedded default),
// `disa model info` (configuration, parameter count and fingerprint of a model directory)
// and `disa model score` (teacher-forced per-token log-probs of stdin JSONL pairs, the
// interface through which disa's model stack is checked against HF transformers).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "disa/core/error.hpp"
#include "disa/core/log.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/io/safetensors.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/model/weights.hpp"

namespace disa::apps {
namespace {

std::string rope_text(const model::ModelConfig& c) {
  switch (c.rope_scaling.type) {
    case model::RopeScaling::Type::None: return fmt::format("theta {}", c.rope_theta);
    case model::RopeScaling::Type::Linear:
      return fmt::format("theta {}, linear x{}", c.rope_theta, c.rope_scaling.factor);
    case model::RopeScaling::Type::Llama3:
      return fmt::format("theta {}, llama3 x{} (low {}, high {}, original {})", c.rope_theta, c.rope_scaling.factor,
                         c.rope_scaling.low_freq_factor, c.rope_scaling.high_freq_factor,
                         c.rope_scaling.original_max_position_embeddings);
  }
  return "?";
}

core::Table describe(const model::ModelConfig& c, const std::string& dir) {
  core::Table t("model " + dir);
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
  t.row("eos / bos ids", fmt::format("[{}] / {}", fmt::join(c.eos_token_ids, ", "), c.bos_token_id));
  t.row("stored dtype", c.torch_dtype);
  t.row("parameters", fmt::format("{} ({:.2f} M)", c.num_parameters(), static_cast<double>(c.num_parameters()) / 1e6));
  return t;
}

int run_model_init(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("model init",
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
  config->require(arch == "qwen2" || arch == "qwen3" || arch == "llama", "arch", "must be qwen2, qwen3 or llama");
  config->require(size == "tiny" || size == "small", "size", "must be tiny or small");
  model::ModelConfig mc = model::preset_config(arch, size);
  const torch::Dtype dtype = model::parse_dtype_name(config->get_string("dtype"));
  const std::string out = config->get_string("out");
  if (mpi.is_root()) {
    model::CausalLM model = model::init_random_model(mc, static_cast<uint64_t>(config->get_int("seed")));
    model::SaveOptions so;
    so.dtype = dtype;
    model::save_model(*model, out, so);
    model::write_byte_level_tokenizer(out, {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 0);
    core::log::info("wrote {} {} model ({} parameters, fingerprint {}) to {}", mc.model_type, size, mc.num_parameters(),
                    model->fingerprint, out);
  }
  return 0;
}

int run_model_info(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("model info", "Print a model directory's configuration, parameter count and fingerprint.");
  options.add_positional("dir", "the model directory", 1);
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  const auto dirs = config->get_list("dir");
  config->require(dirs.size() == 1, "dir", "give exactly one model directory");
  const std::string dir = dirs[0];
  if (!mpi.is_root()) return 0;
  model::ModelConfig mc = model::ModelConfig::load(dir);
  io::safetensors::Checkpoint ck = io::safetensors::Checkpoint::open(dir);
  core::Table t = describe(mc, dir);
  int64_t stored = 0;
  for (const auto* v : ck.tensors()) stored += v->numel();
  t.row("stored tensors", fmt::format("{} tensors, {} values in {} file(s){}", ck.tensors().size(), stored,
                                      ck.files().size(), ck.sharded() ? " (sharded)" : ""));
  t.row("fingerprint", model::model_fingerprint(dir));
  if (std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) {
    model::Tokenizer tok = model::Tokenizer::load(dir);
    t.row("tokenizer", fmt::format("vocab {}, fingerprint {}", tok.vocab_size(), tok.fingerprint()));
  }
  std::fputs(t.render().c_str(), stdout);
  return 0;
}

// One stdin line of `disa model score`: {"prompt": [ids...], "response": [ids...]}.
// Errors name the line number; ids are checked against the model's vocabulary (and the
// response ids against the scored vocabulary, so no log-prob is -inf).
model::ScoreItem parse_score_line(const std::string& line, size_t number, int64_t model_vocab, int64_t response_vocab,
                                  const std::string& response_vocab_name) {
  using Json = nlohmann::json;
  Json value;
  try {
    value = Json::parse(line);
  } catch (const Json::parse_error& e) {
    DISA_THROW(DataError, "stdin line {}: not JSON: {}", number, e.what());
  }
  DISA_CHECK(value.is_object(), DataError,
             "stdin line {}: expected a JSON object {{\"prompt\": [ids], \"response\": [ids]}}, "
             "got {}",
             number, value.type_name());
  for (auto it = value.begin(); it != value.end(); ++it)
    DISA_CHECK(it.key() == "prompt" || it.key() == "response", DataError,
               "stdin line {}: unexpected field \"{}\" (only prompt and response)", number, it.key());
  model::ScoreItem item;
  for (const char* field : {"prompt", "response"}) {
    DISA_CHECK(value.contains(field), DataError, "stdin line {}: field {} is missing", number, field);
    const Json& ids = value[field];
    DISA_CHECK(ids.is_array(), DataError,
               "stdin line {}: field {} must be an array of token "
               "ids, got {}",
               number, field, ids.type_name());
    const bool response = std::string(field) == "response";
    const int64_t limit = response ? response_vocab : model_vocab;
    std::vector<int32_t>& out = response ? item.response : item.prompt;
    for (size_t k = 0; k < ids.size(); ++k) {
      const Json& id = ids[k];
      DISA_CHECK(id.is_number_integer(), DataError, "stdin line {}: {}[{}] = {} is not an integer token id", number,
                 field, k, id.dump());
      const int64_t v = id.get<int64_t>();
      DISA_CHECK(v >= 0 && v < limit, DataError, "stdin line {}: {}[{}] = {} is outside the {} [0, {})", number, field,
                 k, v, response ? response_vocab_name : std::string("model vocabulary"), limit);
      out.push_back(static_cast<int32_t>(v));
    }
  }
  DISA_CHECK(!item.prompt.empty(), DataError,
             "stdin line {}: the prompt is empty (the first response token needs a context; "
             "prepend e.g. a BOS id)",
             number);
  return item;
}

int run_model_score(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("model score",
                        "Teacher-forced log-probabilities: reads stdin JSONL lines {\"prompt\": [ids], "
                        "\"response\": [ids]} and writes one line {\"logprobs\": [log p of each "
                        "response token], \"sum\": total} per input (float64, temperature 1).");
  options.add_string("model", "", "model directory (HF layout: config.json + safetensors)");
  options.add_string("vocab", "full",
                     "full: softmax over every model id (HF's definition); tokenizer: softmax "
                     "over the tokenizer's ids, the policy's distribution in every disa stage "
                     "(differs when the model's vocab_size is rounded up)");
  options.add_string("dtype", "float32", "dtype the weights are loaded in: float32 or bfloat16");
  options.add_string("device", "cpu", "cpu, cuda or cuda:N");
  options.add_int("batch-size", 16, "input lines scored per forward pass");
  options.add_int("threads", 0, "CPU threads (0: hardware threads / ranks per node)");
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  config->require(!config->get_string("model").empty(), "model", "a model directory is required");
  const std::string vocab_mode = config->get_string("vocab");
  config->require(vocab_mode == "full" || vocab_mode == "tokenizer", "vocab", "must be full or tokenizer");
  const std::string dtype_name = config->get_string("dtype");
  const torch::Dtype dtype = model::parse_dtype_name(dtype_name);
  config->require(dtype == torch::kFloat32 || dtype == torch::kBFloat16, "dtype", "must be float32 or bfloat16");
  config->require(config->get_int("batch-size") >= 1, "batch-size", "must be >= 1");
  config->require(config->get_int("threads") >= 0, "threads", "must be >= 0");
  const torch::Device device = model::parse_device_name(config->get_string("device"));
  if (!mpi.is_root()) return 0;  // stdin belongs to rank 0

  dist::configure_threads(mpi, config->get_int("threads"));
  const std::string dir = config->get_string("model");
  model::CausalLM model = model::load_model(dir, device, dtype);
  model->eval();
  const int64_t model_vocab = model->config().vocab_size;
  model::ScoreOptions so;
  if (vocab_mode == "tokenizer") model::restrict_to_tokenizer(*model, model::Tokenizer::load(dir));
  const int64_t response_vocab = model->output_vocab();
  const std::string response_vocab_name = response_vocab < model_vocab ? "tokenizer vocabulary (--vocab tokenizer)"
                                                                       : "model vocabulary";
  core::log::debug("model score: {} ({} vocab {}, scored vocabulary {})", dir, model->config().model_type, model_vocab,
                   response_vocab);
  const size_t batch = static_cast<size_t>(config->get_int("batch-size"));

  std::vector<model::ScoreItem> items;
  auto flush = [&]() {
    if (items.empty()) return;
    const model::ScoreResult r = model::score(*model, items, so);
    const auto tokens = r.per_token();
    const auto sums = r.sums();
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      nlohmann::json j;
      j["logprobs"] = tokens[i];
      j["sum"] = sums[i];
      out += j.dump();
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    items.clear();
  };
  std::ios::sync_with_stdio(false);
  std::string line;
  size_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    model::ScoreItem item;
    try {
      item = parse_score_line(line, number, model_vocab, response_vocab, response_vocab_name);
    } catch (const core::Error&) {
      flush();  // every line before the bad one gets its output
      throw;
    }
    items.push_back(std::move(item));
    if (items.size() >= batch) flush();
  }
  flush();
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("model init", "write a randomly initialised HF model directory", run_model_init);
DISA_REGISTER_COMMAND("model info", "print a model directory's configuration and fingerprint", run_model_info);
DISA_REGISTER_COMMAND("model score", "per-token log-probs of stdin JSONL (prompt, response) id pairs", run_model_score);

}  // namespace disa::apps
