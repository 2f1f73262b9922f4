// The sandbox on ordinary and hostile programs: an infinite loop, a sleeping program, a
// fork bomb (also one escaping with setsid), a 10 GB allocation, writes outside the
// working directory, reading the parent's environment, opening a socket, huge output.
// Each is contained and reported; afterwards no process of the run's uid is left, the
// working directory is gone and this process has no leftover children. Then the parts
// on their own: `classify` on synthetic wait statuses (exact verdicts), the execution
// plan, and the RAII types for descriptors and the working directory.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "disa/core/error.hpp"
#include "disa/tasks/sandbox.hpp"
#include "disa/tasks/sandbox_fd.hpp"
#include "disa/tasks/sandbox_plan.hpp"
#include "disa/tasks/sandbox_pool.hpp"
#include "disa/tasks/sandbox_setup.hpp"
#include "disa/tasks/sandbox_verdict.hpp"

using namespace disa::tasks;
namespace fs = std::filesystem;

namespace {

SandboxLimits small_limits() {
  SandboxLimits l;
  l.cpu_seconds = 1.0;
  l.wall_seconds = 2.0;
  l.memory_mb = 256;
  l.max_processes = 16;
  l.max_file_mb = 4;
  return l;
}

SandboxResult run(const std::string& program, const std::string& test = "", const std::string& input = "") {
  Sandbox sb(small_limits());
  return sb.run({program, test, input});
}

// Live (not zombie) processes whose real uid is `uid`.
int processes_of_uid(int uid) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "status");
    std::string line;
    bool zombie = false;
    while (std::getline(in, line)) {
      if (line.rfind("State:", 0) == 0) zombie = line.find('Z') != std::string::npos;
      if (line.rfind("Uid:", 0) == 0) {
        if (!zombie && std::atoi(line.c_str() + 4) == uid) ++n;
        break;
      }
    }
  }
  return n;
}

// The run left nothing behind: no process of its uid, no child of this process.
void expect_clean(const SandboxResult& r) {
  if (r.private_uid) {
    EXPECT_EQ(processes_of_uid(r.uid), 0) << "uid " << r.uid;
  }
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "this process has leftover children";
}

}  // namespace

TEST(Sandbox, ReportsItsIsolation) {
  const auto& caps = sandbox_capabilities();
  auto r = run("print('hello')");
  EXPECT_EQ(r.verdict, SandboxVerdict::Pass) << r.detail << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "hello\n");
  EXPECT_EQ(r.private_uid, caps.can_setuid);
  EXPECT_EQ(r.network_isolated, caps.can_unshare_net);
  std::cout << "isolation: private uid " << r.private_uid << ", network namespace " << r.network_isolated
            << ", read-only file system " << r.filesystem_isolated << ", wall " << r.wall_seconds << " s\n";
  expect_clean(r);
}

TEST(Sandbox, VerdictsOfOrdinaryPrograms) {
  EXPECT_EQ(run("x = 2", "assert x == 2").verdict, SandboxVerdict::Pass);
  auto fail = run("x = 2", "assert x == 3");
  EXPECT_EQ(fail.verdict, SandboxVerdict::Fail);
  EXPECT_NE(fail.stderr_text.find("AssertionError"), std::string::npos);
  EXPECT_EQ(run("raise ValueError('boom')").verdict, SandboxVerdict::Crash);
  EXPECT_EQ(run("def f(:\n  pass").verdict, SandboxVerdict::Crash);
  EXPECT_EQ(run("import sys\nsys.exit(0)", "assert True").verdict, SandboxVerdict::Pass);
  EXPECT_EQ(run("import sys\nsys.exit(2)").verdict, SandboxVerdict::Crash);
  // Leaving before the harness finishes cannot fake a pass.
  EXPECT_EQ(run("import os\nos._exit(0)", "assert False").verdict, SandboxVerdict::Crash);
  auto echo = run("import sys\nprint(sys.stdin.read().upper(), end='')", "", "abc\n");
  EXPECT_EQ(echo.verdict, SandboxVerdict::Pass);
  EXPECT_EQ(echo.stdout_text, "ABC\n");
  // The test code is not readable by the program.
  auto peek = run("import os\nprint(sorted(os.listdir('.')))", "assert True");
  EXPECT_EQ(peek.verdict, SandboxVerdict::Pass);
  EXPECT_EQ(peek.stdout_text.find("test.py"), std::string::npos) << peek.stdout_text;
  EXPECT_EQ(peek.stdout_text.find("marker"), std::string::npos) << peek.stdout_text;
}

