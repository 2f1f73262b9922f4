// Subcommand registry of the one `disa` binary. Each src/apps/cmd_*.cpp file defines
// its commands and registers them with DISA_REGISTER_COMMAND; main.cpp dispatches.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "disa/core/config.hpp"

namespace disa::dist {
class MpiContext;
}  // namespace disa::dist

namespace disa::apps {

// Runs a command: `args[0]` is the command name, the rest its options. Returns the
// process exit code; throws disa::Error for failures (main reports and aborts).
using CommandFn = std::function<int(const std::vector<std::string>& args, dist::MpiContext& mpi)>;

struct Command {
  std::string name;     // "anchor", or "model init" for a two-word command
  std::string summary;  // one line for `disa --help`
  CommandFn run;
};

void register_command(Command command);
const std::vector<Command>& commands();

struct Registrar {
  explicit Registrar(Command command) { register_command(std::move(command)); }
};

// Parses the command's options. On --help or --print-config prints (rank 0) and returns
// nullopt; otherwise sets up logging and prints the boxed configuration + environment
// table on rank 0 (unless `quiet`), and returns the resolved configuration.
std::optional<core::Config> parse_command(const core::Options& options, const std::vector<std::string>& args,
                                          dist::MpiContext& mpi, bool quiet = false);

// A stage command (anchor, train, eval, warm-start): `add_options` declares its options,
// `run` runs it on the resolved configuration. The command parses, then runs.
CommandFn stage_command(std::string name, std::string description, std::function<void(core::Options&)> add_options,
                        std::function<std::string(const core::Config&, dist::MpiContext&)> run);

}  // namespace disa::apps

#define DISA_CONCAT_INNER(a, b) a##b
#define DISA_CONCAT(a, b) DISA_CONCAT_INNER(a, b)
// DISA_REGISTER_COMMAND("env", "print the build and run environment", run_env);
#define DISA_REGISTER_COMMAND(name, summary, fn) \
  static ::disa::apps::Registrar DISA_CONCAT(disa_registrar_, __LINE__)({name, summary, fn})
// DISA_REGISTER_STAGE("anchor", "one line for disa --help", "the command's --help summary",
//                     anchor::add_anchor_options, anchor::run_anchor);
#define DISA_REGISTER_STAGE(name, summary, description, add_options, run) \
  DISA_REGISTER_COMMAND(name, summary, ::disa::apps::stage_command(name, description, add_options, run))
