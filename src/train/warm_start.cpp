// Implementation of the supervised warm start (include/disa/train/warm_start.hpp).
#include "disa/train/warm_start.hpp"

#include <cmath>
#include <filesystem>

#include <torch/torch.h>

#include "disa/core/config.hpp"
#include "disa/core/log.hpp"
#include "disa/core/random.hpp"
#include "disa/core/timing.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/response_text.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/model/weights.hpp"
#include "disa/tasks/registry.hpp"
#include "disa/tasks/task_options.hpp"
#include "disa/train/gradients.hpp"
#include "disa/train/lr_schedule.hpp"

namespace disa::train {

void add_warm_start_options(Options& o) {
  o.add_string("sft.model", "", "initial model directory (e.g. from 'disa model init')");
  o.add_string("sft.out", "", "output model directory (HF layout)");
  o.add_int("sft.steps", 300, "optimiser steps");
  o.add_int("sft.batch-size", 32, "(prompt, solution) pairs per step, over all ranks");
  o.add_double("sft.lr", 3e-3, "AdamW learning rate (constant after warm-up)");
  o.add_int("sft.warmup", 20, "linear learning-rate warm-up steps");
  o.add_string("sft.schedule", "constant", "after warm-up: constant or cosine");
  o.add_double("sft.min-lr-ratio", 0.1, "cosine: final learning rate / peak");
  o.add_double("sft.weight-decay", 0.0, "AdamW weight decay");
  o.add_double("sft.clip", 1.0, "global gradient-norm clip (0: off)");
  o.add_int("sft.seed", 1, "seed of the data order and solution choice");
  o.add_int("sft.log-every", 25, "steps between progress lines");
  o.add_int("sft.eval-samples", 4, "samples per test prompt for the final pass-rate estimate (0: none)");
  o.add_int("sft.eval-prompts", 64, "test-split prompts of the final pass-rate estimate");
  o.add_int("sft.max-new-tokens", 48, "generation limit of the final pass-rate estimate");
  o.add_string("sft.device", "auto", "auto, cpu or cuda");
  o.add_int("sft.threads", 0, "CPU threads per rank (0: hardware threads / ranks per node)");
  tasks::add_task_options(o);
}

std::string run_warm_start(const Config& c, MpiContext& mpi) {
  const std::string in = c.get_string("sft.model"), out = c.get_string("sft.out");
  c.require(!in.empty(), "sft.model", "is required");
  c.require(!out.empty(), "sft.out", "is required");
  c.require(std::filesystem::is_directory(in), "sft.model", "must be an existing model directory");
  const int64_t steps = c.get_int("sft.steps"), batch = c.get_int("sft.batch-size");
  c.require(steps >= 0, "sft.steps", "must be >= 0");
  c.require(batch >= 1, "sft.batch-size", "must be >= 1");
  const double lr = c.get_double("sft.lr");
  c.require(lr > 0, "sft.lr", "must be > 0");
  const std::string schedule_name = c.get_string("sft.schedule");
  c.require(schedule_name == "constant" || schedule_name == "cosine", "sft.schedule", "must be constant or cosine");
  LrSchedule schedule;
  schedule.lr = lr;
  schedule.warmup = std::max<int64_t>(c.get_int("sft.warmup"), 1);
  schedule.cosine = schedule_name == "cosine";
  schedule.min_ratio = c.get_double("sft.min-lr-ratio");
  schedule.steps = steps;
  const int64_t log_every = std::max<int64_t>(1, c.get_int("sft.log-every"));
  const double clip = c.get_double("sft.clip");
  const uint64_t seed = uint64_t(c.get_int("sft.seed"));

  auto comm = make_mpi_communicator(mpi.world());
  torch::Device device = select_device(mpi, c.get_string("sft.device"));
  configure_threads(mpi, c.get_int("sft.threads"));
  auto model = load_model(in, device, torch::kFloat32);
  auto tokenizer = Tokenizer::load(in);
  restrict_to_tokenizer(*model, tokenizer);
  auto task_options = tasks::task_options_from_config(c);
  auto task = tasks::make_task(task_options);
  auto data = task->make_dataset();

  // Every prompt with its listed solutions (tokens).
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<std::vector<int32_t>>> solutions;
  for (size_t i = 0; i < data.size(); ++i) {
    auto sols = task->enumerate_solutions(data[i]);
    if (!sols)
      DISA_THROW(ConfigError, "option --task.name: task '{}' does not list its solutions; the warm start needs "
                 "one that does (countdown, graph_paths)", task->name());
    if (sols->empty()) continue;
    prompts.push_back(tokenizer.encode(task->render_prompt(data[i])));
    std::vector<std::vector<int32_t>> toks;
    for (const auto& s : *sols) toks.push_back(tokenizer.encode(s));
    solutions.push_back(std::move(toks));
  }
  DISA_CHECK(!prompts.empty(), DataError, "no prompt of '{}' has a solution", data.source());

  // Identical initial weights on every rank.
  {
    torch::NoGradGuard no_grad;
    auto params = model->parameters();
    comm->broadcast(params, 0);
  }
  model->train();
  torch::optim::AdamW optimizer(model->parameters(),
                                torch::optim::AdamWOptions(lr).weight_decay(c.get_double("sft.weight-decay")));
  auto [b0, b1] = balanced_block(batch, comm->rank(), comm->size());
  const auto start = Clock::now();
  double loss_sum = 0;
  int64_t loss_steps = 0, tokens_seen = 0;
  for (int64_t step = 0; step < steps; ++step) {
    std::vector<ScoreItem> items;
    for (int64_t i = b0; i < b1; ++i) {
      uint64_t h = mix64(seed ^ mix64(uint64_t(step) * 0x100000001B3ULL + uint64_t(i)));
      size_t p = uniform_index(h, prompts.size());
      size_t s = uniform_index(mix64(h), solutions[p].size());
      items.push_back({prompts[p], solutions[p][s]});
    }
    int64_t local_tokens = 0;
    for (const auto& it : items) local_tokens += int64_t(it.response.size());
    const int64_t global_tokens = comm->all_reduce(local_tokens, ReduceOp::Sum);
    optimizer.zero_grad();
    double local_nll = 0;
    if (!items.empty()) {
      ScoreOptions opts;
      opts.differentiable = true;
      auto result = score(*model, items, opts);
      auto nll = -(result.token_logprobs * result.response_mask.to(torch::kFloat32)).sum();
      (nll / double(std::max<int64_t>(global_tokens, 1))).backward();
      local_nll = nll.item<double>();
    }
    all_reduce_gradients(*comm, model->parameters());
    clip_gradient_norm(model->parameters(), clip);
    const double step_lr = schedule.at(step);
    set_learning_rate(optimizer, step_lr);
    optimizer.step();
    const double nll = comm->all_reduce(local_nll, ReduceOp::Sum) / double(std::max<int64_t>(global_tokens, 1));
    loss_sum += nll;
    ++loss_steps;
    tokens_seen += global_tokens;
    if ((step + 1) % log_every == 0 || step + 1 == steps) {
      const double el = seconds_since(start);
      log::info("sft step {}/{}: nll/token {:.4f}, lr {:.2e}, {:.0f} tokens/s", step + 1, steps,
                loss_sum / double(loss_steps), step_lr, tokens_seen / std::max(el, 1e-9));
      loss_sum = 0;
      loss_steps = 0;
    }
  }
  model->eval();

  // Pass-rate estimate on the test split (samples at temperature 1).
  const int64_t eval_samples = c.get_int("sft.eval-samples");
  if (eval_samples > 0) {
    auto test_options = task_options;
    test_options.split = "test";
    test_options.count = int(c.get_int("sft.eval-prompts"));
    auto test_task = tasks::make_task(test_options);
    auto test = test_task->make_dataset();
    auto [t0, t1] = balanced_block(int64_t(test.size()), comm->rank(), comm->size());
    std::vector<GenerationRequest> requests;
    std::vector<const tasks::Record*> records;
    for (int64_t i = t0; i < t1; ++i)
      for (int64_t s = 0; s < eval_samples; ++s) {
        requests.push_back({tokenizer.encode(test_task->render_prompt(test[size_t(i)])), i, s});
        records.push_back(&test[size_t(i)]);
      }
    GenerationParams gp;
    gp.max_new_tokens = c.get_int("sft.max-new-tokens");
    set_model_stops(gp, *model, tokenizer);
    if (!test_task->response_terminator().empty()) gp.stop_strings.push_back(test_task->response_terminator());
    int64_t correct = 0;
    if (!requests.empty()) {
      auto results = generate(*model, requests, gp, seed + 1, &tokenizer);
      std::vector<std::string> texts;
      for (auto& r : results) texts.push_back(response_text(tokenizer, r.tokens));
      for (auto& r : test_task->reward_batch(records, texts)) correct += r.reason == tasks::Reason::Correct;
    }
    correct = comm->all_reduce(correct, ReduceOp::Sum);
    const int64_t total = int64_t(test.size()) * eval_samples;
    log::info("sft: pass rate on the test split {:.3f} ({} of {} samples, T=1)", double(correct) / double(total),
              correct, total);
  }
  if (mpi.is_root()) {
    SaveOptions so;
    so.copy_from_dir = in;
    save_model(*model, out, so);
    log::info("sft: wrote {}", out);
  }
  comm->barrier();
  return out;
}

}  // namespace disa::train