TEST(Sandbox, InfiniteLoopTimesOut) {
  auto r = run("while True:\n    pass");
  EXPECT_EQ(r.verdict, SandboxVerdict::Timeout) << r.detail;
  auto s = run("import time\ntime.sleep(1000)");
  EXPECT_EQ(s.verdict, SandboxVerdict::Timeout) << s.detail;
  EXPECT_TRUE(s.wall_timeout);
  expect_clean(s);
}

TEST(Sandbox, ForkBombIsContained) {
  auto r =
      run("import os\n"
          "while True:\n"
          "    try:\n"
          "        os.fork()\n"
          "    except OSError:\n"
          "        pass\n");
  EXPECT_EQ(r.verdict, SandboxVerdict::Timeout) << r.detail;
  expect_clean(r);
  // Children that leave the process group (setsid) are killed too.
  auto escaped =
      run("import os, sys, time\n"
          "for _ in range(4):\n"
          "    if os.fork() == 0:\n"
          "        os.setsid()\n"
          "        if os.fork() == 0:\n"
          "            print('pid', os.getpid(), flush=True)\n"
          "            time.sleep(1000)\n"
          "        os._exit(0)\n"
          "time.sleep(0.3)\n"
          "print('parent done')\n");
  EXPECT_EQ(escaped.verdict, SandboxVerdict::Pass) << escaped.detail;
  expect_clean(escaped);
  // The sleeping grandchildren (new sessions) are gone.
  std::istringstream lines(escaped.stdout_text);
  std::string word;
  int checked = 0;
  while (lines >> word) {
    if (word != "pid") continue;
    int pid = 0;
    lines >> pid;
    errno = 0;
    EXPECT_EQ(::kill(pid, 0), -1) << "process " << pid << " survived";
    EXPECT_EQ(errno, ESRCH);
    ++checked;
  }
  EXPECT_EQ(checked, 4) << escaped.stdout_text;
}

TEST(Sandbox, HugeAllocationIsAMemoryVerdict) {
  auto r = run("x = bytearray(10 * 1024 ** 3)\nprint(len(x))");
  EXPECT_EQ(r.verdict, SandboxVerdict::Memory) << r.detail << r.stderr_text;
  auto list = run("x = []\nwhile True:\n    x.append(' ' * 10**6)");
  EXPECT_TRUE(list.verdict == SandboxVerdict::Memory || list.verdict == SandboxVerdict::Timeout)
      << to_string(list.verdict) << " " << list.detail;
  expect_clean(list);
}

