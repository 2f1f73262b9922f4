// `disa sft`: the supervised warm start of the reference policy (src/train/warm_start.cpp).
#include "command.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/train/warm_start.hpp"

namespace disa::apps {
namespace {

int run_sft_command(const std::vector<std::string>& args, MpiContext& mpi) {
  Options options("sft",
                  "Warm-start a model by supervised learning on synthetic-task demonstrations (each "
                  "response uniform over the prompt's solution set); writes an HF model directory.");
  train::add_warm_start_options(options);
  auto config = parse_command(options, args, mpi);
  if (!config) return 0;
  train::run_warm_start(*config, mpi);
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("sft", "warm-start a reference policy on task demonstrations", run_sft_command);

}  // namespace disa::apps
