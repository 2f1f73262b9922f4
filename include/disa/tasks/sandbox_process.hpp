// Internal to the sandbox (src/tasks/sandbox*.cpp): the processes of one run.
//
//   parent (Sandbox::run)            src/tasks/sandbox_process.cpp
//     reads stdout/stderr (capped) and the status pipe; backstop kill
//   └─ supervisor                    src/tasks/sandbox_child.cpp
//        new session, child subreaper, wall-clock timer; kills and reaps every
//        descendant, then reports the program's end on the status pipe
//      └─ program child              src/tasks/sandbox_child.cpp
//           own process group, namespaces, rlimits, stdio, uid drop, no_new_privs,
//           reports its setup on the status pipe, then execs the interpreter
//
// Everything after fork only makes async-signal-safe system calls on an ExecPlan and a
// ChildFds prepared before fork.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "disa/tasks/sandbox_plan.hpp"
#include "disa/tasks/sandbox_verdict.hpp"

namespace disa::tasks::sandbox_detail {

// Records on the status pipe (fixed size, written with one write(2), so they arrive
// whole): the program child reports its setup (kRecordSetupDone, just before exec) or a
// setup failure (kRecordSetupFailed, with the step and errno); the supervisor reports
// the program's end (kRecordFinal) once every process of the run is dead.
struct StatusRecord {
  std::int32_t kind = 0;
  std::int32_t stage = 0;
  std::int32_t error_number = 0;
  std::int32_t remount_failures = 0;
  std::int32_t wait_status = 0;  // of the program (kRecordFinal)
  std::int32_t timed_out = 0;    // the supervisor's wall-clock timer fired (kRecordFinal)
  std::int64_t cpu_microseconds = 0;
};
constexpr std::int32_t kRecordSetupDone = 0, kRecordSetupFailed = 1, kRecordFinal = 2;

// The steps of the children that can fail; stage_name() words them for `detail`.
enum SetupStage : std::int32_t {
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
const char* stage_name(std::int32_t stage);

// The write ends the children use (raw numbers: the children never run destructors).
struct ChildFds {
  int stdout_write = -1;
  int stderr_write = -1;
  int status_write = -1;  // close-on-exec: the program itself never holds it
};

// The supervisor, in the first forked child: forks the program child, times it, kills
// and reaps the whole tree, reports, exits. Never returns.
[[noreturn]] void run_supervisor(const ExecPlan& plan, const ChildFds& fds);

// Parent side: opens the pipes, forks the supervisor, collects output (each stream
// capped at `max_output_bytes`) and status records until the supervisor has reported
// and the output has drained, or kills it at `backstop_deadline` (steady-clock
// seconds, see now_seconds()); reaps it. Fills the process facts of the RawOutcome.
// Throws SetupError when a pipe or the fork fails (nothing was started then).
RawOutcome run_supervised(const ExecPlan& plan, std::size_t max_output_bytes, double backstop_deadline);

// Seconds on the steady clock.
double now_seconds();

}  // namespace disa::tasks::sandbox_detail