TEST(Sandbox, WritesOutsideTheWorkingDirectoryFail) {
  // A world-writable directory: only the read-only mount namespace stops the write.
  const fs::path open_dir = fs::temp_directory_path() / ("disa-sbx-test-" + std::to_string(getpid()));
  fs::create_directories(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  const fs::path target = open_dir / "escape.txt";
  const std::string program =
      "import os\n"
      "print(os.getcwd())\n"
      "hits = []\n"
      "for p in ['" +
      target.string() + "', '/tmp/disa-escape-" + std::to_string(getpid()) + "', '../escape.txt', '" +
      std::string(DISA_BINARY_DIR) +
      "/escape.txt']:\n"
      "    try:\n"
      "        with open(p, 'w') as f:\n"
      "            f.write('x')\n"
      "        hits.append(p)\n"
      "    except OSError as e:\n"
      "        print('refused', p, type(e).__name__)\n"
      "with open('inside.txt', 'w') as f:\n"
      "    f.write('fine')\n"
      "assert not hits, hits\n";
  auto r = run(program);
  const auto& caps = sandbox_capabilities();
  if (!caps.can_unshare_mount) {
    fs::remove_all(open_dir);
    fs::remove("/tmp/disa-escape-" + std::to_string(getpid()));
    GTEST_SKIP() << "no mount namespace: world-writable directories stay writable (documented)";
  }
  EXPECT_TRUE(r.filesystem_isolated);
  EXPECT_EQ(r.verdict, SandboxVerdict::Pass) << r.detail << r.stdout_text << r.stderr_text;
  EXPECT_FALSE(fs::exists(target));
  EXPECT_FALSE(fs::exists("/tmp/disa-escape-" + std::to_string(getpid())));
  EXPECT_FALSE(fs::exists(std::string(DISA_BINARY_DIR) + "/escape.txt"));
  // The working directory (with inside.txt) is removed afterwards.
  std::string workdir = r.stdout_text.substr(0, r.stdout_text.find('\n'));
  EXPECT_EQ(workdir.rfind("/tmp/disa-sbx-", 0), 0u) << workdir;
  EXPECT_FALSE(fs::exists(workdir)) << workdir;
  fs::remove_all(open_dir);
  // Files larger than the limit cannot be written.
  auto big = run("with open('big', 'wb') as f:\n    f.write(b'x' * (8 << 20))");
  EXPECT_EQ(big.verdict, SandboxVerdict::Crash) << big.detail;
  expect_clean(big);
}

TEST(Sandbox, ParentEnvironmentIsNotVisible) {
  ::setenv("DISA_TEST_SECRET", "hunter2-secret", 1);
  // An entry of this process's exec-time environment (what /proc/<pid>/environ shows).
  std::string own_entry;
  {
    std::ifstream in("/proc/self/environ", std::ios::binary);
    std::string entry;
    while (std::getline(in, entry, '\0'))
      if (entry.find('=') != std::string::npos && entry.rfind("PATH=", 0) != 0 && entry.rfind("LANG=", 0) != 0 &&
          entry.rfind("LC_ALL=", 0) != 0 && entry.size() > 6) {
        own_entry = entry;
        break;
      }
  }
  auto r =
      run("import os\n"
          "print(sorted(os.environ.items()))\n"
          "for pid in (os.getppid(), " +
          std::to_string(getpid()) +
          ", 1):\n"
          "    try:\n"
          "        print(open('/proc/%d/environ' % pid, 'rb').read())\n"
          "    except OSError as e:\n"
          "        print('denied', pid, type(e).__name__)\n");
  EXPECT_EQ(r.verdict, SandboxVerdict::Pass) << r.detail << r.stderr_text;
  EXPECT_EQ(r.stdout_text.find("hunter2-secret"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find("DISA_TEST_SECRET"), std::string::npos);
  EXPECT_NE(r.stdout_text.find("denied " + std::to_string(getpid())), std::string::npos) << r.stdout_text;
  if (!own_entry.empty()) {
    EXPECT_EQ(r.stdout_text.find(own_entry), std::string::npos) << own_entry;
  }
  ::unsetenv("DISA_TEST_SECRET");
}

TEST(Sandbox, SocketsReachNothing) {
  int server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(server, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(server, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  auto r =
      run("import socket\n"
          "try:\n"
          "    s = socket.create_connection(('127.0.0.1', " +
          std::to_string(port) +
          "), timeout=1)\n"
          "    s.sendall(b'leak')\n"
          "    print('connected')\n"
          "except OSError as e:\n"
          "    print('blocked', type(e).__name__)\n");
  int accepted = ::accept(server, nullptr, nullptr);
  const int accept_errno = errno;
  if (accepted >= 0) ::close(accepted);
  ::close(server);
  if (!sandbox_capabilities().can_unshare_net)
    GTEST_SKIP() << "no network namespace permitted: network not isolated (documented fallback)";
  EXPECT_TRUE(r.network_isolated);
  EXPECT_EQ(r.verdict, SandboxVerdict::Pass) << r.detail << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("blocked"), std::string::npos) << r.stdout_text;
  EXPECT_LT(accepted, 0);
  EXPECT_TRUE(accept_errno == EAGAIN || accept_errno == EWOULDBLOCK);
}

TEST(Sandbox, OutputIsCapped) {
  SandboxLimits l = small_limits();
  l.max_output_bytes = 1000;
  auto r = Sandbox(l).run({"import sys\nsys.stdout.write('y' * 5000000)", "", ""});
  EXPECT_LE(r.stdout_text.size(), 1000u);
  EXPECT_NE(r.detail.find("stdout truncated"), std::string::npos) << r.detail;
  expect_clean(r);
}

TEST(Sandbox, MissingInterpreterIsAnError) {
  SandboxLimits l = small_limits();
  l.python = "/nonexistent/python3";
  auto r = Sandbox(l).run({"print(1)", "", ""});
  EXPECT_EQ(r.verdict, SandboxVerdict::Error);
  EXPECT_NE(r.detail.find("execve"), std::string::npos) << r.detail;
}

TEST(SandboxPool, RunsConcurrentlyInOrder) {
  SandboxPool pool(small_limits(), 4);
  std::vector<SandboxJob> jobs;
  for (int i = 0; i < 10; ++i)
    jobs.push_back({"print(" + std::to_string(i) + ")", i % 3 == 2 ? "assert False" : "", ""});
  jobs.push_back({"while True: pass", "", ""});
  auto results = pool.run_all(jobs);
  ASSERT_EQ(results.size(), jobs.size());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(results[i].verdict, i % 3 == 2 ? SandboxVerdict::Fail : SandboxVerdict::Pass) << i;
    EXPECT_EQ(results[i].stdout_text, std::to_string(i) + "\n");
  }
  EXPECT_EQ(results.back().verdict, SandboxVerdict::Timeout);
  // Concurrent runs never share a uid.
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_THROW(SandboxPool(small_limits(), 0), disa::core::ConfigError);
}

// ---- classify: raw outcome -> verdict, on synthetic wait statuses ----

namespace sd = disa::tasks::sandbox_detail;

namespace {

// Wait statuses as the kernel encodes them (decoded by WIFEXITED/WEXITSTATUS and
// WIFSIGNALED/WTERMSIG); SyntheticStatusesMatchTheKernel checks the encoding.
int exit_status(int code) { return (code & 0xff) << 8; }
int signal_status(int sig) { return sig & 0x7f; }

const std::string kMarker = "DISA-SANDBOX-DONE-test";
const std::string kDone = "\n" + kMarker + "\n";  // what the harness prints last

// A program that started and whose end the supervisor reported.
sd::RawOutcome ended(int wait_status, const std::string& out = "", const std::string& err = "") {
  sd::RawOutcome raw;
  raw.setup_reported = true;
  raw.final_reported = true;
  raw.wait_status = wait_status;
  raw.cpu_microseconds = 100000;
  raw.stdout_raw = out;
  raw.stderr_raw = err;
  raw.completion_marker = kMarker;
  return raw;
}

SandboxResult classify(const sd::RawOutcome& raw) { return sd::classify(raw, small_limits()); }

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

TEST(SandboxClassify, SyntheticStatusesMatchTheKernel) {
  EXPECT_TRUE(WIFEXITED(exit_status(3)));
  EXPECT_EQ(WEXITSTATUS(exit_status(3)), 3);
  EXPECT_TRUE(WIFSIGNALED(signal_status(SIGXCPU)));
  EXPECT_EQ(WTERMSIG(signal_status(SIGXCPU)), SIGXCPU);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(7);
  EXPECT_EQ(wait_for(pid), exit_status(7));
  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::kill(getpid(), SIGKILL);
    _exit(0);
  }
  EXPECT_EQ(wait_for(pid), signal_status(SIGKILL));
}

TEST(SandboxClassify, ExitZeroPassesOnlyWithTheCompletionMarker) {
  auto pass = classify(ended(exit_status(0), "hello\n" + kDone, "warning\n"));
  EXPECT_EQ(pass.verdict, SandboxVerdict::Pass);
  EXPECT_EQ(pass.stdout_text, "hello\n");  // the marker line is removed
  EXPECT_EQ(pass.stderr_text, "warning\n");
  EXPECT_EQ(pass.exit_code, 0);
  EXPECT_EQ(pass.signal, 0);
  EXPECT_FALSE(pass.wall_timeout);
  EXPECT_EQ(pass.detail, "");
  for (const std::string& out :
       {std::string("hello\n"), kDone + "late output", std::string("\nDISA-SANDBOX-DONE-forged\n")}) {
    auto early = classify(ended(exit_status(0), out));
    EXPECT_EQ(early.verdict, SandboxVerdict::Crash) << out;
    EXPECT_EQ(early.stdout_text, out);
    EXPECT_EQ(early.detail, "exited with status 0 before the harness finished");
  }
}

TEST(SandboxClassify, HarnessExitCodes) {
  const std::string trace = "Traceback (most recent call last):\nAssertionError\n";
  auto fail = classify(ended(exit_status(3), kDone, trace));  // exit code beats the marker
  EXPECT_EQ(fail.verdict, SandboxVerdict::Fail);
  EXPECT_EQ(fail.exit_code, 3);
  EXPECT_EQ(fail.detail, "assertion failed: " + trace);
  auto memory = classify(ended(exit_status(4), "", "MemoryError\n"));
  EXPECT_EQ(memory.verdict, SandboxVerdict::Memory);
  EXPECT_EQ(memory.detail, "memory limit of 256 MB");
  // A MemoryError the harness could not map (exit 5, or 1 from the interpreter).
  EXPECT_EQ(classify(ended(exit_status(5), "", "...\nMemoryError\n")).verdict, SandboxVerdict::Memory);
  EXPECT_EQ(classify(ended(exit_status(1), "", "MemoryError")).verdict, SandboxVerdict::Memory);
  auto other = classify(ended(exit_status(5), "", "ValueError: boom\n"));
  EXPECT_EQ(other.verdict, SandboxVerdict::Crash);
  EXPECT_EQ(other.exit_code, 5);
  EXPECT_EQ(other.detail, "exit status 5: ValueError: boom\n");
  auto syntax = classify(ended(exit_status(2)));
  EXPECT_EQ(syntax.verdict, SandboxVerdict::Crash);
  EXPECT_EQ(syntax.detail, "exit status 2: ");
  EXPECT_EQ(classify(ended(exit_status(127))).verdict, SandboxVerdict::Crash);
  // Only the last 400 bytes of stderr are quoted.
  auto long_err = classify(ended(exit_status(5), "", std::string(600, 'a') + std::string(400, 'b')));
  EXPECT_EQ(long_err.detail, "exit status 5: " + std::string(400, 'b'));
  EXPECT_EQ(long_err.stderr_text.size(), 1000u);
}

TEST(SandboxClassify, FatalSignalsAreCrashes) {
  auto segv = classify(ended(signal_status(SIGSEGV), kDone));
  EXPECT_EQ(segv.verdict, SandboxVerdict::Crash);
  EXPECT_EQ(segv.signal, SIGSEGV);
  EXPECT_EQ(segv.exit_code, -1);
  EXPECT_EQ(segv.detail, "killed by signal " + std::to_string(SIGSEGV) + " (" + strsignal(SIGSEGV) + ")");
  EXPECT_EQ(classify(ended(signal_status(SIGABRT))).verdict, SandboxVerdict::Crash);
  // SIGKILL well before the CPU limit (1 s here): killed by someone else.
  auto killed = ended(signal_status(SIGKILL));
  killed.cpu_microseconds = 500000;
  EXPECT_EQ(classify(killed).verdict, SandboxVerdict::Crash);
  EXPECT_EQ(classify(killed).detail, "killed by signal 9 (" + std::string(strsignal(SIGKILL)) + ")");
}

TEST(SandboxClassify, CpuLimitIsATimeout) {
  auto xcpu = classify(ended(signal_status(SIGXCPU)));
  EXPECT_EQ(xcpu.verdict, SandboxVerdict::Timeout);
  EXPECT_EQ(xcpu.signal, SIGXCPU);
  EXPECT_FALSE(xcpu.wall_timeout);
  EXPECT_EQ(xcpu.detail, "CPU limit of 1 s");
  // SIGKILL at the hard limit: the CPU time used reaches the limit (50 ms slack).
  auto hard = ended(signal_status(SIGKILL));
  hard.cpu_microseconds = 960000;
  EXPECT_EQ(classify(hard).verdict, SandboxVerdict::Timeout);
  hard.cpu_microseconds = 940000;
  EXPECT_EQ(classify(hard).verdict, SandboxVerdict::Crash);
  // The limit is whole seconds, rounded up.
  SandboxLimits limits = small_limits();
  limits.cpu_seconds = 1.5;
  hard.cpu_microseconds = 1960000;
  auto rounded = sd::classify(hard, limits);
  EXPECT_EQ(rounded.verdict, SandboxVerdict::Timeout);
  EXPECT_EQ(rounded.detail, "CPU limit of 2 s");
  hard.cpu_microseconds = 1500000;
  EXPECT_EQ(sd::classify(hard, limits).verdict, SandboxVerdict::Crash);
}

TEST(SandboxClassify, WallClockTimeoutWins) {
  auto killed = ended(signal_status(SIGKILL));
  killed.wall_timer_fired = true;
  auto r = classify(killed);
  EXPECT_EQ(r.verdict, SandboxVerdict::Timeout);
  EXPECT_TRUE(r.wall_timeout);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.detail, "wall-clock timeout after 2 s");
  // Even a clean finish after the timer fired.
  auto late = ended(exit_status(0), kDone);
  late.wall_timer_fired = true;
  EXPECT_EQ(classify(late).verdict, SandboxVerdict::Timeout);
  EXPECT_EQ(classify(late).exit_code, 0);
  // The parent's backstop: no final record; reported as a SIGKILL.
  sd::RawOutcome silent;
  silent.setup_reported = true;
  silent.backstop_killed = true;
  silent.stdout_raw = "partial";
  auto backstop = classify(silent);
  EXPECT_EQ(backstop.verdict, SandboxVerdict::Timeout);
  EXPECT_TRUE(backstop.wall_timeout);
  EXPECT_EQ(backstop.signal, SIGKILL);
  EXPECT_EQ(backstop.exit_code, -1);
  EXPECT_EQ(backstop.stdout_text, "partial");
}

TEST(SandboxClassify, SetupFailuresAreErrors) {
  auto raw = ended(exit_status(127), "out", "err");
  raw.setup_failed = true;
  raw.setup_step = "execve";
  raw.setup_errno = ENOENT;
  raw.wall_timer_fired = true;  // a failed setup beats everything
  auto r = classify(raw);
  EXPECT_EQ(r.verdict, SandboxVerdict::Error);
  EXPECT_EQ(r.detail, std::string("sandbox: execve failed: ") + std::strerror(ENOENT));
  EXPECT_EQ(r.stdout_text, "");  // nothing of a program that never ran
  EXPECT_EQ(r.stderr_text, "");
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.wall_timeout);
  sd::RawOutcome died;
  died.setup_reported = true;
  died.stdout_raw = kDone;
  auto d = classify(died);
  EXPECT_EQ(d.verdict, SandboxVerdict::Error);
  EXPECT_EQ(d.detail, "sandbox: the supervisor died without a report");
}

