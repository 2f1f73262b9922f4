// Sandbox::run (see include/disa/tasks/sandbox.hpp and docs/tasks.md): the steps of one
// run in order. Each step lives in its own file:
//   sandbox_setup.cpp    the private uid lease and the working directory (RAII)
//   sandbox_plan.cpp     the execution plan, built completely before fork
//   sandbox_process.cpp  fork the supervisor, collect output and status records
//   sandbox_child.cpp    the supervisor and the program child (system calls only)
//   sandbox_verdict.cpp  classify: raw outcome -> SandboxResult
#include "disa/tasks/sandbox.hpp"

#include <sys/types.h>

#include <optional>
#include <random>

#include <fmt/format.h>

#include "disa/core/log.hpp"
#include "disa/tasks/sandbox_harness.hpp"
#include "disa/tasks/sandbox_plan.hpp"
#include "disa/tasks/sandbox_process.hpp"
#include "disa/tasks/sandbox_setup.hpp"
#include "disa/tasks/sandbox_verdict.hpp"

namespace disa::tasks {

namespace {

using namespace sandbox_detail;

// The parent supervises the supervisor: if it has not reported this long after the
// wall limit, the parent kills it (backstop).
constexpr double kBackstopGraceSeconds = 5.0;

// A fresh unguessable marker per run: the harness prints it last, so a pass cannot be
// faked by a program that prints something and exits with status 0.
std::string random_marker() {
  std::random_device rd;
  std::string s = "DISA-SANDBOX-DONE-";
  for (int i = 0; i < 4; ++i) s += fmt::format("{:08x}", rd());
  return s;
}

// The harness, the program, the test (if any), the marker and stdin.
void populate(const WorkDir& dir, const SandboxJob& job, const std::string& marker) {
  try {
    dir.write(kHarnessFile, kHarness);
    dir.write(kProgramFile, job.program);
    if (!job.test_code.empty()) dir.write(kTestFile, job.test_code);
    dir.write(kMarkerFile, marker);
    dir.write(kStdinFile, job.stdin_text);
  } catch (const SetupError&) {
    throw;
  } catch (const std::exception& e) {  // e.g. bad_alloc: still an `error` verdict
    throw SetupError(fmt::format("sandbox: {}", e.what()));
  }
}

// One run; every failure to prepare it is a SetupError (nothing was started then).
SandboxResult run_job(const SandboxLimits& limits, const SandboxJob& job) {
  const SandboxCapabilities& caps = sandbox_capabilities();
  if (limits.require_network_isolation && !caps.can_unshare_net)
    throw SetupError(
        "sandbox: network isolation required (sandbox.require-network-isolation) "
        "but the kernel refuses a new network namespace");
  const double start = now_seconds();

  // Declared before the working directory: the uid is released only after the
  // directory (owned by that uid) is gone.
  std::optional<UidLease> lease;
  if (caps.can_setuid) {
    lease.emplace(limits);
    kill_all_of_uid(lease->uid());  // leftovers of a crashed earlier run
  }
  const std::optional<uid_t> private_uid = lease ? std::optional<uid_t>(lease->uid()) : std::nullopt;

  const WorkDir workdir(limits.work_root);
  const std::string marker = random_marker();
  populate(workdir, job, marker);
  if (private_uid) workdir.give_to(*private_uid, {kHarnessFile, kProgramFile, kTestFile, kMarkerFile, kStdinFile});
  workdir.restrict_to_owner();

  const ExecPlan plan(limits, caps, workdir.path().string(), private_uid);
  RawOutcome raw = run_supervised(plan, limits.max_output_bytes, start + limits.wall_seconds + kBackstopGraceSeconds);
  // Second line behind the supervisor's cleanup: nothing of the run's uid survives.
  if (plan.drop_uid) kill_all_of_uid(plan.uid);
  raw.wall_seconds = now_seconds() - start;
  raw.completion_marker = marker;
  raw.private_uid = plan.drop_uid;
  raw.uid = static_cast<int>(plan.uid);
  raw.network_namespace = plan.unshare_net;
  raw.mount_namespace = plan.unshare_mount;
  if (plan.unshare_mount && raw.remount_failures > 0)
    core::log::debug("sandbox: {} read-only remounts failed", raw.remount_failures);
  return classify(raw, limits);
}  // the working directory is removed here, then the uid lease released

}  // namespace

Sandbox::Sandbox(SandboxLimits limits) : limits_(std::move(limits)) {}

SandboxResult Sandbox::run(const SandboxJob& job) const {
  try {
    return run_job(limits_, job);
  } catch (const sandbox_detail::SetupError& e) {
    SandboxResult result;  // verdict Error, nothing else recorded
    result.detail = e.what();
    return result;
  }
}

}  // namespace disa::tasks
