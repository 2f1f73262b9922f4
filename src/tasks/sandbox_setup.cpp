// The per-run resources of the sandbox (see include/disa/tasks/sandbox_setup.hpp): the
// private uid lease, the sweep that kills every process of a uid, the working directory.
#include "disa/tasks/sandbox_setup.hpp"

#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "disa/core/log.hpp"

namespace disa::tasks::sandbox_detail {

namespace fs = std::filesystem;

namespace {

// True while a live (not zombie) process has real uid `uid`.
bool uid_has_live_processes(uid_t uid) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "status");
    std::string line;
    bool zombie = false;
    while (std::getline(in, line)) {
      if (line.rfind("State:", 0) == 0) zombie = line.find('Z') != std::string::npos;
      if (line.rfind("Uid:", 0) == 0) {
        if (!zombie && std::strtoul(line.c_str() + 4, nullptr, 10) == uid) return true;
        break;
      }
    }
  }
  return false;
}

// Tries every uid of the range once, starting at `start`; true when one was locked.
bool try_lock_one(const SandboxLimits& limits, const std::string& dir, unsigned start, UniqueFd& lock, int& uid) {
  for (int k = 0; k < limits.uid_count; ++k) {
    const int candidate = limits.uid_base + static_cast<int>((start + k) % limits.uid_count);
    const std::string path = fmt::format("{}/{}.lock", dir, candidate);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) continue;
    if (flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      lock = std::move(fd);
      uid = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace

UidLease::UidLease(const SandboxLimits& limits) {
  const std::string dir = limits.work_root + "/disa-sandbox-uids";
  ::mkdir(dir.c_str(), 0700);
  // Different processes and successive runs start at different uids, so that they
  // rarely contend for the same lock file.
  static std::atomic<unsigned> rotation{0};
  const unsigned start = (static_cast<unsigned>(getpid()) * 7919u + rotation++) %
                         static_cast<unsigned>(std::max(1, limits.uid_count));
  for (int attempt = 0; attempt < 2000; ++attempt) {
    if (try_lock_one(limits, dir, start, lock_, uid_)) return;
    usleep(10000);
  }
  throw SetupError("sandbox: no free private uid (all locked)");
}

// A helper drops to `uid` and sends SIGKILL to every process it may signal (kill(-1)
// reaches exactly the processes of its own uid), repeated until /proc shows none alive.
// The helper only makes system calls: the parent may have other threads.
void kill_all_of_uid(uid_t uid) {
  for (int round = 0; round < 200; ++round) {
    pid_t pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
      if (setgid(uid) != 0 || setuid(uid) != 0) _exit(1);
      for (int i = 0; i < 3; ++i) kill(-1, SIGKILL);
      _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!uid_has_live_processes(uid)) return;
    usleep(2000);
  }
  core::log::warn("sandbox: processes of uid {} survive SIGKILL", uid);
}

WorkDir::WorkDir(const std::string& root) {
  const std::string tmpl = root + "/disa-sbx-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data()))
    throw SetupError(fmt::format("sandbox: cannot create a working directory in {}: {}", root, std::strerror(errno)));
  path_ = buf.data();
}

WorkDir::~WorkDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (ec) core::log::warn("sandbox: cannot remove {}: {}", path_.string(), ec.message());
}

void WorkDir::write(const std::string& name, const std::string& text) const {
  const fs::path file = path_ / name;
  std::ofstream out(file, std::ios::binary);
  out << text;
  if (!out) throw SetupError("sandbox: cannot write " + file.string());
}

void WorkDir::give_to(uid_t uid, std::initializer_list<const char*> names) const {
  auto chown_or_throw = [&](const fs::path& p) {
    if (::chown(p.c_str(), uid, uid) != 0 && errno != ENOENT)
      throw SetupError(fmt::format("sandbox: chown {}: {}", p.string(), std::strerror(errno)));
  };
  chown_or_throw(path_);
  for (const char* name : names) chown_or_throw(path_ / name);
}

void WorkDir::restrict_to_owner() const { ::chmod(path_.c_str(), 0700); }

}  // namespace disa::tasks::sandbox_detail
