// The sample sources of a training step (include/disa/train/sample_source.hpp).
#include "disa/train/sample_source.hpp"

#include <algorithm>
#include <map>
#include <numeric>

#include "disa/core/error.hpp"
#include "disa/core/log.hpp"
#include "disa/core/random.hpp"
#include "disa/core/timing.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/model/causal_lm.hpp"
#include "disa/model/score.hpp"
#include "disa/stage/rollout.hpp"
#include "disa/tasks/task.hpp"

namespace disa::train {

namespace {

// The training-prompt indices of a step: positions [step P, (step + 1) P) of the
// concatenated epoch orders, each epoch a seeded permutation of the n prompts.
std::vector<int64_t> step_prompts(uint64_t seed, int64_t step, int64_t prompts_per_step, int64_t n) {
  const int64_t P = prompts_per_step;
  std::vector<int64_t> out;
  std::vector<int64_t> perm;
  int64_t perm_epoch = -1;
  for (int64_t k = step * P; k < (step + 1) * P; ++k) {
    const int64_t epoch = k / n;
    if (epoch != perm_epoch) {
      perm.resize(size_t(n));
      std::iota(perm.begin(), perm.end(), 0);
      for (int64_t i = n - 1; i > 0; --i) {
        uint64_t h =
            core::mix64(seed ^ core::mix64(0xE90C0000ULL + uint64_t(epoch)) ^ core::mix64(uint64_t(i) * 0x9E37ULL));
        std::swap(perm[size_t(i)], perm[core::uniform_index(h, size_t(i + 1))]);
      }
      perm_epoch = epoch;
    }
    out.push_back(perm[size_t(k % n)]);
  }
  return out;
}

// (prompt, mini-batch) pairs of this rank in a step: mini-batch m holds the step's
// prompts [m P / M, (m + 1) P / M), each rank a balanced share of each.
std::vector<std::pair<int64_t, int64_t>> my_prompts(const SourceContext& c, int64_t step) {
  const auto& s = c.settings;
  const auto global = step_prompts(s.seed, step, s.prompts_per_step, int64_t(c.prompts.size()));
  std::vector<std::pair<int64_t, int64_t>> mine;
  for (int64_t m = 0; m < s.mini_batches; ++m) {
    auto [m0, m1] = dist::balanced_block(int64_t(global.size()), int(m), int(s.mini_batches));
    auto [r0, r1] = dist::balanced_block(m1 - m0, c.comm.rank(), c.comm.size());
    for (int64_t i = m0 + r0; i < m0 + r1; ++i) mine.emplace_back(global[size_t(i)], m);
  }
  return mine;
}

// G responses per prompt from the current policy, rewarded by the task.
class Rollouts final : public SampleSource {
 public:
  explicit Rollouts(const SourceContext& c) : c_(c) {}

  std::vector<Sample> draw(int64_t step, StepStats& stats) override {
    const auto& s = c_.settings;
    const auto mine = my_prompts(c_, step);
    std::vector<model::GenerationRequest> requests;
    for (auto [p, m] : mine)
      for (int64_t g = 0; g < s.group_size; ++g) requests.push_back({c_.prompts[size_t(p)].tokens, p, g});
    const auto t0 = core::Clock::now();
    std::vector<model::GenerationResult> results;
    if (!requests.empty()) {
      c_.policy->eval();
      results = model::generate(*c_.policy, requests, *c_.generation,
                                core::mix64(s.seed ^ core::mix64(0x5EED0000ULL + uint64_t(step))), c_.tokenizer);
    }
    stats.add("time_generate", core::seconds_since(t0), 0);
    std::vector<const tasks::Record*> records;
    for (const auto& r : results) records.push_back(c_.prompts[size_t(r.prompt_id)].record);
    const auto rewards = stage::reward_responses(*c_.task, records, *c_.tokenizer, results).rewards;
    std::vector<Sample> samples;
    for (size_t i = 0; i < results.size(); ++i) {
      const auto [p, m] = mine[i / size_t(s.group_size)];
      Sample smp;
      smp.prompt = p;
      smp.minibatch = m;
      smp.group = int64_t(i / size_t(s.group_size));
      smp.prompt_tokens = &c_.prompts[size_t(p)].tokens;
      smp.tokens = std::move(results[i].tokens);
      smp.reward = rewards[i].reward;
      smp.correct = rewards[i].reason == tasks::Reason::Correct;
      smp.truncated = results[i].finish_reason == model::FinishReason::Length;
      smp.anchor = c_.prompts[size_t(p)].anchor + s.anchor_shift;
      samples.push_back(std::move(smp));
    }
    return samples;
  }

