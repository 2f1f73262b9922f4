// Graceful stop on request: SIGTERM (what Slurm sends at a time limit, on preemption or
// with `--signal`, before SIGKILL) or SIGINT (Ctrl-C). A stage that can checkpoint
// installs StopSignals for its lifetime; the handler only records the signal, and the
// stage polls stop_requested() at its round/step boundaries (dist/stop_agreement.hpp
// makes every rank agree), writes a resumable checkpoint, and throws StopRequested, which
// `main` turns into exit code kExitStopped. A second SIGINT ends the process at once (the
// default action); repeated SIGTERMs are ignored, so a stop already under way completes.
#pragma once

#include <stdexcept>
#include <string>

namespace disa::core {

// Exit code of a stage that stopped on request after writing a resumable checkpoint
// (EX_TEMPFAIL of sysexits.h: "try again later"; rerun with the stage's resume option).
inline constexpr int kExitStopped = 75;

// Installs the SIGTERM and SIGINT handlers; the destructor restores the previous ones.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// The signal received since the handlers were installed (0: none).
int stop_signal();
inline bool stop_requested() { return stop_signal() != 0; }
// "SIGTERM", "SIGINT" or "signal N".
std::string signal_name(int signal);

// Thrown by a stage after it wrote its checkpoint on every rank; `main` prints the message
// once and exits with kExitStopped (no MPI_Abort: every rank stops at the same point).
class StopRequested : public std::runtime_error {
 public:
  explicit StopRequested(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace disa::core
