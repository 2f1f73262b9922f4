// bench_model: prefill and decode tokens/s of the model stack for the tiny and the ~25M
// parameter ("small") presets, or a random model of Qwen2-0.5B's shape ("0.5b": hidden 896,
// 24 layers, 14 heads, 2 kv heads, intermediate 4864, vocab 151936), batch 1 and 64,
// decoding with the KV cache (generate(), sampling at temperature 1; time of N new tokens
// minus time of 1) and without it (a full forward over the whole prefix per new token), the
// model's cached decode step alone (greedy, no sampler), plus the peak resident memory of
// the process. With --hbm-gbs (the memory bandwidth in GB/s) a line per batch gives the
// decode's fraction of the memory roofline: a decode step reads every parameter and the KV
// cache once, bytes per step = parameter bytes + KV bytes at the mean context
// (prompt + new/2).
//
// With --model DIR (any HF model directory: config.json + safetensors) it measures that
// model instead, at one batch size, and prints ONE JSON line with the keys of
// bench/hf_peer.py (the same measurements with HF transformers; bench/hf_compare.sh runs
// both): prefill tokens/s (a forward over the prompts + the last position's logits),
// decode tokens/s (generate() at temperature 1 over the full vocabulary with the KV cache,
// no stop tokens, so every sequence emits exactly N tokens; time of N new tokens minus time
// of 1), teacher-forced scoring tokens/s (score() on B sequences of P + N tokens, counted
// as B (P + N) tokens), one training step (score(differentiable) + the DISA residual loss
// of docs/method.md §3, the formula of residual_loss and clamped_ratio, forward and backward), and the peak
// resident memory after decoding and at the end. Prompts and responses are fixed
// pseudo-random ids (splitmix64 of (sequence, position), below the config's vocab_size),
// the same ids in hf_peer.py.
// Usage: bench_model --help (--size is --sizes).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <torch/version.h>

#include "disa/model/generate.hpp"
#include "disa/model/score.hpp"
#include "disa/model/weights.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