 private:
  SourceContext c_;
};

// Every stored trajectory of each of the step's prompts, in sample order (independent of
// the file's row order), read from the partition file at each step: a rank holds its
// step's rows, never the file's.
class StoredTrajectories final : public SampleSource {
 public:
  explicit StoredTrajectories(const SourceContext& c) : c_(c) {
    const auto& reader = c.anchors->reader();
    // A prompt outside the file (anchored by a regressor) has no stored trajectories.
    for (const auto& prompt : c.prompts)
      rows_.push_back(prompt.file_index >= 0 ? reader.rows_of_prompt(prompt.file_index) : std::vector<int64_t>{});
  }

  std::vector<Sample> draw(int64_t step, StepStats&) override {
    const auto mine = my_prompts(c_, step);
    std::vector<int64_t> rows;
    for (auto [p, m] : mine) rows.insert(rows.end(), rows_[size_t(p)].begin(), rows_[size_t(p)].end());
    const auto t = c_.anchors->reader().read_rows(rows);
    std::vector<Sample> samples;
    size_t r = 0;
    int64_t group = 0;
    for (auto [p, m] : mine) {
      for (size_t i = 0; i < rows_[size_t(p)].size(); ++i, ++r) {
        Sample smp;
        smp.prompt = p;
        smp.minibatch = m;
        smp.group = group;
        smp.prompt_tokens = &c_.prompts[size_t(p)].tokens;
        smp.tokens = t.tokens[r];
        smp.reward = t.reward[r];
        smp.correct = t.reason[r] == int8_t(tasks::Reason::Correct);
        smp.truncated = t.finish_reason[r] == io::partition::kFinishLength;
        smp.anchor = c_.prompts[size_t(p)].anchor + c_.settings.anchor_shift;
        smp.log_q = t.log_q[r];
        samples.push_back(std::move(smp));
      }
      ++group;
    }
    return samples;
  }

 private:
  SourceContext c_;
  std::vector<std::vector<int64_t>> rows_;  // per training prompt: the file rows of its samples 0..N-1
};

// sft.batch-size trajectories per step drawn from the file's trajectories with reward >=
// sft.min-reward (with their own prompts; the training prompts play no part). The pool is
// an index of rows (three columns read once); a step reads its rows.
class CorrectTrajectories final : public SampleSource {
 public:
  explicit CorrectTrajectories(const SourceContext& c) : c_(c) {
    const auto& s = c.settings;
    const auto& reader = c.anchors->reader();
    const auto& file = reader.file();
    const auto reward = file.read<double>(io::partition::column::reward.path());
    const auto prompt_index = file.read<int64_t>(io::partition::column::prompt_index.path());
    const auto sample_index = file.read<int64_t>(io::partition::column::sample_index.path());
    prompt_tokens_ = reader.prompt_tokens();
    for (size_t r = 0; r < reward.size(); ++r)
      if (reward[r] >= s.sft_min_reward) pool_.push_back(int64_t(r));
    // File order depends on batch completion order; sort by (prompt, sample) for determinism.
    std::sort(pool_.begin(), pool_.end(), [&](int64_t a, int64_t b) {
      return std::make_pair(prompt_index[size_t(a)], sample_index[size_t(a)]) <
             std::make_pair(prompt_index[size_t(b)], sample_index[size_t(b)]);
    });
    DISA_CHECK(!pool_.empty(), DataError,
               "partition file '{}' has no trajectory with reward >= {} (option --sft.min-reward) to train on",
               s.anchors_path, s.sft_min_reward);
    core::log::info("train: sft on {} correct trajectories of {} in '{}'", pool_.size(), reward.size(), s.anchors_path);
  }

