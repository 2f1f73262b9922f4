// The parent's side of a sandbox run (see include/disa/tasks/sandbox_process.hpp):
// start the supervisor, read the program's output and the status records while it
// runs, step in only if the supervisor itself stops answering, reap it.
#include "disa/tasks/sandbox_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "disa/tasks/sandbox_fd.hpp"
#include "disa/tasks/sandbox_setup.hpp"

namespace disa::tasks::sandbox_detail {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

const char* stage_name(std::int32_t stage) {
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

namespace {

// After the final record, how long stdout/stderr may take to reach EOF (every writer is
// dead by then; this only bounds the wait for data still in the pipes).
constexpr double kDrainSeconds = 0.5;
// The longest single poll, so the deadlines are checked often enough.
constexpr int kPollSliceMs = 100;

// Keeps at most `cap` bytes; the rest is read (so the writer never blocks) and dropped.
void append_capped(std::string& buf, const char* data, size_t n, size_t cap, bool& truncated) {
  size_t room = buf.size() < cap ? cap - buf.size() : 0;
  if (n > room) truncated = true;
  buf.append(data, std::min(n, room));
}

Pipe open_pipe() {
  std::optional<Pipe> p = Pipe::open();
  if (!p) throw SetupError(fmt::format("sandbox: pipe: {}", std::strerror(errno)));
  return std::move(*p);
}

// Reads the read ends of the three pipes into a RawOutcome until the supervisor has
// reported and stdout/stderr are at EOF (or kDrainSeconds passed), the supervisor
// died without a report, or the backstop deadline passed (then it is killed). The
// descriptors close when the Collector goes away.
class Collector {
 public:
  Collector(UniqueFd out, UniqueFd err, UniqueFd status, size_t cap, RawOutcome& raw)
      : fd_{std::move(out), std::move(err), std::move(status)}, cap_(cap), raw_(raw) {}
  void run(pid_t supervisor, double backstop_deadline);

 private:
  enum Channel { kOut = 0, kErr = 1, kStatus = 2 };
  bool done(double now) const;
  void poll_and_read(double now, double backstop_deadline);
  void read_from(int k);
  void take(const StatusRecord& rec);

  UniqueFd fd_[3];
  bool open_[3] = {true, true, true};  // false after EOF or a read error
  size_t cap_;
  RawOutcome& raw_;
  std::string status_buf_;  // partial status records
  double drain_until_ = 0.0;
};

void Collector::run(pid_t supervisor, double backstop_deadline) {
  for (;;) {
    const double now = now_seconds();
    if (!raw_.final_reported && now >= backstop_deadline) {
      // The supervisor enforces the wall clock; the parent only steps in when it has not
      // reported within a grace period. Its death kills the program (PDEATHSIG).
      raw_.backstop_killed = true;
      ::kill(-supervisor, SIGKILL);
      ::kill(supervisor, SIGKILL);
      return;
    }
    if (done(now)) return;
    poll_and_read(now, backstop_deadline);
  }
}

bool Collector::done(double now) const {
  if (raw_.final_reported) return (!open_[kOut] && !open_[kErr]) || now >= drain_until_;
  return !open_[kStatus];  // the supervisor died without a report
}

void Collector::poll_and_read(double now, double backstop_deadline) {
  struct pollfd pfd[3];
  int which[3];
  int n = 0;
  for (int k = 0; k < 3; ++k)
    if (open_[k]) {
      pfd[n] = {fd_[k].get(), POLLIN, 0};
      which[n++] = k;
    }
  const double until = raw_.final_reported ? drain_until_ : backstop_deadline;
  const int timeout_ms = std::max(0, std::min(kPollSliceMs, static_cast<int>((until - now) * 1000.0) + 1));
  const int pr = n > 0 ? poll(pfd, n, timeout_ms) : (usleep(timeout_ms * 1000), 0);
  if (pr <= 0) return;
  for (int i = 0; i < n; ++i)
    if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) read_from(which[i]);
}

void Collector::read_from(int k) {
  char chunk[65536];
  const ssize_t r = ::read(fd_[k].get(), chunk, sizeof chunk);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r <= 0) {
    // Kept open until the end: closing a read end early could SIGPIPE a writer.
    open_[k] = false;
    return;
  }
  const size_t got = static_cast<size_t>(r);
  if (k == kOut) {
    append_capped(raw_.stdout_raw, chunk, got, cap_, raw_.stdout_truncated);
  } else if (k == kErr) {
    append_capped(raw_.stderr_raw, chunk, got, cap_, raw_.stderr_truncated);
  } else {
    status_buf_.append(chunk, got);
    while (status_buf_.size() >= sizeof(StatusRecord)) {
      StatusRecord rec;
      std::memcpy(&rec, status_buf_.data(), sizeof rec);
      status_buf_.erase(0, sizeof rec);
      take(rec);
    }
  }
}

void Collector::take(const StatusRecord& rec) {
  if (rec.kind == kRecordSetupDone || rec.kind == kRecordSetupFailed) {
    raw_.setup_reported = true;
    if (rec.kind == kRecordSetupFailed) raw_.setup_failed = true;
    raw_.setup_step = stage_name(rec.stage);
    raw_.setup_errno = rec.error_number;
    raw_.remount_failures = rec.remount_failures;
  } else if (rec.kind == kRecordFinal) {
    raw_.final_reported = true;
    raw_.wait_status = rec.wait_status;
    raw_.wall_timer_fired = rec.timed_out != 0;
    raw_.cpu_microseconds = rec.cpu_microseconds;
    drain_until_ = now_seconds() + kDrainSeconds;
  }
}

}  // namespace

RawOutcome run_supervised(const ExecPlan& plan, std::size_t max_output_bytes, double backstop_deadline) {
  Pipe out = open_pipe(), err = open_pipe(), status = open_pipe();
  const ChildFds child{out.write.get(), err.write.get(), status.write.get()};
  const pid_t pid = fork();
  if (pid < 0) throw SetupError(fmt::format("sandbox: fork: {}", std::strerror(errno)));
  if (pid == 0) run_supervisor(plan, child);  // never returns

  // The children hold the write ends now; the parent's copies would keep EOF away.
  out.write.reset();
  err.write.reset();
  status.write.reset();
  RawOutcome raw;
  {
    Collector collector(std::move(out.read), std::move(err.read), std::move(status.read), max_output_bytes, raw);
    collector.run(pid, backstop_deadline);
  }  // the read ends close here, before the supervisor is reaped
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  return raw;
}

}  // namespace disa::tasks::sandbox_detail
