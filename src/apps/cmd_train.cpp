// `disa train`: stage 2, policy optimisation on frozen anchors and the baselines
// (src/train/trainer.cpp).
#include "command.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/train/train_settings.hpp"
#include "disa/train/trainer.hpp"

namespace disa::apps {
namespace {

int run_train_command(const std::vector<std::string>& args, MpiContext& mpi) {
  Options options("train",
                  "Train a policy: DISA on the frozen anchors of a partition file, or a baseline (flowrl, grpo, "
                  "gspo, sft); writes OUT/train.h5, checkpoints and the final policy (HF layout).");
  train::add_train_options(options);
  auto config = parse_command(options, args, mpi);
  if (!config) return 0;
  train::run_train(*config, mpi);
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("train", "train a policy on frozen anchors (disa) or a baseline", run_train_command);

}  // namespace disa::apps
