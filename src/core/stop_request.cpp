// The signal handlers of a graceful stop (include/disa/core/stop_request.hpp).
#include "disa/core/stop_request.hpp"

#include <csignal>

#include <fmt/format.h>

#include "disa/core/error.hpp"

namespace disa::core {
namespace {

volatile std::sig_atomic_t g_signal = 0;

struct sigaction g_previous_term, g_previous_int;

extern "C" void on_stop_signal(int signal) {
  if (signal == SIGINT && g_signal != 0) {
    // A second Ctrl-C: the default action, now.
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  if (g_signal == 0) g_signal = signal;
}

}  // namespace

StopSignals::StopSignals() {
  g_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // system calls interrupted by the signal resume
  DISA_CHECK(sigaction(SIGTERM, &action, &g_previous_term) == 0 && sigaction(SIGINT, &action, &g_previous_int) == 0,
             Error, "cannot install the SIGTERM/SIGINT handlers");
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &g_previous_term, nullptr);
  sigaction(SIGINT, &g_previous_int, nullptr);
}

int stop_signal() { return int(g_signal); }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    default: return fmt::format("signal {}", signal);
  }
}

}  // namespace disa::core
