// Implementation of the supervised warm start (include/disa/train/warm_start.hpp).
#include "disa/train/warm_start.hpp"

#include <cmath>
#include <filesystem>

#include <torch/torch.h>

#include "disa/core/log.hpp"
#include "disa/core/option_table.hpp"
#include "disa/core/random.hpp"
#include "disa/core/table.hpp"
#include "disa/core/timing.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/model/weights.hpp"
#include "disa/stage/compute.hpp"
#include "disa/stage/models.hpp"
#include "disa/stage/rollout.hpp"
#include "disa/tasks/registry.hpp"
#include "disa/tasks/task_options.hpp"
#include "disa/train/gradients.hpp"
#include "disa/train/lr_schedule.hpp"

namespace disa::train {

namespace {

// The settings of `disa warm-start`; the initialisers are the options' defaults.
struct WarmStartSettings {
  std::string model_dir, out_dir;
  int64_t steps = 300, batch = 32;
  double lr = 3e-3;
  int64_t warmup = 20;
  bool cosine = false;
  double min_lr_ratio = 0.1, weight_decay = 0, clip = 1.0;
  uint64_t seed = 1;
  int64_t log_every = 25, eval_samples = 4, eval_prompts = 64, max_new_tokens = 48;
  stage::ComputeSettings compute;
  tasks::TaskOptions task;
};

const core::OptionTable<WarmStartSettings>& settings_table() {
  static const core::OptionTable<WarmStartSettings> table = [] {
    core::OptionTable<WarmStartSettings> t;
    t.text("warm-start.model", DISA_FIELD(model_dir), "initial model directory (e.g. from 'disa model init')",
           core::required("the initial model directory"));
    t.text("warm-start.out", DISA_FIELD(out_dir), "output model directory (HF layout)",
           core::required("the model directory to write"));
    t.integer("warm-start.steps", DISA_FIELD(steps), "optimiser steps", core::at_least<int64_t>(0));
    t.integer("warm-start.batch-size", DISA_FIELD(batch), "(prompt, solution) pairs per step, over all ranks",
              core::at_least<int64_t>(1));
    t.real("warm-start.lr", DISA_FIELD(lr), "AdamW learning rate (constant after warm-up)", core::above(0.0));
    t.integer("warm-start.warmup", DISA_FIELD(warmup), "linear learning-rate warm-up steps",
              core::at_least<int64_t>(0));
    t.choice("warm-start.schedule", DISA_FIELD(cosine),
             std::vector<std::pair<std::string, bool>>{{"constant", false}, {"cosine", true}},
             "after warm-up: constant or cosine");
    t.real("warm-start.min-lr-ratio", DISA_FIELD(min_lr_ratio), "cosine: final learning rate / peak",
           core::within(0.0, 1.0));
    t.real("warm-start.weight-decay", DISA_FIELD(weight_decay), "AdamW weight decay");
    t.real("warm-start.clip", DISA_FIELD(clip), "global gradient-norm clip (0: off)");
    t.integer("warm-start.seed", DISA_FIELD(seed), "seed of the data order and solution choice");
    t.integer("warm-start.log-every", DISA_FIELD(log_every), "steps between progress lines",
              core::at_least<int64_t>(1));
    t.integer("warm-start.eval-samples", DISA_FIELD(eval_samples),
              "samples per test prompt for the final pass-rate estimate (0: none)", core::at_least<int64_t>(0));
    t.integer("warm-start.eval-prompts", DISA_FIELD(eval_prompts), "test-split prompts of the final pass-rate estimate",
              core::within<int64_t>(1, 1000000));
    t.integer("warm-start.max-new-tokens", DISA_FIELD(max_new_tokens),
              "generation limit of the final pass-rate estimate", core::at_least<int64_t>(1));
    t.include(DISA_FIELD(compute), stage::compute_option_table("warm-start"));
    t.include(DISA_FIELD(task), tasks::task_option_table());
    return t;
  }();
  return table;
}

}  // namespace

void add_warm_start_options(core::Options& o) { settings_table().declare(o); }

std::string run_warm_start(const core::Config& c, dist::MpiContext& mpi) {
  const WarmStartSettings ws = settings_table().read(c);
  const std::string& out = ws.out_dir;
  const int64_t steps = ws.steps, batch = ws.batch;
  LrSchedule schedule;
  schedule.lr = ws.lr;
  schedule.warmup = std::max<int64_t>(ws.warmup, 1);
  schedule.cosine = ws.cosine;
  schedule.min_ratio = ws.min_lr_ratio;
  schedule.steps = steps;
  const int64_t log_every = ws.log_every;
  const double clip = ws.clip;
  const uint64_t seed = ws.seed;

  auto comm = dist::make_mpi_communicator(mpi.world());
  const torch::Device device = stage::setup_compute(mpi, ws.compute);
  auto models = stage::load_models({"warm-start.model", "initial model", ws.model_dir, ""}, std::nullopt, "", device,
                                   torch::kFloat32);
  auto model = models.first;
  const model::Tokenizer& tokenizer = *models.tokenizer;
  const auto& task_options = ws.task;
  auto task = tasks::make_task(task_options);
  auto data = task->make_dataset();

  // Every prompt with its listed solutions (tokens).
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<std::vector<int32_t>>> solutions;
  for (size_t i = 0; i < data.size(); ++i) {
    auto sols = task->enumerate_solutions(data[i]);
    if (!sols)
      DISA_THROW(ConfigError,
                 "option --task.name: task '{}' does not list its solutions; the warm start needs "
                 "one that does (countdown, graph_paths)",
                 task->name());
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
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(ws.lr).weight_decay(ws.weight_decay));
  auto [b0, b1] = dist::balanced_block(batch, comm->rank(), comm->size());
  const auto start = core::Clock::now();
  double loss_sum = 0;
  int64_t loss_steps = 0, tokens_seen = 0;
  for (int64_t step = 0; step < steps; ++step) {
    std::vector<model::ScoreItem> items;
    for (int64_t i = b0; i < b1; ++i) {
      uint64_t h = core::mix64(seed ^ core::mix64(uint64_t(step) * 0x100000001B3ULL + uint64_t(i)));
      size_t p = core::uniform_index(h, prompts.size());
      size_t s = core::uniform_index(core::mix64(h), solutions[p].size());
      items.push_back({prompts[p], solutions[p][s]});
    }
    int64_t local_tokens = 0;
    for (const auto& it : items) local_tokens += int64_t(it.response.size());
    const int64_t global_tokens = comm->all_reduce(local_tokens, dist::ReduceOp::Sum);
    optimizer.zero_grad();
    double local_nll = 0;
    if (!items.empty()) {
      model::ScoreOptions opts;
      opts.differentiable = true;
      auto result = model::score(*model, items, opts);
      auto nll = -(result.token_logprobs * result.response_mask.to(torch::kFloat32)).sum();
      (nll / double(std::max<int64_t>(global_tokens, 1))).backward();
      local_nll = nll.item<double>();
    }
    all_reduce_gradients(*comm, model->parameters());
    clip_gradient_norm(model->parameters(), clip);
    const double step_lr = schedule.at(step);
    set_learning_rate(optimizer, step_lr);
    optimizer.step();
    const double nll = comm->all_reduce(local_nll, dist::ReduceOp::Sum) / double(std::max<int64_t>(global_tokens, 1));
    loss_sum += nll;
    ++loss_steps;
    tokens_seen += global_tokens;
    if ((step + 1) % log_every == 0 || step + 1 == steps) {
      const double el = core::seconds_since(start);
      core::log::info("warm-start step {}/{}: nll/token {:.4f}, lr {:.2e}, {:.0f} tokens/s", step + 1, steps,
                      loss_sum / double(loss_steps), step_lr, tokens_seen / std::max(el, 1e-9));
      loss_sum = 0;
      loss_steps = 0;
    }
  }
  model->eval();

  // Pass-rate estimate on the test split (samples at temperature 1).
  const int64_t eval_samples = ws.eval_samples;
  if (eval_samples > 0) {
    auto test_options = task_options;
    test_options.split = "test";
    test_options.count = int(ws.eval_prompts);
    auto test_task = tasks::make_task(test_options);
    auto test = test_task->make_dataset();
    auto [t0, t1] = dist::balanced_block(int64_t(test.size()), comm->rank(), comm->size());
    std::vector<model::GenerationRequest> requests;
    std::vector<const tasks::Record*> records;
    for (int64_t i = t0; i < t1; ++i)
      for (int64_t s = 0; s < eval_samples; ++s) {
        requests.push_back({tokenizer.encode(test_task->render_prompt(test[size_t(i)])), i, s});
        records.push_back(&test[size_t(i)]);
      }
    const model::GenerationParams gp = stage::generation_params(*model, tokenizer, *test_task, model::SamplingParams{},
                                                                ws.max_new_tokens,
                                                                model::GenerationParams{}.max_batch_size);
    int64_t correct = 0;
    if (!requests.empty()) {
      auto results = model::generate(*model, requests, gp, seed + 1, &tokenizer);
      for (auto& r : stage::reward_responses(*test_task, records, tokenizer, results).rewards)
        correct += r.reason == tasks::Reason::Correct;
    }
    correct = comm->all_reduce(correct, dist::ReduceOp::Sum);
    const int64_t total = int64_t(test.size()) * eval_samples;
    core::log::info("warm-start: pass rate on the test split {:.3f} ({} of {} samples, T=1)",
                    double(correct) / double(total), correct, total);
  }
  if (mpi.is_root()) {
    model::SaveOptions so;
    so.copy_from_dir = ws.model_dir;
    model::save_model(*model, out, so);
    core::log::info("warm-start: wrote {}", out);
  }
  comm->barrier();
  return out;
}

}  // namespace disa::train
