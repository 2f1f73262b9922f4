// Sandboxed execution of untrusted Python programs (see include/disa/tasks/sandbox.hpp
// and docs/tasks.md). Between fork and exec the child only makes system calls: every
// string, path and flag it needs is prepared by the parent before fork, because the
// parent may have other threads (the sandbox pool).
#include "disa/tasks/sandbox.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "disa/core/log.hpp"

namespace disa::tasks {

namespace {

// The Python harness: reads the program and the test, deletes the test and the
// completion marker from the working directory (so the program cannot read them),
// runs the program as __main__, then the test in the same namespace, and maps the
// outcome to exit codes: 0 + marker on stdout = pass, 3 = assertion failed,
// 4 = MemoryError, 5 = any other exception or a non-zero SystemExit.
constexpr const char* kHarness = R"PY(import os, sys
def _disa_harness():
    with open('solution.py', encoding='utf-8') as f:
        src = f.read()
    test = None
    if os.path.exists('test.py'):
        with open('test.py', encoding='utf-8') as f:
            test = f.read()
        os.remove('test.py')
    with open('marker') as f:
        done = f.read().encode()
    os.remove('marker')
    namespace = {'__name__': '__main__', '__builtins__': __builtins__}
    def leave(code):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)
    try:
        try:
            exec(compile(src, 'solution.py', 'exec'), namespace)
        except SystemExit as e:
            if e.code not in (None, 0):
                raise
        if test is not None:
            exec(compile(test, 'test.py', 'exec'), namespace)
    except AssertionError:
        import traceback
        traceback.print_exc()
        leave(3)
    except MemoryError:
        sys.stderr.write('MemoryError\n')
        leave(4)
    except SystemExit as e:
        sys.stderr.write('SystemExit(%r)\n' % (e.code,))
        leave(5)
    except BaseException:
        try:
            import traceback
            traceback.print_exc()
        except BaseException:
            pass
        leave(5)
    try:
        sys.stdout.flush()
    except BaseException:
        leave(5)
    os.write(1, b'\n' + done + b'\n')
    os._exit(0)
_disa_harness()
)PY";

constexpr int kExitAssertion = 3;
constexpr int kExitMemory = 4;

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Runs `fn` in a forked child and returns whether it exited with status 0.
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

// True while a live (not zombie) process has real uid `uid`.
bool uid_has_live_processes(uid_t uid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
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

// Kills every process running as `uid` (the private uid of a finished run), including
// any that left the process group with setsid(): a helper drops to that uid and sends
// SIGKILL to every process it may signal (kill(-1) reaches exactly the processes of its
// own uid); repeated until /proc shows none alive.
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
  log::warn("sandbox: processes of uid {} survive SIGKILL", uid);
}

// A private uid for one run, held with an exclusive flock on a lock file so that
// concurrent runs (threads of one process or other processes) never share a uid.
class UidLease {
 public:
  UidLease(const SandboxLimits& limits) {
    std::string dir = limits.work_root + "/disa-sandbox-uids";
    ::mkdir(dir.c_str(), 0700);
    static std::atomic<unsigned> rotation{0};
    unsigned start = (static_cast<unsigned>(getpid()) * 7919u + rotation++) %
                     static_cast<unsigned>(std::max(1, limits.uid_count));
    for (int attempt = 0; attempt < 2000 && fd_ < 0; ++attempt) {
      for (int k = 0; k < limits.uid_count && fd_ < 0; ++k) {
        int uid = limits.uid_base + static_cast<int>((start + k) % limits.uid_count);
        std::string path = fmt::format("{}/{}.lock", dir, uid);
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
          fd_ = fd;
          uid_ = uid;
        } else {
          ::close(fd);
        }
      }
      if (fd_ < 0) usleep(10000);
    }
  }
  ~UidLease() {
    if (fd_ >= 0) ::close(fd_);
  }
  UidLease(const UidLease&) = delete;
  UidLease& operator=(const UidLease&) = delete;
  bool ok() const { return fd_ >= 0; }
  uid_t uid() const { return static_cast<uid_t>(uid_); }

 private:
  int fd_ = -1;
  int uid_ = -1;
};

// A mount point of this process and the flags a read-only bind remount must keep.
struct MountEntry {
  std::string path;
  unsigned long flags = 0;
};

