// The command registry and the shared option parsing / start-up banner of commands.
#include "command.hpp"

#include <cstdio>

#include "disa/core/log.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/mpi_context.hpp"
#include "environment.hpp"

namespace disa::apps {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace

void register_command(Command command) {
  auto& r = registry();
  auto pos = std::lower_bound(r.begin(), r.end(), command.name,
                              [](const Command& c, const std::string& n) { return c.name < n; });
  r.insert(pos, std::move(command));
}

const std::vector<Command>& commands() { return registry(); }

std::optional<core::Config> parse_command(const core::Options& options, const std::vector<std::string>& args,
                                          dist::MpiContext& mpi, bool quiet) {
  core::ParseOutcome outcome = core::parse_options(options, args);
  if (outcome.action == core::ParseOutcome::Action::Help) {
    if (mpi.is_root()) std::fputs(options.help_text().c_str(), stdout);
    return std::nullopt;
  }
  if (outcome.action == core::ParseOutcome::Action::PrintConfig) {
    if (mpi.is_root()) std::fputs(outcome.config.to_ini().c_str(), stdout);
    return std::nullopt;
  }
  const core::Config& config = outcome.config;
  core::log::init(mpi.rank(), config.get_bool("log.all-ranks"), config.get_string("log.level"));
  const auto level = spdlog::level::from_str(config.get_string("log.level"));
  if (!quiet && core::log::is_printing_rank() && level <= spdlog::level::info) {
    core::Table table(fmt::format("disa {}", options.command()));
    // Long values (templates, paths) are shortened in the banner; --print-config has them whole.
    auto shorten = [](std::string v) {
      for (auto& ch : v)
        if (ch == '\n') ch = ' ';
      return v.size() > 96 ? v.substr(0, 93) + "..." : v;
    };
    for (const auto& [k, v] : config.items()) table.row(k, shorten(v));
    table.section("environment");
    for (const auto& [k, v] : environment_rows(mpi)) table.row(k, shorten(v));
    std::fputs(table.render().c_str(), stderr);
  }
  return config;
}

CommandFn stage_command(std::string name, std::string description, std::function<void(core::Options&)> add_options,
                        std::function<std::string(const core::Config&, dist::MpiContext&)> run) {
  return [name, description, add_options, run](const std::vector<std::string>& args, dist::MpiContext& mpi) {
    core::Options options(name, description);
    add_options(options);
    auto config = parse_command(options, args, mpi);
    if (config) run(*config, mpi);
    return 0;
  };
}

}  // namespace disa::apps
