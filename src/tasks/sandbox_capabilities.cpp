// What the kernel lets this process do for the sandbox, probed once per process by
// trying each step in a forked child (see sandbox_capabilities() in
// include/disa/tasks/sandbox.hpp and the fallbacks in docs/tasks.md).
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "disa/core/log.hpp"
#include "disa/tasks/sandbox.hpp"

namespace disa::tasks {

namespace {

// Runs `fn` in a forked child and returns whether it exited with status 0. The child
// only makes system calls (the probes below) and leaves with _exit.
template <class Fn>
bool probe_in_child(Fn fn) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) _exit(fn() ? 0 : 1);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

SandboxCapabilities probe_capabilities() {
  SandboxCapabilities c;
  c.can_setuid = geteuid() == 0 &&
                 probe_in_child([] { return setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0; });
  c.can_unshare_net = probe_in_child([] { return unshare(CLONE_NEWNET) == 0; });
  c.can_unshare_mount = probe_in_child(
      [] { return unshare(CLONE_NEWNS) == 0 && mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0; });
  return c;
}

}  // namespace

const SandboxCapabilities& sandbox_capabilities() {
  static SandboxCapabilities caps = [] {
    SandboxCapabilities c = probe_capabilities();
    if (!c.can_unshare_net)
      core::log::warn(
          "sandbox: no new network namespace permitted; programs keep network access "
          "(see docs/tasks.md, sandbox fallbacks)");
    if (!c.can_setuid) {
      // Same uid as the programs: make this process non-dumpable so that they cannot
      // read its /proc/<pid>/environ, mem or fds (ptrace access checks).
      prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
      core::log::warn(
          "sandbox: not root; programs run under this uid (RLIMIT_NPROC per user); "
          "this process is made non-dumpable to hide its environment");
    }
    if (!c.can_unshare_mount)
      core::log::warn(
          "sandbox: no mount namespace permitted; the file system is not made "
          "read-only outside the working directory");
    return c;
  }();
  return caps;
}

}  // namespace disa::tasks