TEST(SandboxClassify, TruncatedOutputIsNoted) {
  auto out = ended(exit_status(0), "yyyy");  // the marker was cut off with the rest
  out.stdout_truncated = true;
  auto r = classify(out);
  EXPECT_EQ(r.verdict, SandboxVerdict::Crash);
  EXPECT_EQ(r.detail, "stdout truncated; exited with status 0 before the harness finished");
  auto both = ended(exit_status(3), "", "E");
  both.stdout_truncated = both.stderr_truncated = true;
  EXPECT_EQ(classify(both).detail, "stdout truncated; stderr truncated; assertion failed: E");
  auto err_only = ended(exit_status(0), kDone, "eeee");
  err_only.stderr_truncated = true;
  EXPECT_EQ(classify(err_only).verdict, SandboxVerdict::Pass);
  EXPECT_EQ(classify(err_only).detail, "stderr truncated; ");
}

TEST(SandboxClassify, RecordsTheIsolationInForce) {
  auto raw = ended(exit_status(0), kDone);
  raw.private_uid = true;
  raw.uid = 61007;
  raw.network_namespace = true;
  raw.mount_namespace = true;
  raw.wall_seconds = 0.25;
  auto r = classify(raw);
  EXPECT_TRUE(r.private_uid);
  EXPECT_EQ(r.uid, 61007);
  EXPECT_TRUE(r.network_isolated);
  EXPECT_TRUE(r.filesystem_isolated);
  EXPECT_EQ(r.wall_seconds, 0.25);
  raw.remount_failures = 1;  // one mount stayed writable
  EXPECT_FALSE(classify(raw).filesystem_isolated);
  raw.remount_failures = 0;
  raw.setup_reported = false;  // no proof the child got through its setup
  EXPECT_FALSE(classify(raw).filesystem_isolated);
  raw.setup_reported = true;
  raw.mount_namespace = false;
  EXPECT_FALSE(classify(raw).filesystem_isolated);
}

