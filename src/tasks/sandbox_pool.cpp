// Bounded concurrent sandbox runs: `concurrency` worker threads take jobs in order from
// a shared counter; each job forks its own sandboxed child.
#include "disa/tasks/sandbox_pool.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "disa/core/error.hpp"

namespace disa::tasks {

SandboxPool::SandboxPool(SandboxLimits limits, int concurrency)
    : sandbox_(std::move(limits)), concurrency_(concurrency) {
  DISA_CHECK(concurrency >= 1, ConfigError, "option --sandbox.concurrency: must be at least 1 (got {})", concurrency);
}

std::vector<SandboxResult> SandboxPool::run_all(const std::vector<SandboxJob>& jobs) const {
  std::vector<SandboxResult> results(jobs.size());
  if (jobs.empty()) return results;
  sandbox_capabilities();  // probe once before the threads start
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) results[i] = sandbox_.run(jobs[i]);
  };
  const size_t n_threads = std::min<size_t>(static_cast<size_t>(concurrency_), jobs.size());
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return results;
}

}  // namespace disa::tasks
