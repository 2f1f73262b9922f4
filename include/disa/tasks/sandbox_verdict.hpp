// Internal to the sandbox (src/tasks/sandbox*.cpp), public for its unit tests: what a
// run produced, as raw facts (the status-pipe records, the output, what the parent
// observed), and `classify`, the pure function that turns them into a SandboxResult.
// Keeping the mapping free of processes and pipes lets the tests feed it synthetic wait
// statuses (exit codes, SIGKILL, SIGXCPU, SIGSEGV, timeouts) and check exact verdicts.
#pragma once

#include <cstdint>
#include <string>

#include "disa/tasks/sandbox.hpp"

namespace disa::tasks::sandbox_detail {

struct RawOutcome {
  // Setup, as the program child reported it (the last record wins).
  bool setup_reported = false;  // a setup record (done or failed) arrived
  bool setup_failed = false;    // a step before or at execve failed (sticky)
  std::string setup_step;       // the step that failed, e.g. "execve" (stage_name)
  int setup_errno = 0;
  int remount_failures = 0;  // read-only remounts the kernel refused

  // The end, as the supervisor reported it once every process of the run was dead.
  bool final_reported = false;
  int wait_status = 0;  // of the program child (wait(2) encoding)
  bool wall_timer_fired = false;
  std::int64_t cpu_microseconds = 0;  // user + system time of the program child

  // The parent killed a supervisor that did not report within wall limit + 5 s.
  bool backstop_killed = false;

  // Output as read (each stream capped), the stdout still ending in the marker line.
  std::string stdout_raw, stderr_raw;
  bool stdout_truncated = false, stderr_truncated = false;
  std::string completion_marker;  // the harness prints "\n" + marker + "\n" when done

  // Isolation in force (from the plan) and the time taken (recorded, not judged).
  bool private_uid = false;
  int uid = -1;
  bool network_namespace = false;
  bool mount_namespace = false;
  double wall_seconds = 0.0;
};

// The verdict and the SandboxResult of a run. Precedence: setup failure or a silent
// supervisor -> Error; wall-clock kill -> Timeout; SIGXCPU, or SIGKILL with the CPU
// limit used up -> Timeout; any other signal -> Crash; exit 0 -> Pass only with the
// completion marker, else Crash; exit 3 -> Fail; exit 4 or "MemoryError" on stderr ->
// Memory; anything else -> Crash. `limits` supply the numbers quoted in `detail`.
SandboxResult classify(const RawOutcome& raw, const SandboxLimits& limits);

}  // namespace disa::tasks::sandbox_detail
