// The execution plan of one sandbox run (see include/disa/tasks/sandbox_plan.hpp): built
// in the parent so that the forked children only read it.
#include "disa/tasks/sandbox_plan.hpp"

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "disa/tasks/sandbox_harness.hpp"

namespace disa::tasks::sandbox_detail {

namespace {

// mountinfo escapes blanks and backslashes in paths as \ooo (octal).
std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

unsigned long readonly_remount_flags(const struct statvfs& sv) {
  unsigned long f = MS_REMOUNT | MS_BIND | MS_RDONLY;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

struct rlimit same_soft_and_hard(rlim_t value) {
  return {value, value};
}

// Null-terminated pointers into `strings` (which must outlive the result unchanged).
std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<MountEntry> read_mounts() {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devs, root, mount_point;
    if (!(ls >> id >> parent >> devs >> root >> mount_point)) continue;
    MountEntry e;
    e.path = unescape_mount_path(mount_point);
    struct statvfs sv;
    if (statvfs(e.path.c_str(), &sv) != 0) continue;
    e.flags = readonly_remount_flags(sv);
    out.push_back(std::move(e));
  }
  return out;
}

ExecPlan::ExecPlan(const SandboxLimits& limits, const SandboxCapabilities& caps, const std::string& dir,
                   std::optional<uid_t> private_uid)
    : workdir(dir), stdin_path((std::filesystem::path(dir) / kStdinFile).string()) {
  // -I: isolated mode (no user site directory, PYTHON* variables ignored); -B: no .pyc.
  arg_strings = {limits.python, "-I", "-B", kHarnessFile};
  // The environment is replaced, not filtered: nothing of this process's leaks in.
  env_strings = {"PATH=/usr/local/bin:/usr/bin:/bin",
                 "HOME=" + workdir,
                 "TMPDIR=" + workdir,
                 "LANG=C.UTF-8",
                 "LC_ALL=C.UTF-8",
                 "PYTHONHASHSEED=0"};
  argv = c_array(arg_strings);
  envp = c_array(env_strings);

  unshare_net = caps.can_unshare_net;
  unshare_mount = caps.can_unshare_mount;
  if (unshare_mount) mounts = read_mounts();
  for (const auto& m : mounts) {
    remount_paths.push_back(m.path.c_str());
    remount_flags.push_back(m.flags);
  }
  drop_uid = private_uid.has_value();
  uid = private_uid ? *private_uid : getuid();

  // CPU: whole seconds, at least one; the hard limit one second later turns SIGXCPU
  // (which the program could catch) into SIGKILL.
  const rlim_t cpu_s = static_cast<rlim_t>(std::max(1.0, std::ceil(limits.cpu_seconds)));
  cpu = {cpu_s, cpu_s + 1};
  address_space = same_soft_and_hard(static_cast<rlim_t>(limits.memory_mb) << 20);
  processes = same_soft_and_hard(static_cast<rlim_t>(limits.max_processes));
  file_size = same_soft_and_hard(static_cast<rlim_t>(limits.max_file_mb) << 20);
  open_files = same_soft_and_hard(static_cast<rlim_t>(limits.max_open_files));
  core = same_soft_and_hard(0);
  wall_usec = static_cast<long>(limits.wall_seconds * 1e6);
}

}  // namespace disa::tasks::sandbox_detail
