// Internal to the sandbox (src/tasks/sandbox*.cpp): the per-run resources acquired in
// the parent before anything is forked, each released by its destructor: the lease on
// a private uid (as root) and the temporary working directory. A failure to acquire
// one is a SetupError, which Sandbox::run turns into an `error` verdict.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "disa/tasks/sandbox.hpp"
#include "disa/tasks/sandbox_fd.hpp"

namespace disa::tasks::sandbox_detail {

// The sandbox could not prepare a run; what() is the complete SandboxResult::detail.
class SetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A private uid for one run, held with an exclusive flock on
// <work_root>/disa-sandbox-uids/<uid>.lock so that concurrent runs (threads of one
// process or other processes) never share a uid. Released when destroyed.
class UidLease {
 public:
  // Throws SetupError when every uid stays locked (about 20 s of retries).
  explicit UidLease(const SandboxLimits& limits);
  UidLease(const UidLease&) = delete;
  UidLease& operator=(const UidLease&) = delete;
  uid_t uid() const { return static_cast<uid_t>(uid_); }

 private:
  UniqueFd lock_;
  int uid_ = -1;
};

// Kills every process running as `uid` (the private uid of a run), including any that
// left the process group with setsid(); returns once /proc shows none alive (or warns
// after 200 rounds).
void kill_all_of_uid(uid_t uid);

// A fresh mkdtemp directory under `root`, removed with everything in it when destroyed
// (remove_all does not follow symlinks the program may have planted).
class WorkDir {
 public:
  // Throws SetupError when the directory cannot be created.
  explicit WorkDir(const std::string& root);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to `name` in the directory; throws SetupError.
  void write(const std::string& name, const std::string& text) const;
  // Hands the directory and the named files in it to `uid` (uid and gid); names that
  // do not exist are skipped. Throws SetupError.
  void give_to(uid_t uid, std::initializer_list<const char*> names) const;
  // Mode 0700: only its owner (the run's uid) may enter it.
  void restrict_to_owner() const;

 private:
  std::filesystem::path path_;
};

}  // namespace disa::tasks::sandbox_detail