// ---- the execution plan ----

TEST(SandboxPlan, EverythingIsPreparedBeforeFork) {
  SandboxLimits limits = small_limits();
  limits.cpu_seconds = 1.5;
  limits.max_open_files = 48;
  const SandboxCapabilities no_caps;
  const sd::ExecPlan plan(limits, no_caps, "/tmp/disa-sbx-abc", uid_t{61003});
  ASSERT_EQ(plan.argv.size(), 5u);
  EXPECT_STREQ(plan.argv[0], "/usr/bin/python3");
  EXPECT_STREQ(plan.argv[1], "-I");
  EXPECT_STREQ(plan.argv[2], "-B");
  EXPECT_STREQ(plan.argv[3], "harness.py");
  EXPECT_TRUE(plan.argv[4] == nullptr);
  // The environment is exactly this (nothing of the parent's).
  std::vector<std::string> env;
  for (char* const* e = plan.envp.data(); *e; ++e) env.emplace_back(*e);
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp/disa-sbx-abc",
                                           "TMPDIR=/tmp/disa-sbx-abc", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
                                           "PYTHONHASHSEED=0"}));
  EXPECT_TRUE(plan.envp.back() == nullptr);
  EXPECT_EQ(plan.workdir, "/tmp/disa-sbx-abc");
  EXPECT_EQ(plan.stdin_path, "/tmp/disa-sbx-abc/stdin.txt");
  EXPECT_TRUE(plan.drop_uid);
  EXPECT_EQ(plan.uid, 61003u);
  EXPECT_FALSE(plan.unshare_net);
  EXPECT_FALSE(plan.unshare_mount);
  EXPECT_TRUE(plan.remount_paths.empty());
  EXPECT_EQ(plan.cpu.rlim_cur, 2u);  // 1.5 s rounded up; hard limit one second later
  EXPECT_EQ(plan.cpu.rlim_max, 3u);
  EXPECT_EQ(plan.address_space.rlim_cur, rlim_t{256} << 20);
  EXPECT_EQ(plan.address_space.rlim_max, rlim_t{256} << 20);
  EXPECT_EQ(plan.processes.rlim_max, 16u);
  EXPECT_EQ(plan.file_size.rlim_max, rlim_t{4} << 20);
  EXPECT_EQ(plan.open_files.rlim_cur, 48u);
  EXPECT_EQ(plan.core.rlim_max, 0u);
  EXPECT_EQ(plan.wall_usec, 2000000);
  // No private uid: this process's uid; the CPU limit is at least one second.
  limits.cpu_seconds = 0.2;
  const sd::ExecPlan own(limits, no_caps, "/w", std::nullopt);
  EXPECT_FALSE(own.drop_uid);
  EXPECT_EQ(own.uid, getuid());
  EXPECT_EQ(own.cpu.rlim_cur, 1u);
  EXPECT_EQ(own.cpu.rlim_max, 2u);
  // With a mount namespace, every mount is listed with read-only remount flags.
  SandboxCapabilities mount_caps;
  mount_caps.can_unshare_mount = true;
  const sd::ExecPlan ro(limits, mount_caps, "/w", std::nullopt);
  EXPECT_TRUE(ro.unshare_mount);
  ASSERT_FALSE(ro.remount_paths.empty());
  ASSERT_EQ(ro.remount_paths.size(), ro.remount_flags.size());
  EXPECT_STREQ(ro.remount_paths[0], ro.mounts[0].path.c_str());
  const unsigned long ro_bind = MS_REMOUNT | MS_BIND | MS_RDONLY;
  for (unsigned long f : ro.remount_flags) EXPECT_EQ(f & ro_bind, ro_bind);
}