std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

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
    unsigned long f = MS_REMOUNT | MS_BIND | MS_RDONLY;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    e.flags = f;
    out.push_back(std::move(e));
  }
  return out;
}

// Records on the status pipe: the program child reports its setup (kind 0, just
// before exec) or a setup failure (kind 1); the supervisor reports the program's end
// (kind 2) once every process of the run is dead.
struct StatusRecord {
  int32_t kind = 0;
  int32_t stage = 0;
  int32_t error_number = 0;
  int32_t remount_failures = 0;
  int32_t wait_status = 0;  // of the program (kind 2)
  int32_t timed_out = 0;    // the supervisor's wall-clock timer fired (kind 2)
  int64_t cpu_microseconds = 0;
};
constexpr int32_t kRecordSetupDone = 0, kRecordSetupFailed = 1, kRecordFinal = 2;

volatile sig_atomic_t g_supervisor_alarm = 0;
void on_supervisor_alarm(int) { g_supervisor_alarm = 1; }

// Supervisor: SIGKILL to every child listed in /proc/thread-self/children and to its
// process group. As a child subreaper the supervisor inherits every orphaned
// descendant, so repeating this until wait() reports no children kills the whole
// tree, including processes that left the group with setsid(). System calls only.
void kill_listed_children() {
  static char buf[65536];
  int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  long pid = 0;
  bool in_number = false;
  for (ssize_t i = 0; i <= n; ++i) {
    char c = i < n ? buf[i] : ' ';
    if (c >= '0' && c <= '9') {
      pid = pid * 10 + (c - '0');
      in_number = true;
    } else if (in_number) {
      kill(static_cast<pid_t>(-pid), SIGKILL);
      kill(static_cast<pid_t>(pid), SIGKILL);
      pid = 0;
      in_number = false;
    }
  }
}

enum Stage : int32_t {
  kStageSetsid = 1,
  kStageFork,
  kStageUnshare,
  kStageMountPrivate,
  kStageBindWorkdir,
  kStageRlimit,
  kStageStdin,
  kStageDup,
  kStageChdir,
  kStageDropUid,
  kStageNoNewPrivs,
  kStageExec,
};

const char* stage_name(int32_t stage) {
  switch (stage) {
    case kStageSetsid: return "setsid";
    case kStageFork: return "fork";
    case kStageUnshare: return "unshare";
    case kStageMountPrivate: return "make mounts private";
    case kStageBindWorkdir: return "bind-mount the working directory";
    case kStageRlimit: return "setrlimit";
    case kStageStdin: return "open stdin";
    case kStageDup: return "redirect stdio";
    case kStageChdir: return "chdir";
    case kStageDropUid: return "drop to the private uid";
    case kStageNoNewPrivs: return "PR_SET_NO_NEW_PRIVS";
    case kStageExec: return "execve";
  }
  return "?";
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string random_marker() {
  std::random_device rd;
  std::string s = "DISA-SANDBOX-DONE-";
  for (int i = 0; i < 4; ++i) s += fmt::format("{:08x}", rd());
  return s;
}

void append_capped(std::string& buf, const char* data, size_t n, size_t cap, bool& truncated) {
  size_t room = buf.size() < cap ? cap - buf.size() : 0;
  if (n > room) truncated = true;
  buf.append(data, std::min(n, room));
}

}  // namespace

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

const SandboxCapabilities& sandbox_capabilities() {
  static SandboxCapabilities caps = [] {
    SandboxCapabilities c;
    c.can_setuid = geteuid() == 0 && probe_in_child([] {
      return setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0;
    });
    c.can_unshare_net = probe_in_child([] { return unshare(CLONE_NEWNET) == 0; });
    c.can_unshare_mount = probe_in_child([] {
      return unshare(CLONE_NEWNS) == 0 &&
             mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    });
    if (!c.can_unshare_net)
      log::warn("sandbox: no new network namespace permitted; programs keep network access "
                "(see docs/tasks.md, sandbox fallbacks)");
    if (!c.can_setuid) {
      // Same uid as the programs: make this process non-dumpable so that they cannot
      // read its /proc/<pid>/environ, mem or fds (ptrace access checks).
      prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
      log::warn("sandbox: not root; programs run under this uid (RLIMIT_NPROC per user); "
                "this process is made non-dumpable to hide its environment");
    }
    if (!c.can_unshare_mount)
      log::warn("sandbox: no mount namespace permitted; the file system is not made "
                "read-only outside the working directory");
    return c;
  }();
  return caps;
}

