// A bounded pool of concurrent sandbox runs: at most `concurrency` programs run at
// once; results come back in job order.
#pragma once

#include <vector>

#include "disa/tasks/sandbox.hpp"

namespace disa::tasks {

class SandboxPool {
 public:
  SandboxPool(SandboxLimits limits, int concurrency);
  std::vector<SandboxResult> run_all(const std::vector<SandboxJob>& jobs) const;
  int concurrency() const { return concurrency_; }
  const Sandbox& sandbox() const { return sandbox_; }

 private:
  Sandbox sandbox_;
  int concurrency_;
};

}  // namespace disa::tasks
