// `disa train`: stage 2, policy optimisation on frozen anchors and the baselines
// (src/train/trainer.cpp).
#include "command.hpp"
#include "disa/train/train_settings.hpp"
#include "disa/train/trainer.hpp"

DISA_REGISTER_STAGE("train", "train a policy on frozen anchors (disa) or a baseline",
                    "Train a policy: DISA on the frozen anchors of a partition file, or a baseline (flowrl, grpo, "
                    "gspo, sft); writes OUT/train.h5, checkpoints and the final policy (HF layout).",
                    disa::train::add_train_options, disa::train::run_train);