Sandbox::Sandbox(SandboxLimits limits) : limits_(std::move(limits)) {}

SandboxResult Sandbox::run(const SandboxJob& job) const {
  namespace fs = std::filesystem;
  SandboxResult result;
  const SandboxCapabilities& caps = sandbox_capabilities();
  if (limits_.require_network_isolation && !caps.can_unshare_net) {
    result.detail = "sandbox: network isolation required (sandbox.require-network-isolation) "
                    "but the kernel refuses a new network namespace";
    return result;
  }
  double start = now_seconds();

  std::unique_ptr<UidLease> lease;
  if (caps.can_setuid) {
    lease = std::make_unique<UidLease>(limits_);
    if (!lease->ok()) {
      result.detail = "sandbox: no free private uid (all locked)";
      return result;
    }
    kill_all_of_uid(lease->uid());  // leftovers of a crashed earlier run
  }

  // Fresh working directory with the harness, program, test, marker and stdin.
  std::string tmpl = limits_.work_root + "/disa-sbx-XXXXXX";
  std::vector<char> tmpl_buf(tmpl.begin(), tmpl.end());
  tmpl_buf.push_back('\0');
  if (!mkdtemp(tmpl_buf.data())) {
    result.detail = fmt::format("sandbox: cannot create a working directory in {}: {}",
                                limits_.work_root, std::strerror(errno));
    return result;
  }
  const fs::path workdir(tmpl_buf.data());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (ec) log::warn("sandbox: cannot remove {}: {}", dir.string(), ec.message());
    }
  } cleanup{workdir};

  const std::string marker = random_marker();
  try {
    write_file(workdir / "harness.py", kHarness);
    write_file(workdir / "solution.py", job.program);
    if (!job.test_code.empty()) write_file(workdir / "test.py", job.test_code);
    write_file(workdir / "marker", marker);
    write_file(workdir / "stdin.txt", job.stdin_text);
  } catch (const std::exception& e) {
    result.detail = fmt::format("sandbox: {}", e.what());
    return result;
  }
  uid_t run_uid = lease ? lease->uid() : getuid();
  if (lease) {
    for (const char* name : {"", "harness.py", "solution.py", "test.py", "marker", "stdin.txt"}) {
      fs::path p = *name ? workdir / name : workdir;
      if (::chown(p.c_str(), run_uid, run_uid) != 0 && errno != ENOENT) {
        result.detail = fmt::format("sandbox: chown {}: {}", p.string(), std::strerror(errno));
        return result;
      }
    }
  }
  ::chmod(workdir.c_str(), 0700);

  // Everything the child needs, prepared before fork.
  const std::string workdir_s = workdir.string();
  const std::string stdin_path = (workdir / "stdin.txt").string();
  const std::string home_env = "HOME=" + workdir_s;
  const std::string tmp_env = "TMPDIR=" + workdir_s;
  std::vector<std::string> env_strings = {"PATH=/usr/local/bin:/usr/bin:/bin", home_env,
                                          tmp_env, "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
                                          "PYTHONHASHSEED=0"};
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings = {limits_.python, "-I", "-B", "harness.py"};
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);

  const bool use_mount_ns = caps.can_unshare_mount;
  const bool use_net_ns = caps.can_unshare_net;
  std::vector<MountEntry> mounts;
  if (use_mount_ns) mounts = read_mounts();
  std::vector<const char*> mount_paths;
  std::vector<unsigned long> mount_flags;
  for (auto& m : mounts) {
    mount_paths.push_back(m.path.c_str());
    mount_flags.push_back(m.flags);
  }
  const size_t n_mounts = mount_paths.size();

  struct rlimit rl_cpu, rl_as, rl_nproc, rl_fsize, rl_nofile, rl_core;
  rlim_t cpu = static_cast<rlim_t>(std::max(1.0, std::ceil(limits_.cpu_seconds)));
  rl_cpu = {cpu, cpu + 1};
  rlim_t as = static_cast<rlim_t>(limits_.memory_mb) << 20;
  rl_as = {as, as};
  rl_nproc = {static_cast<rlim_t>(limits_.max_processes),
              static_cast<rlim_t>(limits_.max_processes)};
  rlim_t fsize = static_cast<rlim_t>(limits_.max_file_mb) << 20;
  rl_fsize = {fsize, fsize};
  rl_nofile = {static_cast<rlim_t>(limits_.max_open_files),
               static_cast<rlim_t>(limits_.max_open_files)};
  rl_core = {0, 0};
  const bool drop_uid = static_cast<bool>(lease);

  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.detail = fmt::format("sandbox: pipe: {}", std::strerror(errno));
    return result;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    result.detail = fmt::format("sandbox: pipe: {}", std::strerror(errno));
    return result;
  }
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    result.detail = fmt::format("sandbox: pipe: {}", std::strerror(errno));
    return result;
  }

  // The supervisor (a child subreaper that runs the wall clock and kills the whole
  // tree) and, below it, the program child.
  const long wall_usec = static_cast<long>(limits_.wall_seconds * 1e6);
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], status_pipe[0],
                   status_pipe[1]})
      ::close(fd);
    result.detail = fmt::format("sandbox: fork: {}", std::strerror(errno));
    return result;
  }
  if (pid == 0) {
    // Supervisor: system calls only.
    const int sfd = status_pipe[1];
    StatusRecord rec;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_supervisor_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);  // no SA_RESTART: wait4 returns EINTR
    pid_t prog = fork();
    if (prog < 0) {
      rec.kind = kRecordSetupFailed;
      rec.stage = kStageFork;
      rec.error_number = errno;
      ssize_t w = write(sfd, &rec, sizeof rec);
      (void)w;
      _exit(127);
    }
    if (prog == 0) {
      // Program child: system calls only.
      auto fail = [&](int32_t stage) {
        rec.kind = kRecordSetupFailed;
        rec.stage = stage;
        rec.error_number = errno;
        ssize_t w = write(sfd, &rec, sizeof rec);
        (void)w;
        _exit(127);
      };
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      signal(SIGALRM, SIG_DFL);
      if (setpgid(0, 0) != 0) fail(kStageSetsid);
      int flags = (use_net_ns ? CLONE_NEWNET : 0) | (use_mount_ns ? CLONE_NEWNS : 0);
      if (flags && unshare(flags) != 0) fail(kStageUnshare);
      if (use_mount_ns) {
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
          fail(kStageMountPrivate);
        if (mount(workdir_s.c_str(), workdir_s.c_str(), nullptr, MS_BIND, nullptr) != 0)
          fail(kStageBindWorkdir);
        for (size_t i = 0; i < n_mounts; ++i)
          if (mount(nullptr, mount_paths[i], nullptr, mount_flags[i], nullptr) != 0)
            ++rec.remount_failures;
      }
      if (setrlimit(RLIMIT_CPU, &rl_cpu) != 0 || setrlimit(RLIMIT_AS, &rl_as) != 0 ||
          setrlimit(RLIMIT_NPROC, &rl_nproc) != 0 || setrlimit(RLIMIT_FSIZE, &rl_fsize) != 0 ||
          setrlimit(RLIMIT_CORE, &rl_core) != 0)
        fail(kStageRlimit);
      int in_fd = open(stdin_path.c_str(), O_RDONLY);
      if (in_fd < 0) fail(kStageStdin);
      if (dup2(in_fd, 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0)
        fail(kStageDup);
      // Close every other descriptor (other threads' files, lock files) except the
      // status pipe, which closes itself on exec.
      for (int fd = 3; fd < 4096; ++fd)
        if (fd != sfd) close(fd);
      if (chdir(workdir_s.c_str()) != 0) fail(kStageChdir);
      if (drop_uid) {
        if (setgroups(0, nullptr) != 0 || setgid(run_uid) != 0 || setuid(run_uid) != 0)
          fail(kStageDropUid);
      }
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(kStageNoNewPrivs);
      if (setrlimit(RLIMIT_NOFILE, &rl_nofile) != 0) fail(kStageRlimit);
      rec.kind = kRecordSetupDone;
      ssize_t w = write(sfd, &rec, sizeof rec);
      (void)w;
      execve(argv[0], argv.data(), envp.data());
      fail(kStageExec);
    }
    // Supervisor: only the status pipe stays open here.
    for (int fd = 0; fd < 4096; ++fd)
      if (fd != sfd) close(fd);
    struct itimerval timer;
    std::memset(&timer, 0, sizeof timer);
    timer.it_value.tv_sec = wall_usec / 1000000;
    timer.it_value.tv_usec = wall_usec % 1000000;
    setitimer(ITIMER_REAL, &timer, nullptr);
    int prog_status = 0;
    struct rusage prog_usage;
    std::memset(&prog_usage, 0, sizeof prog_usage);
    bool prog_done = false;
    while (!prog_done) {
      int st = 0;
      struct rusage ru;
      pid_t w = wait4(-1, &st, 0, &ru);
      if (w == prog) {
        prog_status = st;
        prog_usage = ru;
        prog_done = true;
      } else if (w < 0) {
        if (errno == EINTR && !g_supervisor_alarm) continue;
        if (errno == EINTR) rec.timed_out = 1;
        break;
      }
    }
    std::memset(&timer, 0, sizeof timer);
    setitimer(ITIMER_REAL, &timer, nullptr);
    // Kill and reap every remaining descendant.
    for (int round = 0; round < 100000; ++round) {
      kill(-prog, SIGKILL);
      kill_listed_children();
      int st = 0;
      struct rusage ru;
      pid_t w;
      while ((w = wait4(-1, &st, WNOHANG, &ru)) > 0) {
        if (w == prog && !prog_done) {
          prog_status = st;
          prog_usage = ru;
          prog_done = true;
        }
      }
      if (w < 0 && errno == ECHILD) break;
      usleep(1000);
    }
    rec.kind = kRecordFinal;
    rec.wait_status = prog_status;
    rec.cpu_microseconds =
        static_cast<int64_t>(prog_usage.ru_utime.tv_sec + prog_usage.ru_stime.tv_sec) * 1000000 +
        prog_usage.ru_utime.tv_usec + prog_usage.ru_stime.tv_usec;
    ssize_t w = write(sfd, &rec, sizeof rec);
    (void)w;
    _exit(0);
  }

  // Parent.
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(status_pipe[1]);
  result.private_uid = drop_uid;
  result.uid = static_cast<int>(run_uid);
  result.network_isolated = use_net_ns;

  std::string out_buf, err_buf, status_buf;
  bool out_truncated = false, err_truncated = false;
  StatusRecord setup, final_record;
  bool got_setup = false, got_final = false, exec_failed = false, backstop = false;
  // The supervisor enforces the wall clock; the parent only steps in if it does not
  // report within a grace period.
  const double backstop_deadline = start + limits_.wall_seconds + 5.0;
  {
    int fds[3] = {out_pipe[0], err_pipe[0], status_pipe[0]};
    bool open_fd[3] = {true, true, true};
    char chunk[65536];
    double drain_until = 0.0;
    for (;;) {
      const double now = now_seconds();
      if (!got_final && now >= backstop_deadline) {
        backstop = true;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        break;
      }
      if (got_final && !open_fd[0] && !open_fd[1]) break;
      if (got_final && now >= drain_until) break;
      if (!open_fd[2] && !got_final) break;  // the supervisor died without a report
      struct pollfd pfd[3];
      int which[3];
      int n = 0;
      for (int k = 0; k < 3; ++k)
        if (open_fd[k]) {
          pfd[n] = {fds[k], POLLIN, 0};
          which[n++] = k;
        }
      const double until = got_final ? drain_until : backstop_deadline;
      const int timeout_ms = std::max(0, std::min(100, static_cast<int>((until - now) * 1000.0) + 1));
      const int pr = n > 0 ? poll(pfd, n, timeout_ms) : (usleep(timeout_ms * 1000), 0);
      if (pr <= 0) continue;
      for (int i = 0; i < n; ++i) {
        if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int k = which[i];
        const ssize_t r = ::read(fds[k], chunk, sizeof chunk);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) {
          open_fd[k] = false;
          continue;
        }
        const size_t got = static_cast<size_t>(r);
        if (k == 0) {
          append_capped(out_buf, chunk, got, limits_.max_output_bytes, out_truncated);
        } else if (k == 1) {
          append_capped(err_buf, chunk, got, limits_.max_output_bytes, err_truncated);
        } else {
          status_buf.append(chunk, got);
          while (status_buf.size() >= sizeof(StatusRecord)) {
            StatusRecord rec;
            std::memcpy(&rec, status_buf.data(), sizeof rec);
            status_buf.erase(0, sizeof rec);
            if (rec.kind == kRecordSetupDone) {
              setup = rec;
              got_setup = true;
            } else if (rec.kind == kRecordSetupFailed) {
              setup = rec;
              got_setup = true;
              exec_failed = true;
            } else if (rec.kind == kRecordFinal) {
              final_record = rec;
              got_final = true;
              drain_until = now_seconds() + 0.5;
            }
          }
        }
      }
    }
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  ::close(status_pipe[0]);
  {
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
  }
  if (drop_uid) kill_all_of_uid(run_uid);
  result.wall_seconds = now_seconds() - start;
  result.filesystem_isolated =
      use_mount_ns && got_setup && !exec_failed && setup.remount_failures == 0;
  if (use_mount_ns && setup.remount_failures > 0)
    log::debug("sandbox: {} read-only remounts failed", setup.remount_failures);

  if (exec_failed || (!got_final && !backstop)) {
    result.verdict = SandboxVerdict::Error;
    result.detail = exec_failed ? fmt::format("sandbox: {} failed: {}", stage_name(setup.stage),
                                              std::strerror(setup.error_number))
                                : std::string("sandbox: the supervisor died without a report");
    return result;
  }
  const int status = backstop ? (SIGKILL & 0x7f) : final_record.wait_status;
  result.wall_timeout = backstop || final_record.timed_out != 0;

  // Remove the harness's completion marker from stdout.
  const std::string tail = "\n" + marker + "\n";
  bool completed = false;
  if (out_buf.size() >= tail.size() &&
      out_buf.compare(out_buf.size() - tail.size(), tail.size(), tail) == 0) {
    out_buf.resize(out_buf.size() - tail.size());
    completed = true;
  }
  result.stdout_text = std::move(out_buf);
  result.stderr_text = std::move(err_buf);
  if (out_truncated) result.detail = "stdout truncated; ";
  if (err_truncated) result.detail += "stderr truncated; ";

  const double cpu_used = static_cast<double>(final_record.cpu_microseconds) * 1e-6;
  auto stderr_tail = [&] {
    const std::string& e = result.stderr_text;
    return e.size() > 400 ? e.substr(e.size() - 400) : e;
  };
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = -1;
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  if (result.wall_timeout) {
    result.verdict = SandboxVerdict::Timeout;
    result.detail += fmt::format("wall-clock timeout after {} s", limits_.wall_seconds);
  } else if (result.signal == SIGXCPU ||
             (result.signal == SIGKILL && cpu_used + 0.05 >= std::ceil(limits_.cpu_seconds))) {
    result.verdict = SandboxVerdict::Timeout;
    result.detail += fmt::format("CPU limit of {} s", std::ceil(limits_.cpu_seconds));
  } else if (result.signal != 0) {
    result.verdict = SandboxVerdict::Crash;
    result.detail += fmt::format("killed by signal {} ({})", result.signal,
                                 strsignal(result.signal));
  } else if (result.exit_code == 0) {
    if (completed) {
      result.verdict = SandboxVerdict::Pass;
    } else {
      result.verdict = SandboxVerdict::Crash;
      result.detail += "exited with status 0 before the harness finished";
    }
  } else if (result.exit_code == kExitAssertion) {
    result.verdict = SandboxVerdict::Fail;
    result.detail += "assertion failed: " + stderr_tail();
  } else if (result.exit_code == kExitMemory ||
             result.stderr_text.find("MemoryError") != std::string::npos) {
    result.verdict = SandboxVerdict::Memory;
    result.detail += fmt::format("memory limit of {} MB", limits_.memory_mb);
  } else {
    result.verdict = SandboxVerdict::Crash;
    result.detail += fmt::format("exit status {}: {}", result.exit_code, stderr_tail());
  }
  return result;
}

}  // namespace disa::tasks