// ---- RAII: descriptors and the working directory ----

namespace {
bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
}  // namespace

TEST(SandboxResources, UniqueFdClosesWhatItOwns) {
  int raw = -1;
  {
    sd::UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    raw = fd.get();
    sd::UniqueFd moved(std::move(fd));
    EXPECT_FALSE(fd.valid());
    EXPECT_EQ(moved.get(), raw);
    EXPECT_TRUE(fd_is_open(raw));
  }
  EXPECT_FALSE(fd_is_open(raw));
  sd::UniqueFd kept(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int released = kept.release();
  kept.reset();
  EXPECT_TRUE(fd_is_open(released));  // released: no longer ours to close
  ::close(released);
  errno = ENOENT;
  { sd::UniqueFd closing(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }
  EXPECT_EQ(errno, ENOENT);  // closing keeps errno for the caller's message
}

TEST(SandboxResources, PipeIsCloseOnExecAndSignalsEof) {
  auto pipe = sd::Pipe::open();
  ASSERT_TRUE(pipe.has_value());
  EXPECT_TRUE(::fcntl(pipe->read.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(pipe->write.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(::write(pipe->write.get(), "ab", 2), 2);
  pipe->write.reset();
  char buf[4];
  EXPECT_EQ(::read(pipe->read.get(), buf, sizeof buf), 2);
  EXPECT_EQ(::read(pipe->read.get(), buf, sizeof buf), 0);  // EOF: no writer left
}

TEST(SandboxResources, WorkDirRemovesItselfWithoutFollowingLinks) {
  const fs::path root = fs::temp_directory_path() / ("disa-workdir-test-" + std::to_string(getpid()));
  fs::create_directories(root);
  const fs::path outside = root / "outside.txt";
  std::ofstream(outside) << "keep";
  fs::path dir;
  {
    sd::WorkDir work(root.string());
    dir = work.path();
    EXPECT_EQ(dir.parent_path(), root);
    EXPECT_EQ(dir.filename().string().rfind("disa-sbx-", 0), 0u);
    work.write("solution.py", "print(1)");
    std::ifstream in(dir / "solution.py");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "print(1)");
    fs::create_directories(dir / "sub");
    fs::create_symlink(root, dir / "sub" / "link");
    if (geteuid() == 0)                                       // chown to uid:uid needs root in general
      work.give_to(getuid(), {"solution.py", "absent.txt"});  // absent names are skipped
    work.restrict_to_owner();
    EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
  }
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(fs::exists(outside));  // the link was removed, not followed
  fs::remove_all(root);
  try {
    sd::WorkDir missing(root.string() + "/no/such/dir");
    FAIL() << "created " << missing.path();
  } catch (const sd::SetupError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("sandbox: cannot create a working directory in ", 0), 0u) << e.what();
  }
}
