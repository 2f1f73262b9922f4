// From the raw facts of a sandbox run to its SandboxResult (see
// include/disa/tasks/sandbox_verdict.hpp). Pure: no processes, files or clocks.
#include "disa/tasks/sandbox_verdict.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "disa/tasks/sandbox_harness.hpp"

namespace disa::tasks {

const char* to_string(SandboxVerdict verdict) {
  switch (verdict) {
    case SandboxVerdict::Pass: return "pass";
    case SandboxVerdict::Fail: return "fail";
    case SandboxVerdict::Timeout: return "timeout";
    case SandboxVerdict::Memory: return "memory";
    case SandboxVerdict::Crash: return "crash";
    case SandboxVerdict::Error: return "error";
  }
  return "?";
}

namespace sandbox_detail {

namespace {

// The last 400 bytes of stderr: enough for the end of a traceback in `detail`.
std::string stderr_tail(const std::string& e) { return e.size() > 400 ? e.substr(e.size() - 400) : e; }

void record_isolation(const RawOutcome& raw, SandboxResult& result) {
  result.private_uid = raw.private_uid;
  result.uid = raw.uid;
  result.network_isolated = raw.network_namespace;
  // Read-only everywhere else only if the child got through its setup and the kernel
  // accepted every read-only remount.
  result.filesystem_isolated = raw.mount_namespace && raw.setup_reported && !raw.setup_failed &&
                               raw.remount_failures == 0;
  result.wall_seconds = raw.wall_seconds;
}

// Removes the harness's completion line from the end of stdout; true if it was there
// (the harness ran to its end). Output after it, or a truncated stream, has none.
bool strip_completion_marker(std::string& out, const std::string& marker) {
  const std::string tail = "\n" + marker + "\n";
  if (out.size() < tail.size() || out.compare(out.size() - tail.size(), tail.size(), tail) != 0) return false;
  out.resize(out.size() - tail.size());
  return true;
}

void decode_wait_status(int status, SandboxResult& result) {
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = -1;
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
}

// The verdict of a program that was started; appends the reason to `detail`.
void judge(const RawOutcome& raw, bool completed, const SandboxLimits& limits, SandboxResult& result) {
  const double cpu_used = static_cast<double>(raw.cpu_microseconds) * 1e-6;
  const double cpu_limit = std::ceil(limits.cpu_seconds);
  if (result.wall_timeout) {
    result.verdict = SandboxVerdict::Timeout;
    result.detail += fmt::format("wall-clock timeout after {} s", limits.wall_seconds);
  } else if (result.signal == SIGXCPU || (result.signal == SIGKILL && cpu_used + 0.05 >= cpu_limit)) {
    // SIGXCPU at the soft CPU limit, SIGKILL at the hard one (a second later).
    result.verdict = SandboxVerdict::Timeout;
    result.detail += fmt::format("CPU limit of {} s", cpu_limit);
  } else if (result.signal != 0) {
    result.verdict = SandboxVerdict::Crash;
    result.detail += fmt::format("killed by signal {} ({})", result.signal, strsignal(result.signal));
  } else if (result.exit_code == 0) {
    if (completed) {
      result.verdict = SandboxVerdict::Pass;
    } else {
      result.verdict = SandboxVerdict::Crash;
      result.detail += "exited with status 0 before the harness finished";
    }
  } else if (result.exit_code == kExitAssertion) {
    result.verdict = SandboxVerdict::Fail;
    result.detail += "assertion failed: " + stderr_tail(result.stderr_text);
  } else if (result.exit_code == kExitMemory || result.stderr_text.find("MemoryError") != std::string::npos) {
    // Also a MemoryError raised where the harness could not map it (e.g. at startup).
    result.verdict = SandboxVerdict::Memory;
    result.detail += fmt::format("memory limit of {} MB", limits.memory_mb);
  } else {
    result.verdict = SandboxVerdict::Crash;
    result.detail += fmt::format("exit status {}: {}", result.exit_code, stderr_tail(result.stderr_text));
  }
}

}  // namespace

SandboxResult classify(const RawOutcome& raw, const SandboxLimits& limits) {
  SandboxResult result;
  record_isolation(raw, result);
  // The program never ran (or nobody can say how it ended): no output is reported.
  if (raw.setup_failed || (!raw.final_reported && !raw.backstop_killed)) {
    result.verdict = SandboxVerdict::Error;
    result.detail = raw.setup_failed
                        ? fmt::format("sandbox: {} failed: {}", raw.setup_step, std::strerror(raw.setup_errno))
                        : std::string("sandbox: the supervisor died without a report");
    return result;
  }
  // The backstop killed the supervisor, and with it the program: a SIGKILL status.
  const int status = raw.backstop_killed ? (SIGKILL & 0x7f) : raw.wait_status;
  result.wall_timeout = raw.backstop_killed || raw.wall_timer_fired;

  result.stdout_text = raw.stdout_raw;
  result.stderr_text = raw.stderr_raw;
  const bool completed = strip_completion_marker(result.stdout_text, raw.completion_marker);
  if (raw.stdout_truncated) result.detail = "stdout truncated; ";
  if (raw.stderr_truncated) result.detail += "stderr truncated; ";

  decode_wait_status(status, result);
  judge(raw, completed, limits, result);
  return result;
}

}  // namespace sandbox_detail

}  // namespace disa::tasks
