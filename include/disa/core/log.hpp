// Logging: timestamped lines with the rank, rank 0 only by default (--log.all-ranks for
// every rank; warnings and errors always pass on every rank), on stderr so that stdout
// stays free for data (tokenize, inspect --json).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace disa::core::log {

// Sets up the process-wide logger. `level`: trace, debug, info, warn, error.
void init(int rank, bool all_ranks, const std::string& level);

template <class... Args>
void trace(fmt::format_string<Args...> f, Args&&... a) {
  spdlog::trace(f, std::forward<Args>(a)...);
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) {
  spdlog::debug(f, std::forward<Args>(a)...);
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... a) {
  spdlog::info(f, std::forward<Args>(a)...);
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) {
  spdlog::warn(f, std::forward<Args>(a)...);
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... a) {
  spdlog::error(f, std::forward<Args>(a)...);
}

// True on the ranks whose info lines are shown (rank 0, or all with --log.all-ranks).
bool is_printing_rank();

}  // namespace disa::core::log
