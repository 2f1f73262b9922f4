// `disa warm-start`: the supervised warm start of the reference policy (src/train/warm_start.cpp).
#include "command.hpp"
#include "disa/train/warm_start.hpp"

DISA_REGISTER_STAGE("warm-start", "warm-start a reference policy on task demonstrations",
                    "Warm-start a model by supervised learning on synthetic-task demonstrations (each response "
                    "uniform over the prompt's solution set); writes an HF model directory.",
                    disa::train::add_warm_start_options, disa::train::run_warm_start);
