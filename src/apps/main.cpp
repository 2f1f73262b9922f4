// Entry point of the `disa` binary: MPI set-up, subcommand dispatch, and the job-wide
// error policy: any rank that fails prints one line prefixed with its rank and takes the
// whole job down with MPI_Abort, so no other rank hangs in a collective; a stage stopped
// on request (SIGTERM) after its checkpoint exits with core::kExitStopped on every rank.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "command.hpp"
#include "disa/core/error.hpp"
#include "disa/core/stop_request.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/mpi_context.hpp"

namespace {

void print_usage() {
  std::string out = "usage: disa <command> [options]   (disa <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : disa::apps::commands()) out += fmt::format("  {:<16} {}\n", c.name, c.summary);
  std::fputs(out.c_str(), stdout);
}

// The command whose name matches the longest prefix of the arguments.
const disa::apps::Command* find_command(const std::vector<std::string>& args, size_t& words) {
  const disa::apps::Command* best = nullptr;
  words = 0;
  for (const auto& c : disa::apps::commands()) {
    std::vector<std::string> parts;
    size_t start = 0, sp;
    while ((sp = c.name.find(' ', start)) != std::string::npos) {
      parts.push_back(c.name.substr(start, sp - start));
      start = sp + 1;
    }
    parts.push_back(c.name.substr(start));
    if (parts.size() > args.size()) continue;
    bool match = true;
    for (size_t i = 0; i < parts.size(); ++i) match = match && args[i] == parts[i];
    if (match && parts.size() > words) best = &c, words = parts.size();
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<disa::dist::MpiContext> mpi;
  int rank = 0;
  try {
    mpi = std::make_unique<disa::dist::MpiContext>(&argc, &argv);
    rank = mpi->rank();
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      if (mpi->is_root()) print_usage();
      return args.empty() ? 2 : 0;
    }
    size_t words = 0;
    const auto* command = find_command(args, words);
    if (!command) {
      if (mpi->is_root()) {
        std::fprintf(stderr, "disa: unknown command '%s'\n", args[0].c_str());
        print_usage();
      }
      return 2;
    }
    // The command sees its (possibly two-word) name joined as args[0].
    std::vector<std::string> command_args{command->name};
    command_args.insert(command_args.end(), args.begin() + words, args.end());
    int rc = command->run(command_args, *mpi);
    if (rc != 0 && mpi->size() > 1) {
      std::fflush(stdout);
      std::fflush(stderr);
    }
    return rc;
  } catch (const disa::core::StopRequested& e) {
    // Every rank stopped at the same boundary after the checkpoint: a normal shutdown.
    std::fflush(stdout);
    if (rank == 0) std::fprintf(stderr, "disa: stopped: %s\n", e.what());
    std::fflush(stderr);
    return disa::core::kExitStopped;
  } catch (const disa::core::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "[rank %d] disa: %s: %s\n", rank, e.kind_name(), e.what());
    std::fflush(stderr);
    if (mpi && mpi->size() > 1) mpi->abort(e.exit_code());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "[rank %d] disa: error: %s\n", rank, e.what());
    std::fflush(stderr);
    if (mpi && mpi->size() > 1) mpi->abort(1);
    return 1;
  }
}
