// Internal to the sandbox (src/tasks/sandbox*.cpp): the execution plan of one run.
// Everything the forked supervisor and program child need (argv and envp arrays,
// paths, namespace flags, the mounts to make read-only, rlimits, the uid to drop to,
// the wall-clock limit) is computed here, in the parent, before fork: the parent may
// have other threads (the sandbox pool), so after fork only async-signal-safe system
// calls are allowed (no allocation, no locks, no formatting).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "disa/tasks/sandbox.hpp"

namespace disa::tasks::sandbox_detail {

// A mount point of this process and the flags of its read-only bind remount. A remount
// replaces the per-mount flags, so the nosuid/nodev/noexec/atime flags in force are
// repeated (a remount that would clear them is refused or loosens the mount).
struct MountEntry {
  std::string path;
  unsigned long flags = 0;
};

// This process's mounts (/proc/self/mountinfo) with their read-only remount flags.
std::vector<MountEntry> read_mounts();

// The `argv`/`envp`/`remount_paths` arrays point into the strings of this object, so it
// is built in place and never copied or moved.
struct ExecPlan {
  // `private_uid`: the leased uid to drop to (as root), or none (run as this process).
  ExecPlan(const SandboxLimits& limits, const SandboxCapabilities& caps, const std::string& workdir,
           std::optional<uid_t> private_uid);
  ExecPlan(const ExecPlan&) = delete;
  ExecPlan& operator=(const ExecPlan&) = delete;

  // What runs: `<python> -I -B harness.py` in `workdir`, stdin from `stdin_path`, with
  // a replaced (not filtered) environment.
  std::vector<std::string> arg_strings, env_strings;
  std::vector<char*> argv, envp;  // null-terminated, for execve
  std::string workdir, stdin_path;

  // Isolation: new network / mount namespaces, the mounts to remount read-only.
  bool unshare_net = false;
  bool unshare_mount = false;
  std::vector<MountEntry> mounts;
  std::vector<const char*> remount_paths;  // mounts[i].path.c_str()
  std::vector<unsigned long> remount_flags;
  bool drop_uid = false;  // setgroups/setgid/setuid to `uid` before exec
  uid_t uid = 0;          // the uid the program runs under (private or this process's)

  // Limits. RLIMIT_NOFILE is applied last in the child, after its other descriptors
  // are closed, so that opening stdin cannot hit it.
  rlimit cpu{}, address_space{}, processes{}, file_size{}, open_files{}, core{};
  long wall_usec = 0;  // the supervisor's ITIMER_REAL
};

}  // namespace disa::tasks::sandbox_detail
