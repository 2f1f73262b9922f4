// bench_sampler: the time of one sampling step (draw + log q + untempered log p of every
// row) at a real vocabulary size, for the two sampler kernels and their peer in the same
// run, the dense double reference (sampling_log_probs + inverse_cdf_sample + gathers: what
// the sampler did before the row kernel). One JSON line per (kernel, options) with the
// median milliseconds per step over --reps steps and the peak resident memory so far.
// Usage: bench_sampler [--rows 64] [--vocab 151936] [--reps 20] [--threads 1] [--only rows|tensors|dense]
//        [--case 0|1|2]   (--only, --case: time one kernel, one option set, e.g. under a profiler)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "disa/model/sampling.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double peak_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

double median_ms(int reps, const std::function<void()>& step) {
  std::vector<double> ms;
  step();  // warm-up
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 64, vocab = 151936;
  int reps = 20, threads = 1;
  std::string only;
  int only_case = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_sampler: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rows")
      rows = std::atoll(next());
    else if (a == "--vocab")
      vocab = std::atoll(next());
    else if (a == "--reps")
      reps = std::atoi(next());
    else if (a == "--threads")
      threads = std::atoi(next());
    else if (a == "--only")
      only = next();
    else if (a == "--case")
      only_case = std::atoi(next());
    else {
      std::fprintf(stderr, "usage: bench_sampler [--rows N] [--vocab V] [--reps R] [--threads T] [--only K]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  // Logits of a random model's scale (SD 2): a broad distribution, the worst case for top-p.
  torch::Tensor logits = torch::randn({rows, vocab}, torch::kFloat32) * 2.0;
  std::vector<double> u;
  for (int64_t r = 0; r < rows; ++r) u.push_back(disa::model::counter_uniform(1, uint64_t(r), 0, 0));
  struct Case {
    const char* name;
    disa::model::SamplingParams p;
  };
  std::vector<Case> cases(3);
  cases[0].name = "T=1";
  cases[1].name = "T=0.8,top_k=50";
  cases[1].p.temperature = 0.8, cases[1].p.top_k = 50;
  cases[2].name = "T=0.8,top_p=0.95";
  cases[2].p.temperature = 0.8, cases[2].p.top_p = 0.95;
  for (const Case& c : cases) {
    if (only_case >= 0 && &c - &cases[0] != only_case) continue;
    auto dense = [&] {
      torch::Tensor ld = logits.to(torch::kDouble);
      torch::Tensor lq = disa::model::sampling_log_probs(ld, c.p);
      torch::Tensor tok = disa::model::inverse_cdf_sample(lq, torch::tensor(u, torch::kDouble)).unsqueeze(1);
      torch::Tensor q = lq.gather(1, tok), lp = ld.gather(1, tok) - ld.logsumexp(1, true);
      (void)q, (void)lp;
    };
    auto kernel = [&](disa::model::SamplerKernel k) {
      return [&, k] { (void)disa::model::draw_tokens(logits, u, c.p, true, k); };
    };
    auto timed = [&](const char* name, const std::function<void()>& step) {
      return only.empty() || only == name ? median_ms(reps, step) : -1.0;
    };
    const double ms_dense = timed("dense", dense);
    const double ms_rows = timed("rows", kernel(disa::model::SamplerKernel::Rows));
    const double ms_tensors = timed("tensors", kernel(disa::model::SamplerKernel::Tensors));
    std::printf(
        "{\"options\": \"%s\", \"rows\": %lld, \"vocab\": %lld, \"threads\": %d, \"dense_reference_ms\": %.2f, "
        "\"rows_kernel_ms\": %.2f, \"tensors_kernel_ms\": %.2f, \"speedup_rows\": %.2f, \"peak_rss_mib\": %.0f}\n",
        c.name, static_cast<long long>(rows), static_cast<long long>(vocab), threads, ms_dense, ms_rows, ms_tensors,
        ms_dense / ms_rows, peak_rss_mib());
    std::fflush(stdout);
  }
  return 0;
}