// The presets of disa::preset_config, and "0.5b": Qwen2-0.5B's shape (random weights).
disa::model::ModelConfig bench_config(const std::string& arch, const std::string& size) {
  if (size != "0.5b") return disa::model::preset_config(arch, size);
  disa::model::ModelConfig c = disa::model::preset_config(arch, "small");
  c.hidden_size = 896;
  c.intermediate_size = 4864;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 14;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 151936;
  c.max_position_embeddings = 32768;
  return c;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

void sync(const torch::Device& d) {
#if TORCH_VERSION_MAJOR >= 2
  if (d.is_cuda()) torch::cuda::synchronize();
#else
  (void)d;
#endif
}

// splitmix64's finaliser; token(b, t) = mix(b << 32 | t) mod vocab (bench/hf_peer.py
// computes the same ids).
uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<int32_t> fixed_ids(int64_t b, int64_t from, int64_t to, int64_t vocab) {
  std::vector<int32_t> ids;
  for (int64_t t = from; t < to; ++t)
    ids.push_back(static_cast<int32_t>(mix64((static_cast<uint64_t>(b) << 32) | static_cast<uint64_t>(t)) %
                                       static_cast<uint64_t>(vocab)));
  return ids;
}

// --model DIR: one JSON line (see the header).
int run_model_dir(const std::string& dir, int64_t B, int64_t P, int64_t N, const std::string& device_name,
                  const std::string& dtype_name) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    std::fprintf(stderr, "bench_model: model directory '%s' does not exist\n", dir.c_str());
    return 1;
  }
  if (!fs::exists(fs::path(dir) / "config.json")) {
    std::fprintf(stderr, "bench_model: '%s' has no config.json (not an HF model directory)\n", dir.c_str());
    return 1;
  }
  if (B < 1 || P < 1 || N < 2) {
    std::fprintf(stderr, "bench_model: --batch and --prompt must be >= 1 and --new >= 2\n");
    return 2;
  }
  const torch::Device device = disa::model::parse_device_name(device_name);
  const torch::Dtype dtype = disa::model::parse_dtype_name(dtype_name);
  disa::model::CausalLM model = disa::model::load_model(dir, device, dtype);
  model->eval();
  const disa::model::ModelConfig& c = model->config();
  const int64_t V = c.vocab_size;
  std::vector<std::vector<int32_t>> prompts, responses;
  for (int64_t b = 0; b < B; ++b) {
    prompts.push_back(fixed_ids(b, 0, P, V));
    responses.push_back(fixed_ids(b, P, P + N, V));
  }
  double prefill = 0, decode = 0, score_rate = 0, rss_gen = 0;
  torch::Tensor ref_logp;
  {
    torch::NoGradGuard no_grad;
    disa::model::PaddedBatch pb = disa::model::left_pad(prompts, device);
    auto prefill_once = [&] {
      torch::Tensor h = model->hidden_states(pb.input_ids, pb.position_ids, pb.mask);
      model->logits(h.select(1, -1)).to(torch::kFloat32);
      sync(device);
    };
    prefill_once();  // warm-up
    auto t0 = Clock::now();
    prefill_once();
    prefill = static_cast<double>(B * P) / seconds_since(t0);

    std::vector<disa::model::GenerationRequest> reqs;
    for (int64_t b = 0; b < B; ++b) reqs.push_back({prompts[b], b, 0});
    disa::model::GenerationParams gp;  // temperature 1, no top-k/top-p, no stop tokens
    gp.max_batch_size = B;
    gp.max_new_tokens = 1;
    disa::model::generate(*model, reqs, gp, 1);  // warm-up
    t0 = Clock::now();
    disa::model::generate(*model, reqs, gp, 1);
    sync(device);
    const double first_s = seconds_since(t0);
    gp.max_new_tokens = N;
    t0 = Clock::now();
    auto out = disa::model::generate(*model, reqs, gp, 1);
    sync(device);
    const double all_s = seconds_since(t0);
    int64_t produced = 0;
    for (const auto& r : out) {
      if (static_cast<int64_t>(r.tokens.size()) != N)
        throw std::runtime_error("generate() stopped a sequence before " + std::to_string(N) + " tokens");
      produced += N - 1;
    }
    decode = static_cast<double>(produced) / std::max(all_s - first_s, 1e-9);
    rss_gen = peak_rss_mib();

    std::vector<disa::model::ScoreItem> items;
    for (int64_t b = 0; b < B; ++b) items.push_back({prompts[b], responses[b]});
    disa::model::ScoreOptions so;
    t0 = Clock::now();
    disa::model::ScoreResult sr = disa::model::score(*model, items, so);
    sync(device);
    score_rate = static_cast<double>(B * (P + N)) / seconds_since(t0);
    ref_logp = sr.sum_logprobs.to(torch::kFloat32);
  }

  // One training step: the DISA residual loss (s_i = 1, w_max 10) on B sequences of
  // P + N tokens, forward and backward; log pi_ref = log pi_old = the scores above, anchor 0,
  // target beta r with beta r = 0.5 on every other sequence. The first step is a warm-up.
  model->train();
  const torch::Tensor anchor = torch::zeros({B}, ref_logp.options());
  const torch::Tensor scale = torch::ones({B}, ref_logp.options());
  const torch::Tensor target = torch::arange(B, ref_logp.options()).remainder(2) * 0.5;
  std::vector<disa::model::ScoreItem> items;
  for (int64_t b = 0; b < B; ++b) items.push_back({prompts[b], responses[b]});
  double step_s = 0;
  for (int rep = 0; rep < 2; ++rep) {
    model->zero_grad();
    sync(device);
    const auto t0 = Clock::now();
    disa::model::ScoreOptions so;
    so.differentiable = true;
    disa::model::ScoreResult sr = disa::model::score(*model, items, so);
    const torch::Tensor seq_logp = sr.sum_logprobs;
    // delta_i = c + s (log pi_theta - log pi_ref) - beta r; w_i = min(exp(clamped log ratio), 10).
    const torch::Tensor w = (seq_logp.detach() - ref_logp).clamp(-20.0, 20.0).exp().clamp_max(10.0);
    const torch::Tensor delta = anchor + scale * (seq_logp - ref_logp) - target;
    torch::Tensor loss = (w * delta.pow(2)).sum() / static_cast<double>(B);
    loss.backward();
    sync(device);
    step_s = seconds_since(t0);
  }
  model->eval();
  std::printf(
      "{\"side\": \"disa\", \"model\": \"%s\", \"params\": %lld, \"vocab\": %lld, \"batch\": %lld, "
      "\"prompt\": %lld, \"new\": %lld, \"threads\": %d, \"prefill_tok_s\": %.1f, \"decode_tok_s\": %.1f, "
      "\"score_tok_s\": %.1f, \"train_step_s\": %.3f, \"train_tok_s\": %.1f, \"peak_rss_gen_mib\": %.0f, "
      "\"peak_rss_mib\": %.0f}\n",
      dir.c_str(), static_cast<long long>(c.num_parameters()), static_cast<long long>(V), static_cast<long long>(B),
      static_cast<long long>(P), static_cast<long long>(N), torch::get_num_threads(), prefill, decode, score_rate,
      step_s, static_cast<double>(B * (P + N)) / step_s, rss_gen, peak_rss_mib());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int64_t batch = 64;
  std::string arch = "qwen2", sizes = "tiny,small", batches = "1,64", device_name = "cpu", dtype_name = "float32";
  int64_t prompt_len = 64, new_tokens = 32, nocache_steps = 8, threads = 0;
  double hbm_gbs = 0;
  const char* usage =
      "usage: bench_model [--arch qwen2] [--sizes tiny,small,0.5b] [--batches 1,64] [--prompt 64]\n"
      "                   [--new 32] [--nocache-steps 8] [--device cpu] [--dtype float32]\n"
      "                   [--threads N] [--hbm-gbs GB/s]\n"
      "       bench_model --model DIR [--batch 64] [--prompt 64] [--new 32] [--threads N]\n"
      "                   [--device cpu] [--dtype float32]   (one JSON line)\n";
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
  if ((argc - 1) % 2 != 0) {
    std::fprintf(stderr, "bench_model: options come as --name value pairs\n%s", usage);
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--arch")
      arch = v;
    else if (k == "--model")
      model_dir = v;
    else if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--sizes" || k == "--size")
      sizes = v;
    else if (k == "--batches")
      batches = v;
    else if (k == "--prompt")
      prompt_len = std::stoll(v);
    else if (k == "--new")
      new_tokens = std::stoll(v);
    else if (k == "--nocache-steps")
      nocache_steps = std::stoll(v);
    else if (k == "--device")
      device_name = v;
    else if (k == "--dtype")
      dtype_name = v;
    else if (k == "--threads")
      threads = std::stoll(v);
    else if (k == "--hbm-gbs")
      hbm_gbs = std::stod(v);
    else {
      std::fprintf(stderr, "bench_model: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  try {
    if (!model_dir.empty()) return run_model_dir(model_dir, batch, prompt_len, new_tokens, device_name, dtype_name);
    const torch::Device device = disa::model::parse_device_name(device_name);
    const torch::Dtype dtype = disa::model::parse_dtype_name(dtype_name);
    std::printf(
        "bench_model: arch %s, device %s, dtype %s, %d threads, prompt %lld, new %lld, "
        "no-cache steps %lld\n",
        arch.c_str(), device_name.c_str(), dtype_name.c_str(), torch::get_num_threads(),
        static_cast<long long>(prompt_len), static_cast<long long>(new_tokens), static_cast<long long>(nocache_steps));
    std::printf("%-6s %10s %6s %14s %14s %16s %16s %14s\n", "size", "params", "batch", "prefill tok/s", "decode tok/s",
                "cached-step tok/s", "no-cache tok/s", "peak RSS MiB");
    for (const auto& size : split(sizes)) {
      disa::model::ModelConfig c = bench_config(arch, size);
      disa::model::CausalLM model = disa::model::init_random_model(c, 1, device, dtype);
      torch::NoGradGuard no_grad;
      for (const auto& bs : split(batches)) {
        const int64_t B = std::stoll(bs);
        std::vector<std::vector<int32_t>> prompts;
        for (int64_t b = 0; b < B; ++b) {
          std::vector<int32_t> p;
          for (int64_t t = 0; t < prompt_len; ++t) p.push_back(static_cast<int32_t>((b * 7 + t * 13) % 256));
          prompts.push_back(p);
        }
        disa::model::PaddedBatch pb = disa::model::left_pad(prompts, device);
        // Prefill: one forward over the prompts (+ logits of the last position).
        model->hidden_states(pb.input_ids, pb.position_ids, pb.mask);  // warm-up
        sync(device);
        auto t0 = Clock::now();
        torch::Tensor h = model->hidden_states(pb.input_ids, pb.position_ids, pb.mask);
        model->logits(h.select(1, -1)).to(torch::kFloat32);
        sync(device);
        const double prefill = static_cast<double>(B * prompt_len) / seconds_since(t0);
        // Decode with the KV cache through generate(): the time of max_new_tokens = N minus
        // that of max_new_tokens = 1 (the same prefill and first token), per extra token.
        std::vector<disa::model::GenerationRequest> reqs;
        for (int64_t b = 0; b < B; ++b) reqs.push_back({prompts[b], b, 0});
        disa::model::GenerationParams gp;
        gp.max_batch_size = B;
        gp.max_new_tokens = 1;
        t0 = Clock::now();
        disa::model::generate(*model, reqs, gp, 1);
        sync(device);
        const double first_s = seconds_since(t0);
        gp.max_new_tokens = new_tokens;
        t0 = Clock::now();
        auto out = disa::model::generate(*model, reqs, gp, 1);
        sync(device);
        const double all_s = seconds_since(t0);
        int64_t produced = 0;
        for (const auto& r : out) produced += static_cast<int64_t>(r.tokens.size()) - 1;
        const double decode = static_cast<double>(produced) / std::max(all_s - first_s, 1e-9);
        double step_rate = 0, step_seconds = 0;
        // The model alone: one cached forward step per token (no sampling).
        {
          disa::model::KvCache cache = model->make_cache(B, prompt_len + new_tokens);
          torch::Tensor hh = model->hidden_states(pb.input_ids, pb.position_ids, pb.mask, &cache);
          torch::Tensor next = model->logits(hh.select(1, -1)).argmax(-1, true);
          torch::Tensor p = pb.position_ids.narrow(1, prompt_len - 1, 1);
          t0 = Clock::now();
          for (int64_t s = 1; s < new_tokens; ++s) {
            p = p + 1;
            hh = model->hidden_states(next, p, {}, &cache);
            next = model->logits(hh.select(1, -1)).argmax(-1, true);
          }
          sync(device);
          step_seconds = seconds_since(t0) / static_cast<double>(std::max<int64_t>(new_tokens - 1, 1));
          step_rate = static_cast<double>(B * (new_tokens - 1)) / seconds_since(t0);
        }
        // Decode without the cache: full forward over the growing sequence per token.
        torch::Tensor ids = pb.input_ids, pos = pb.position_ids, mask = pb.mask;
        t0 = Clock::now();
        for (int64_t s = 0; s < nocache_steps; ++s) {
          torch::Tensor hh = model->hidden_states(ids, pos, mask);
          torch::Tensor next = model->logits(hh.select(1, -1)).argmax(-1, true);
          ids = torch::cat({ids, next}, 1);
          pos = torch::cat({pos, pos.narrow(1, pos.size(1) - 1, 1) + 1}, 1);
          mask = torch::cat({mask, torch::ones_like(next, mask.options())}, 1);
        }
        sync(device);
        const double nocache = static_cast<double>(B * nocache_steps) / seconds_since(t0);
        std::printf("%-6s %9.2fM %6lld %14.0f %14.0f %16.0f %16.0f %14.0f\n", size.c_str(),
                    static_cast<double>(c.num_parameters()) / 1e6, static_cast<long long>(B), prefill, decode,
                    step_rate, nocache, peak_rss_mib());
        if (hbm_gbs > 0) {
          // One decode step reads the weights and the KV cache (K and V of every layer at the
          // mean context) once; activations are negligible at these batch sizes.
          const double elem = static_cast<double>(torch::elementSize(dtype));
          const double param_bytes = static_cast<double>(c.num_parameters()) * elem;
          const double context = static_cast<double>(prompt_len) + static_cast<double>(new_tokens) / 2.0;
          const double kv_bytes = static_cast<double>(B) * context * static_cast<double>(c.num_hidden_layers) * 2.0 *
                                  static_cast<double>(c.num_key_value_heads * c.head_dim) * elem;
          const double per_step = param_bytes + kv_bytes;
          const double step_gbs = per_step / std::max(step_seconds, 1e-12) / 1e9;
          const double gen_gbs = per_step * (decode / static_cast<double>(B)) / 1e9;
          std::printf(
              "roofline %s batch %lld: %.3f GB params + %.3f GB KV per step; cached step %.3f ms "
              "-> %.0f GB/s = %.1f%% of %.0f GB/s; generate() decode %.0f GB/s = %.1f%%\n",
              size.c_str(), static_cast<long long>(B), param_bytes / 1e9, kv_bytes / 1e9, step_seconds * 1e3, step_gbs,
              100.0 * step_gbs / hbm_gbs, hbm_gbs, gen_gbs, 100.0 * gen_gbs / hbm_gbs);
        }
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