  std::vector<Sample> draw(int64_t step, StepStats&) override {
    const auto& s = c_.settings;
    std::vector<int64_t> rows, minibatch, group;
    for (int64_t m = 0; m < s.mini_batches; ++m) {
      auto [m0, m1] = dist::balanced_block(s.sft_batch, int(m), int(s.mini_batches));
      auto [r0, r1] = dist::balanced_block(m1 - m0, c_.comm.rank(), c_.comm.size());
      for (int64_t i = m0 + r0; i < m0 + r1; ++i) {
        uint64_t h = core::mix64(s.seed ^ core::mix64(uint64_t(step) * 0x100000001B3ULL + uint64_t(i)));
        rows.push_back(pool_[core::uniform_index(h, pool_.size())]);
        minibatch.push_back(m);
        group.push_back(i);
      }
    }
    const auto t = c_.anchors->reader().read_rows(rows);
    std::vector<Sample> samples;
    for (size_t r = 0; r < rows.size(); ++r) {
      Sample smp;
      smp.prompt = -1;
      smp.minibatch = minibatch[r];
      smp.group = group[r];
      smp.prompt_tokens = &prompt_tokens_[size_t(t.prompt_index[r])];
      smp.tokens = t.tokens[r];
      smp.reward = t.reward[r];
      smp.correct = true;
      smp.truncated = t.finish_reason[r] == io::partition::kFinishLength;
      samples.push_back(std::move(smp));
    }
    return samples;
  }

 private:
  SourceContext c_;
  std::vector<std::vector<int32_t>> prompt_tokens_;
  std::vector<int64_t> pool_;  // file rows with reward >= sft.min-reward, by (prompt, sample)
};

}  // namespace

std::unique_ptr<SampleSource> make_sample_source(SampleKind kind, const SourceContext& context) {
  switch (kind) {
    case SampleKind::Rollouts: return std::make_unique<Rollouts>(context);
    case SampleKind::StoredTrajectories: return std::make_unique<StoredTrajectories>(context);
    case SampleKind::CorrectTrajectories: return std::make_unique<CorrectTrajectories>(context);
  }
  DISA_THROW(Error, "internal: unknown sample kind");
}

}  // namespace disa::train

namespace disa::train {

void score_fixed_logprobs(model::CausalLMImpl& policy, model::CausalLMImpl& reference, std::vector<Sample>& samples,
                          int64_t micro_batch) {
  torch::NoGradGuard no_grad;
  policy.eval();
  model::ScoreOptions opts;
  opts.differentiable = true;  // the fp32 path of the loss (no graph under NoGradGuard)
  for (size_t b = 0; b < samples.size(); b += size_t(micro_batch)) {
    const size_t e = std::min(samples.size(), b + size_t(micro_batch));
    std::vector<model::ScoreItem> items;
    for (size_t i = b; i < e; ++i) items.push_back({*samples[i].prompt_tokens, samples[i].tokens});
    for (int which = 0; which < 2; ++which) {
      auto r = model::score(which == 0 ? policy : reference, items, opts);
      torch::Tensor v = r.token_logprobs.to(torch::kCPU).contiguous();
      auto a = v.accessor<float, 2>();
      for (size_t i = b; i < e; ++i) {
        auto& dst = which == 0 ? samples[i].old_logp : samples[i].ref_logp;
        dst.resize(samples[i].tokens.size());
        for (size_t j = 0; j < dst.size(); ++j) dst[j] = a[int64_t(i - b)][int64_t(j)];
      }
    }
  }
}

}  // namespace disa::train
