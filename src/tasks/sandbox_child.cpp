// The forked side of a sandbox run: the supervisor and the program child (see
// include/disa/tasks/sandbox_process.hpp). Everything here runs after fork in a copy of
// a possibly multi-threaded parent (the sandbox pool), where another thread may have
// held the allocator's or a logger's lock at the moment of fork: so only
// async-signal-safe system calls, no allocation, no exceptions, no destructors that do
// more than close(2). Every input comes from the ExecPlan and the ChildFds, prepared
// before fork.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "disa/tasks/sandbox_fd.hpp"
#include "disa/tasks/sandbox_process.hpp"

namespace disa::tasks::sandbox_detail {

namespace {

// Descriptors above this are assumed unused (the close loops' bound).
constexpr int kMaxFd = 4096;

volatile sig_atomic_t g_supervisor_alarm = 0;
void on_supervisor_alarm(int) { g_supervisor_alarm = 1; }

// A record that cannot be written is lost: the parent then sees no report, which is an
// `error` verdict (or the backstop's timeout), never a pass.
void send(int fd, const StatusRecord& rec) {
  ssize_t w = write(fd, &rec, sizeof rec);
  (void)w;
}

// Reports the failed step with the errno of the call that failed, then exits. `rec`
// carries the remount failures counted so far.
[[noreturn]] void fail_setup(int status_fd, StatusRecord rec, std::int32_t stage) {
  rec.error_number = errno;
  rec.kind = kRecordSetupFailed;
  rec.stage = stage;
  send(status_fd, rec);
  _exit(127);
}

// Closes every descriptor from `first` up except `keep` (other threads' files, lock
// files, descriptors opened without close-on-exec).
void close_all_except(int first, int keep) {
  for (int fd = first; fd < kMaxFd; ++fd)
    if (fd != keep) close(fd);
}

// New network and mount namespaces. In the mount namespace all mounts become private
// (nothing propagates back), the working directory is bind-mounted onto itself so it
// stays writable, and every mount is remounted read-only; refused remounts are counted
// (the run then reports filesystem_isolated = false), not fatal. Returns the failed
// stage or 0.
std::int32_t enter_namespaces(const ExecPlan& plan, StatusRecord& rec) {
  const int flags = (plan.unshare_net ? CLONE_NEWNET : 0) | (plan.unshare_mount ? CLONE_NEWNS : 0);
  if (flags && unshare(flags) != 0) return kStageUnshare;
  if (!plan.unshare_mount) return 0;
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return kStageMountPrivate;
  const char* dir = plan.workdir.c_str();
  if (mount(dir, dir, nullptr, MS_BIND, nullptr) != 0) return kStageBindWorkdir;
  for (size_t i = 0; i < plan.remount_paths.size(); ++i)
    if (mount(nullptr, plan.remount_paths[i], nullptr, plan.remount_flags[i], nullptr) != 0) ++rec.remount_failures;
  return 0;
}

// Every rlimit but RLIMIT_NOFILE (see drop_privileges). Returns the failed stage or 0.
std::int32_t apply_rlimits(const ExecPlan& plan) {
  if (setrlimit(RLIMIT_CPU, &plan.cpu) != 0 || setrlimit(RLIMIT_AS, &plan.address_space) != 0 ||
      setrlimit(RLIMIT_NPROC, &plan.processes) != 0 || setrlimit(RLIMIT_FSIZE, &plan.file_size) != 0 ||
      setrlimit(RLIMIT_CORE, &plan.core) != 0)
    return kStageRlimit;
  return 0;
}

// stdin from the job's file, stdout/stderr into the pipes, every other descriptor but
// the status pipe closed (that one closes itself on exec). Returns the failed stage or 0.
std::int32_t redirect_stdio(const ExecPlan& plan, const ChildFds& fds) {
  const int in_fd = open(plan.stdin_path.c_str(), O_RDONLY);
  if (in_fd < 0) return kStageStdin;
  if (dup2(in_fd, 0) < 0 || dup2(fds.stdout_write, 1) < 0 || dup2(fds.stderr_write, 2) < 0) return kStageDup;
  close_all_except(3, fds.status_write);
  return 0;
}

// The private uid (namespaces and mounts need root, so this comes after them), then
// no_new_privs so that setuid binaries cannot regain privileges, then RLIMIT_NOFILE:
// last, once the inherited descriptors (whose numbers may exceed it) are closed.
// Returns the failed stage or 0.
std::int32_t drop_privileges(const ExecPlan& plan) {
  if (plan.drop_uid && (setgroups(0, nullptr) != 0 || setgid(plan.uid) != 0 || setuid(plan.uid) != 0))
    return kStageDropUid;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return kStageNoNewPrivs;
  if (setrlimit(RLIMIT_NOFILE, &plan.open_files) != 0) return kStageRlimit;
  return 0;
}

// The program child: isolates itself step by step, reports, execs the interpreter.
[[noreturn]] void exec_program(const ExecPlan& plan, const ChildFds& fds) {
  const int sfd = fds.status_write;
  StatusRecord rec;
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the supervisor
  signal(SIGALRM, SIG_DFL);          // the supervisor's handler is not ours
  // Its own process group, so the supervisor can kill the program's group at once.
  if (setpgid(0, 0) != 0) fail_setup(sfd, rec, kStageSetsid);
  if (const std::int32_t stage = enter_namespaces(plan, rec)) fail_setup(sfd, rec, stage);
  if (const std::int32_t stage = apply_rlimits(plan)) fail_setup(sfd, rec, stage);
  if (const std::int32_t stage = redirect_stdio(plan, fds)) fail_setup(sfd, rec, stage);
  if (chdir(plan.workdir.c_str()) != 0) fail_setup(sfd, rec, kStageChdir);
  if (const std::int32_t stage = drop_privileges(plan)) fail_setup(sfd, rec, stage);
  rec.kind = kRecordSetupDone;
  send(sfd, rec);
  execve(plan.argv[0], plan.argv.data(), plan.envp.data());
  fail_setup(sfd, rec, kStageExec);
}

void set_wall_timer(long usec) {
  struct itimerval timer;
  std::memset(&timer, 0, sizeof timer);
  timer.it_value.tv_sec = usec / 1000000;
  timer.it_value.tv_usec = usec % 1000000;
  setitimer(ITIMER_REAL, &timer, nullptr);
}

// SIGKILL to every child listed in /proc/thread-self/children and to its process
// group. As a child subreaper the supervisor inherits every orphaned descendant, so
// repeating this until wait() reports no children kills the whole tree, including
// processes that left the group with setsid().
void kill_listed_children() {
  static char buf[65536];  // static: no allocation, and the supervisor has one thread
  const UniqueFd fd(open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return;
  const ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return;
  long pid = 0;
  bool in_number = false;
  for (ssize_t i = 0; i <= n; ++i) {
    const char c = i < n ? buf[i] : ' ';
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

// How the program child ended, once reaped.
struct ProgramEnd {
  bool reaped = false;
  int status = 0;
  struct rusage usage {};
};

// Waits for the program child, reaping orphans re-parented to the supervisor on the
// way, until it ends or the wall-clock timer interrupts the wait (SIGALRM without
// SA_RESTART: wait4 fails with EINTR); then rec.timed_out = 1.
void wait_for_program(pid_t prog, ProgramEnd& end, StatusRecord& rec) {
  while (!end.reaped) {
    int st = 0;
    struct rusage ru;
    const pid_t w = wait4(-1, &st, 0, &ru);
    if (w == prog) {
      end.reaped = true;
      end.status = st;
      end.usage = ru;
    } else if (w < 0) {
      if (errno == EINTR && !g_supervisor_alarm) continue;
      if (errno == EINTR) rec.timed_out = 1;
      break;
    }
  }
}

// Kills the program's group and every listed child, reaps, and repeats until no child
// is left (ECHILD); the program's status is recorded if it is reaped here.
void kill_and_reap_all(pid_t prog, ProgramEnd& end) {
  for (int round = 0; round < 100000; ++round) {
    kill(-prog, SIGKILL);
    kill_listed_children();
    int st = 0;
    struct rusage ru;
    pid_t w;
    while ((w = wait4(-1, &st, WNOHANG, &ru)) > 0) {
      if (w == prog && !end.reaped) {
        end.reaped = true;
        end.status = st;
        end.usage = ru;
      }
    }
    if (w < 0 && errno == ECHILD) break;
    usleep(1000);
  }
}

void install_alarm_handler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_supervisor_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);  // no SA_RESTART: wait4 returns EINTR
}

}  // namespace

void run_supervisor(const ExecPlan& plan, const ChildFds& fds) {
  const int sfd = fds.status_write;
  StatusRecord rec;
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the parent's thread
  setsid();
  // Orphaned descendants (even ones that called setsid()) are re-parented to us.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  install_alarm_handler();
  const pid_t prog = fork();
  if (prog < 0) fail_setup(sfd, rec, kStageFork);
  if (prog == 0) exec_program(plan, fds);
  // Only the status pipe stays open here: holding the output pipes would delay the
  // parent's EOF.
  close_all_except(0, sfd);
  set_wall_timer(plan.wall_usec);
  ProgramEnd end;
  wait_for_program(prog, end, rec);
  set_wall_timer(0);
  kill_and_reap_all(prog, end);
  rec.kind = kRecordFinal;
  rec.wait_status = end.status;
  rec.cpu_microseconds = static_cast<std::int64_t>(end.usage.ru_utime.tv_sec + end.usage.ru_stime.tv_sec) * 1000000 +
                         end.usage.ru_utime.tv_usec + end.usage.ru_stime.tv_usec;
  send(sfd, rec);
  _exit(0);
}

}  // namespace disa::tasks::sandbox_detail
