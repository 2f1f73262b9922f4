// The staging and final tables of the eval file (src/eval/eval_rows.hpp).
#include "eval_rows.hpp"

#include <algorithm>
#include <iterator>
#include <type_traits>

#include "disa/core/error.hpp"
#include "disa/eval/judge.hpp"
#include "disa/io/partition_file.hpp"
#include "disa/tasks/reward.hpp"

namespace disa::eval::detail {
namespace {

constexpr const char* kBatches = "/staging/batches";
constexpr int64_t kBatchColumns = 5;  // StagedBatch's members
constexpr int64_t kPromptChunk = 1024, kSampleChunk = 4096;

// The fixed-size columns of each table, in one list for both homes: f(name, the member
// of each of `rows`...).
template <class F, class... Rows>
void for_each_prompt_column(F&& f, Rows&... rows) {
  f("judge_status", rows.judge_status...);
  f("reachable_solutions", rows.reachable_solutions...);
  f("unreachable_solutions", rows.unreachable_solutions...);
}
template <class F, class... Rows>
void for_each_sample_column(F&& f, Rows&... rows) {
  f("prompt_index", rows.prompt_index...);
  f("sample_index", rows.sample_index...);
  f("length", rows.length...);
  f("finish_reason", rows.finish_reason...);
  f("reward", rows.reward...);
  f("reason", rows.reason...);
  f("correct", rows.correct...);
  f("log_prob", rows.log_prob...);
}

std::vector<std::vector<int8_t>> as_bytes(const std::vector<std::string>& strings) {
  std::vector<std::vector<int8_t>> out;
  out.reserve(strings.size());
  for (const auto& s : strings) out.emplace_back(s.begin(), s.end());
  return out;
}

std::vector<std::string> from_bytes(const std::vector<std::vector<int8_t>>& bytes) {
  std::vector<std::string> out;
  out.reserve(bytes.size());
  for (const auto& b : bytes) out.emplace_back(b.begin(), b.end());
  return out;
}

int64_t longest(const std::vector<std::string>& strings) {
  size_t n = 0;
  for (const auto& s : strings) n = std::max(n, s.size());
  return int64_t(n);
}

template <class T>
void move_append(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

void ResultRows::extend(ResultRows&& more) {
  auto append = [](const std::string&, auto& to, auto& from) { move_append(to, from); };
  move_append(prompts, more.prompts);
  move_append(metrics, more.metrics);
  for_each_prompt_column(append, *this, more);
  move_append(judge_answer, more.judge_answer);
  for_each_sample_column(append, *this, more);
  move_append(tokens, more.tokens);
  move_append(key, more.key);
}

void create_staging(io::h5::File& f, int64_t metrics, int deflate) {
  ResultRows none;
  f.create_group("/staging/prompts");
  f.create_group("/staging/samples");
  f.create_appendable<int64_t>("/staging/prompts/prompt", 1, kPromptChunk);
  f.create_appendable<double>("/staging/prompts/metrics", metrics, kPromptChunk);
  for_each_prompt_column(
      [&](const std::string& name, auto& column) {
        f.create_appendable<typename std::decay_t<decltype(column)>::value_type>("/staging/prompts/" + name, 1,
                                                                                 kPromptChunk);
      },
      none);
  f.create_appendable_ragged<int8_t>("/staging/prompts/judge_answer", kPromptChunk);
  for_each_sample_column(
      [&](const std::string& name, auto& column) {
        f.create_appendable<typename std::decay_t<decltype(column)>::value_type>("/staging/samples/" + name, 1,
                                                                                 kSampleChunk);
      },
      none);
  f.create_appendable_ragged<int32_t>("/staging/samples/tokens", kSampleChunk, deflate);
  f.create_appendable_ragged<int8_t>("/staging/samples/key", kSampleChunk);
  f.create_appendable<int64_t>(kBatches, kBatchColumns, 256);
}

void append_staging(io::h5::File& f, const ResultRows& r, int64_t batch) {
  const int64_t metrics = r.num_prompts() ? int64_t(r.metrics.size() / r.num_prompts()) : 0;
  const int64_t prompt_row = f.append_rows("/staging/prompts/prompt", r.prompts);
  if (r.num_prompts())
    f.append_rows("/staging/prompts/metrics", r.metrics.data(), int64_t(r.num_prompts()), metrics);
  else
    f.append_rows<double>("/staging/prompts/metrics", nullptr, 0, f.shape("/staging/prompts/metrics")[1]);
  for_each_prompt_column([&](const std::string& name,
                             const auto& column) { f.append_rows("/staging/prompts/" + name, column); },
                         r);
  f.append_ragged("/staging/prompts/judge_answer", as_bytes(r.judge_answer));
  const int64_t sample_row = f.append_rows("/staging/samples/prompt_index", r.prompt_index);
  for_each_sample_column(
      [&](const std::string& name, const auto& column) {
        if (name != "prompt_index") f.append_rows("/staging/samples/" + name, column);
      },
      r);
  f.append_ragged("/staging/samples/tokens", r.tokens);
  f.append_ragged("/staging/samples/key", as_bytes(r.key));
  // The record last: the index is the checkpoint.
  std::vector<int64_t> record;
  if (batch >= 0) record = {batch, prompt_row, sample_row, longest(r.judge_answer), longest(r.key)};
  f.append_rows(kBatches, record.data(), batch >= 0 ? 1 : 0, kBatchColumns);
}

std::vector<StagedBatch> read_staged_batches(const io::h5::File& f) {
  const auto flat = f.read<int64_t>(kBatches);
  std::vector<StagedBatch> out;
  for (size_t i = 0; i + size_t(kBatchColumns) <= flat.size(); i += size_t(kBatchColumns))
    out.push_back({flat[i], flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 4]});
  return out;
}

std::vector<StagedBatch> drop_unrecorded_rows(io::h5::File& f, int64_t samples_per_prompt,
                                              const std::function<int64_t(int64_t)>& prompts_of) {
  const auto batches = read_staged_batches(f);
  int64_t prompts = 0, samples = 0;
  for (const auto& b : batches) {
    const int64_t n = prompts_of(b.batch);
    prompts = std::max(prompts, b.first_prompt_row + n);
    samples = std::max(samples, b.first_sample_row + n * samples_per_prompt);
  }
  ResultRows none;
  f.resize_rows("/staging/prompts/prompt", prompts);
  f.resize_rows("/staging/prompts/metrics", prompts);
  for_each_prompt_column([&](const std::string& name, auto&) { f.resize_rows("/staging/prompts/" + name, prompts); },
                         none);
  for_each_sample_column([&](const std::string& name, auto&) { f.resize_rows("/staging/samples/" + name, samples); },
                         none);
  auto truncate_ragged = [&](const std::string& path, int64_t rows) {
    const int64_t end = f.read_rows<int64_t>(path + "/offsets", rows, 1)[0];
    f.resize_rows(path + "/offsets", rows + 1);
    f.resize_rows(path + "/values", end);
  };
  truncate_ragged("/staging/prompts/judge_answer", prompts);
  truncate_ragged("/staging/samples/tokens", samples);
  truncate_ragged("/staging/samples/key", samples);
  f.flush();
  return batches;
}

ResultRows read_staged(const io::h5::File& f, const StagedBatch& b, int64_t prompts, int64_t samples_per_prompt,
                       int64_t metrics) {
  ResultRows r;
  const int64_t p0 = b.first_prompt_row, s0 = b.first_sample_row, samples = prompts * samples_per_prompt;
  r.prompts = f.read_rows<int64_t>("/staging/prompts/prompt", p0, prompts);
  r.metrics = f.read_rows<double>("/staging/prompts/metrics", p0, prompts);
  DISA_CHECK(int64_t(r.metrics.size()) == prompts * metrics, IoError,
             "'{}': /staging/prompts/metrics has {} values for {} prompts of {} metrics", f.path(), r.metrics.size(),
             prompts, metrics);
  for_each_prompt_column(
      [&](const std::string& name, auto& column) {
        column =
            f.read_rows<typename std::decay_t<decltype(column)>::value_type>("/staging/prompts/" + name, p0, prompts);
      },
      r);
  r.judge_answer = from_bytes(f.read_ragged_rows<int8_t>("/staging/prompts/judge_answer", p0, prompts));
  for_each_sample_column(
      [&](const std::string& name, auto& column) {
        column =
            f.read_rows<typename std::decay_t<decltype(column)>::value_type>("/staging/samples/" + name, s0, samples);
      },
      r);
  r.tokens = f.read_ragged_rows<int32_t>("/staging/samples/tokens", s0, samples);
  r.key = from_bytes(f.read_ragged_rows<int8_t>("/staging/samples/key", s0, samples));
  return r;
}

void create_final(io::h5::File& f, const std::vector<std::string>& metric_names, const FinalWidths& widths,
                  int deflate) {
  ResultRows none;
  for_each_prompt_column(
      [&](const std::string& name, auto& column) {
        f.create_appendable<typename std::decay_t<decltype(column)>::value_type>("/prompts/" + name, 1, kPromptChunk);
      },
      none);
  f.set_code_names("/prompts/judge_status", judge_status_names());
  f.create_appendable_strings("/prompts/judge_answer", widths.answer_bytes + 1, kPromptChunk);
  f.create_group("/prompts/metrics");
  for (const auto& m : metric_names) f.create_appendable<double>("/prompts/metrics/" + m, 1, kPromptChunk);
  f.create_group("/samples");
  for_each_sample_column(
      [&](const std::string& name, auto& column) {
        f.create_appendable<typename std::decay_t<decltype(column)>::value_type>("/samples/" + name, 1, kSampleChunk);
      },
      none);
  f.set_attr("/samples/finish_reason", "names", io::partition::kFinishNames);
  f.set_code_names("/samples/reason", tasks::reason_names());
  f.create_appendable_ragged<int32_t>("/samples/tokens", kSampleChunk, deflate);
  f.create_appendable_strings("/samples/key", widths.key_bytes + 1, kSampleChunk);
}

void append_final(io::h5::File& f, const ResultRows& r, const std::vector<std::string>& metric_names) {
  for_each_prompt_column([&](const std::string& name,
                             const auto& column) { f.append_rows("/prompts/" + name, column); },
                         r);
  f.append_strings("/prompts/judge_answer", r.judge_answer);
  const size_t M = metric_names.size();
  for (size_t m = 0; m < M; ++m) {
    std::vector<double> column;
    column.reserve(r.num_prompts());
    for (size_t p = 0; p < r.num_prompts(); ++p) column.push_back(r.metrics[p * M + m]);
    f.append_rows("/prompts/metrics/" + metric_names[m], column);
  }
  for_each_sample_column([&](const std::string& name,
                             const auto& column) { f.append_rows("/samples/" + name, column); },
                         r);
  f.append_ragged("/samples/tokens", r.tokens);
  f.append_strings("/samples/key", r.key);
}

}  // namespace disa::eval::detail
