// Runs an untrusted Python program in a child process under a supervisor (new session,
// child subreaper: it owns every descendant and kills them all at the end): rlimits
// (CPU, address space, processes, file size, open files), a wall-clock timeout, a fresh
// temporary working directory removed afterwards, a scrubbed environment, and (as root)
// a private uid per run, a new network namespace and a mount namespace in which
// everything but the working directory is read-only. See docs/tasks.md for the design
// and the fallbacks when the kernel refuses a step.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace disa::tasks {

struct SandboxLimits {
  std::string python = "/usr/bin/python3";  // absolute path of the interpreter
  double cpu_seconds = 2.0;                 // RLIMIT_CPU (rounded up to whole seconds)
  double wall_seconds = 4.0;                // wall-clock timeout for the whole group
  int memory_mb = 512;                      // RLIMIT_AS
  int max_processes = 32;                   // RLIMIT_NPROC (per private uid)
  int max_file_mb = 16;                     // RLIMIT_FSIZE
  int max_open_files = 64;                  // RLIMIT_NOFILE
  std::size_t max_output_bytes = 1 << 20;   // stdout/stderr kept per stream
  std::string work_root = "/tmp";           // where the temporary directories go
  int uid_base = 61000;                     // private uids uid_base .. uid_base+uid_count-1
  int uid_count = 256;
  bool require_network_isolation = false;  // error instead of the documented fallback
};

enum class SandboxVerdict { Pass, Fail, Timeout, Memory, Crash, Error };
const char* to_string(SandboxVerdict verdict);

// One program run: the program source, an optional test appended by the harness
// (Python statements, e.g. asserts) and the standard input.
struct SandboxJob {
  std::string program;
  std::string test_code;  // executed after the program in the same namespace; may be empty
  std::string stdin_text;
};

struct SandboxResult {
  SandboxVerdict verdict = SandboxVerdict::Error;
  int exit_code = -1;  // exit status, or -1 when killed by a signal
  int signal = 0;      // terminating signal, 0 if none
  bool wall_timeout = false;
  double wall_seconds = 0.0;
  std::string stdout_text;  // the program's stdout (harness markers removed)
  std::string stderr_text;
  std::string detail;  // why: "wall-clock timeout after 4 s", "MemoryError", ...
  // What isolation was in force (fallbacks are recorded, not hidden).
  bool network_isolated = false;
  bool filesystem_isolated = false;
  bool private_uid = false;
  int uid = -1;  // the uid the program ran under
};

// What the kernel lets this process do, probed once (fork + try) and cached.
struct SandboxCapabilities {
  bool can_setuid = false;       // running as root: a private uid per run
  bool can_unshare_net = false;  // CLONE_NEWNET permitted
  bool can_unshare_mount = false;
};
const SandboxCapabilities& sandbox_capabilities();

class Sandbox {
 public:
  explicit Sandbox(SandboxLimits limits);
  // Runs one job to completion; never throws for anything the program does. Verdicts:
  // Pass (exit 0 and, with test_code, the harness's completion marker), Fail (an
  // AssertionError), Timeout (CPU or wall limit), Memory (MemoryError / address-space
  // limit), Crash (other exception, non-zero exit, fatal signal), Error (the sandbox
  // could not start the program; detail says why).
  SandboxResult run(const SandboxJob& job) const;
  const SandboxLimits& limits() const { return limits_; }

 private:
  SandboxLimits limits_;
};

}  // namespace disa::tasks
