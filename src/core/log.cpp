// spdlog set-up for disa's rank-aware logging.
#include "disa/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "disa/core/error.hpp"

namespace disa::core::log {
namespace {
bool g_printing = true;
}

void init(int rank, bool all_ranks, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    DISA_THROW(ConfigError, "option --log.level: unknown level '{}' (trace, debug, info, warn, error)", level);
  auto logger = spdlog::stderr_color_mt(fmt::format("disa-{}", rank));
  logger->set_pattern(fmt::format("%Y-%m-%d %H:%M:%S [rank {}] %^%l%$ %v", rank));
  g_printing = all_ranks || rank == 0;
  // Other ranks still report warnings and errors.
  logger->set_level(g_printing ? lvl : std::max(lvl, spdlog::level::warn));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

bool is_printing_rank() { return g_printing; }

}  // namespace disa::core::log
