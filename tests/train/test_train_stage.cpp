// `disa train` end to end on the anchor tests' fixture (a warm-started tiny reference
// and a longer-trained "strong" copy; tests/anchor/make_fixture_models.sh):
//  * a partition file from another beta or another reference model, and training
//    prompts without an anchor, are refused with messages naming the mismatch, and no
//    output is written;
//  * one step on 2 ranks equals one step on 1 rank with the same global batch (DISA,
//    token-normalised SFT, GRPO with a k3 KL penalty and seq-mean-token-mean);
//  * the offline DISA variant's self-normalised weights sum to 1 per prompt;
//  * a fresh run refuses a directory that holds a run; `disa inspect` reads every output;
//  * with a regressor file (disa anchor fit), the raw, regressor and shrinkage anchors are
//    the ones training uses, prompts without an anchor get g(x), and a regressor of
//    another reference is refused;
//  * an interrupted-then-resumed run equals the uninterrupted run bitwise (FlowRL with
//    its log Z head; LoRA-SFT), and resuming on another rank count works;
//  * DISA from a separately warm-started policy with the exact anchor lowers
//    KL(p*|C || pi_theta|C) and the mean residual (an estimate of KL(pi_theta || p*));
//    with the anchor c + 2 and s = 1 the residual is shifted by exactly 2 and the KL
//    stays at the noise level (the fixed point does not move); with
//    s = 1/|y| the shifted anchor ends with a worse KL than the unshifted one (averaged
//    over two seeds) and than the s = 1 run with the same error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "disa/io/hdf5.hpp"
#include "disa/io/regressor_file.hpp"
#include "disa/model/weights.hpp"
#include "support/run_disa.hpp"

namespace {

namespace fs = std::filesystem;
using disa::testing_support::RunResult;

const std::string kFixture = DISA_ANCHOR_FIXTURE;
const std::string kWork = DISA_TRAIN_WORK;
const std::string kGraph = " --task.name graph_paths --task.graph-nodes 4 --task.graph-edge-probability 0.6";
const std::string kTask = kGraph + " --task.count 24";
// Everything but beta and the prompt count, which some tests vary.
const std::string kTrainBase =
    kGraph + " --train.max-new-tokens 16 --train.threads 1 --train.prompts-per-step 8 --train.group-size 8";
const std::string kTrain = kTrainBase + " --task.count 24 --disa.beta 1.5";

RunResult disa(const std::string& args, int np = 1) { return disa::testing_support::run_disa(kWork, args, np); }
std::string work(const std::string& name) { return kWork + "/" + name; }
std::string anchors() { return work("anchors.h5"); }

class TrainStage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Reused while they are newer than the fixture's reference (a rebuilt fixture makes
    // a new reference, which the old partition file's fingerprint would not match).
    const auto reference_time = fs::last_write_time(kFixture + "/reference/model.safetensors");
    // (And while the partition file records what this code writes: its response stops.)
    if (fs::exists(anchors()) && fs::exists(work("other/model.safetensors")) &&
        fs::last_write_time(anchors()) > reference_time &&
        fs::last_write_time(work("other/model.safetensors")) > reference_time &&
        disa::io::h5::File::open(anchors()).has_attr("/", "stop_token_ids"))
      return;
    fs::remove_all(work("other"));
    fs::remove(anchors());
    // A policy warm-started separately from the same initialisation: its preferences among
    // the correct solutions differ from the reference's, so it starts away from p*.
    RunResult r = disa("warm-start --warm-start.model " + kFixture + "/init --warm-start.out " + work("other") +
                       kGraph +
                       " --task.count 200 --warm-start.steps 300 --warm-start.lr 3e-3 --warm-start.seed 7"
                       " --warm-start.eval-samples 0 --warm-start.threads 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = disa("anchor --anchor.reference " + kFixture + "/reference --anchor.out " + anchors() + kTask +
             " --anchor.beta 1.5 --anchor.samples 64 --anchor.max-new-tokens 16 --anchor.threads 1"
             " --anchor.checkpoint-seconds 0 --anchor.bootstrap 0");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
};

// Runs `disa train` (must succeed) into work(out), emptied first unless resuming.
void train(const std::string& out, const std::string& args, int np = 1) {
  if (args.find("--train.resume") == std::string::npos) fs::remove_all(work(out));
  RunResult r = disa("train --train.out " + work(out) + " --train.anchors " + anchors() + kTrain + " " + args, np);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

std::vector<double> metric(const std::string& out, const std::string& name) {
  auto f = disa::io::h5::File::open(work(out) + "/train.h5", "disa-train", 1);
  return f.read<double>("/metrics/" + name);
}
double attr(const std::string& out, const std::string& name) {
  auto f = disa::io::h5::File::open(work(out) + "/train.h5", "disa-train", 1);
  return f.attr_double("/", name);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double max_parameter_difference(const std::string& a, const std::string& b) {
  auto ma = disa::model::load_model(a), mb = disa::model::load_model(b);
  auto pa = ma->named_parameters(), pb = mb->named_parameters();
  double worst = 0;
  for (const auto& item : pa) {
    const auto* other = pb.find(item.key());
    EXPECT_NE(other, nullptr) << item.key();
    if (other) worst = std::max(worst, (item.value() - *other).abs().max().item<double>());
  }
  return worst;
}

// Error model of the comparisons between runs that do the same arithmetic in another
// order (1 vs 2 ranks, or a resume on another rank count); a resume at the same rank
// count repeats the same operations and is compared bitwise.
//  * Sums: a reordered fp32 sum of T terms moves by at most T * u * sum|terms|
//    (u = 2^-24); the loss and the gradient norm of one step sum T <= 24 * 8 * 16 ~ 3e3
//    per-token terms of order 1, so they may move by ~2e-4 of their scale. That is far
//    below what a rank-dependent bug does (a wrong normaliser moves them by a factor).
//  * Weights: AdamW moves each weight by lr * mhat / (sqrt(vhat) + eps) per update. A
//    gradient that differs in its last bits changes that step negligibly, except for
//    weights whose gradient is itself at the rounding level, where the normalisation
//    turns the noise into a step of up to ~lr. Half a step per reordered update is the
//    tolerance: exceeding it means some weight's step reversed direction.
constexpr double kLr = 1e-3;  // --train.lr's default, used by every run below
constexpr double kSumTolerance = 2e-4;
double reordered_weight_tolerance(int reordered_updates) { return 0.5 * kLr * reordered_updates; }

// Median of the last n entries (robust to the rare high-variance steps of s = 1 with a
// shifted anchor, which docs/method.md §3 predicts).
double median_of_last(const std::vector<double>& v, size_t n) {
  std::vector<double> tail(v.end() - long(n), v.end());
  std::nth_element(tail.begin(), tail.begin() + long(n / 2), tail.end());
  return tail[n / 2];
}

TEST_F(TrainStage, RefusesMismatchedPartitionFiles) {
  const std::string ref = " --train.model " + kFixture + "/reference";
  RunResult r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kTrainBase +
                     " --task.count 24" + ref + " --disa.beta 1.0 --train.steps 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("does not match this run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("beta: the file has 1.5 but option --disa.beta is 1"), std::string::npos) << r.output;
  r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kTrain + ref +
           " --train.reference " + kFixture + "/strong --train.steps 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("reference model: the file was anchored on"), std::string::npos) << r.output;
  // Another response space: the file's responses are cut at 16 tokens.
  r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kGraph + ref +
           " --train.max-new-tokens 12 --train.threads 1 --train.prompts-per-step 8 --train.group-size 8"
           " --task.count 24 --disa.beta 1.5 --train.steps 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("max_new_tokens: the file's responses are cut at 16 tokens"), std::string::npos) << r.output;
  // Another stop set: the same file recording one other stop string is refused, naming the
  // field (the run's stops are those of its rollouts: the model's end tokens and the task's).
  const std::string other_stops = work("other-stops.h5");
  fs::copy_file(anchors(), other_stops, fs::copy_options::overwrite_existing);
  disa::io::h5::File::open_for_update(other_stops).set_attr("/", "stop_strings", std::string("[\"END\"]"));
  r = disa("train --train.out " + work("refused") + " --train.anchors " + other_stops + kTrain + ref +
           " --train.steps 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("stop_strings: the file's responses end at [\"END\"], the run's at ["), std::string::npos)
      << r.output;
  // The length-normalised residual needs the root-found anchor; an "exact" anchor with it is refused.
  r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kTrain + ref +
           " --disa.residual length-normalized --disa.anchor exact --train.steps 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("option --disa.anchor"), std::string::npos) << r.output;
  // Prompts beyond the 24 anchored ones have no anchor.
  const std::string more = " --task.count 40 --disa.beta 1.5";
  r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kTrainBase + ref + more +
           " --train.steps 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("16 of 40 training prompts have no anchor"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(work("refused")));  // nothing was written
  fs::remove_all(work("allowed"));
  RunResult ok = disa("train --train.out " + work("allowed") + " --train.anchors " + anchors() + kTrainBase + ref +
                      more + " --train.allow-missing-anchors --train.steps 1");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  auto f = disa::io::h5::File::open(work("allowed") + "/train.h5", "disa-train", 1);
  EXPECT_EQ(f.attr_int("/", "missing_anchors"), 16);
  EXPECT_EQ(f.attr_int("/", "prompts"), 24);
  // A fresh run into a directory that holds one is refused, and the old run is intact.
  r = disa("train --train.out " + work("allowed") + " --train.anchors " + anchors() + kTrainBase + ref + more +
           " --train.allow-missing-anchors --train.steps 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("already holds a training run"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(work("allowed") + "/train.h5"));
}

// The frozen regressor (disa anchor fit) in training: --disa.anchor raw, regressor and
// shrinkage train on the anchors the regressor file says they should; prompts the
// partition file lacks get g(x) instead of being refused; a regressor fitted on another
// reference, or regressor anchors without a regressor file, are refused.
TEST_F(TrainStage, RegressorAndShrinkageAnchors) {
  const std::string ref = " --train.model " + kFixture + "/reference";
  const std::string regressor = work("regressor.h5");
  fs::remove(regressor);
  // Feature batches of 12 prompts: the first is prompts 0..11, exactly the batch training
  // computes for --task.count 12 (train.max-batch-size 64): the same forward pass on the same
  // tokens, so training's g(x) equals the file's bitwise. (A subset: over all fitted prompts
  // the means of g and c coincide, since the weighted residuals of a fit with a free bias
  // sum to 0 and c - g = tau^2 w (log Zhat - g).)
  RunResult r = disa("anchor fit --fit.anchors " + anchors() + " --fit.out " + regressor +
                     " --fit.threads 1 --fit.batch-size 12");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto fitted = disa::io::regressor::read_prompts(regressor);
  ASSERT_EQ(fitted.ids.size(), 24u);
  auto mean12 = [](const std::vector<double>& v) {
    double m = 0;
    for (size_t i = 0; i < 12; ++i) m += v[i] / 12.0;
    return m;
  };
  // One step over the 12 prompts (all of them, in a permuted order): anchor_mean is the mean
  // of their anchors (each counted G times). The same anchors summed in another order:
  // rounding of ~24 doubles of magnitude < 2, far below 1e-9; the three means differ by more
  // than 1e-5 (checked below, 1e4 times the tolerance), so each mode is told apart.
  const std::string twelve = kGraph +
                             " --train.max-new-tokens 16 --train.threads 1 --train.prompts-per-step 12 "
                             "--train.group-size 2 --task.count 12 --disa.beta 1.5 --train.steps 1" +
                             ref;
  const std::vector<std::pair<std::string, std::vector<double>>> modes{{"raw", fitted.log_z_hat},
                                                                       {"regressor", fitted.prediction},
                                                                       {"shrinkage", fitted.shrinkage}};
  for (const auto& [mode, anchors_used] : modes) {
    fs::remove_all(work("anchor-" + mode));
    r = disa("train --train.out " + work("anchor-" + mode) + " --train.anchors " + anchors() + twelve +
             " --disa.regressor " + regressor + " --disa.anchor " + mode);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NEAR(metric("anchor-" + mode, "anchor_mean").at(0), mean12(anchors_used), 1e-9) << mode;
    auto f = disa::io::h5::File::open(work("anchor-" + mode) + "/train.h5", "disa-train", 1);
    EXPECT_EQ(f.attr_string("/", "anchor_kind"), mode == "raw" ? "estimate" : mode);
  }
  // The fixture's anchors: most prompts have no correct sample (s = 0, kept as they are),
  // some have one (s > 0, moved towards g); the regressor's anchors differ from both.
  EXPECT_GT(std::abs(mean12(fitted.shrinkage) - mean12(fitted.log_z_hat)), 1e-5);
  EXPECT_GT(std::abs(mean12(fitted.prediction) - mean12(fitted.shrinkage)), 1e-5);
  EXPECT_GT(std::abs(mean12(fitted.prediction) - mean12(fitted.log_z_hat)), 1e-5);
  // 40 prompts, 24 anchored: the other 16 get g(x) and are trained on.
  fs::remove_all(work("filled"));
  r = disa("train --train.out " + work("filled") + " --train.anchors " + anchors() + kTrainBase + ref +
           " --task.count 40 --disa.beta 1.5 --train.steps 1 --disa.regressor " + regressor +
           " --disa.anchor shrinkage");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {
    auto f = disa::io::h5::File::open(work("filled") + "/train.h5", "disa-train", 1);
    EXPECT_EQ(f.attr_int("/", "prompts"), 40);
    EXPECT_EQ(f.attr_int("/", "regressor_anchors"), 16);
    EXPECT_EQ(f.attr_int("/", "missing_anchors"), 0);
  }
  // A regressor fitted on anchors of another reference (the separately warm-started policy).
  const std::string other_anchors = work("other-anchors.h5"), other_regressor = work("other-regressor.h5");
  fs::remove(other_anchors);
  fs::remove(other_regressor);
  r = disa("anchor --anchor.reference " + work("other") + " --anchor.out " + other_anchors + kGraph +
           " --task.count 8 --anchor.beta 1.5 --anchor.samples 2 --anchor.max-new-tokens 16 --anchor.threads 1"
           " --anchor.bootstrap 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = disa("anchor fit --fit.anchors " + other_anchors + " --fit.out " + other_regressor + " --fit.threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kTrain + ref +
           " --train.steps 1 --disa.anchor shrinkage --disa.regressor " + other_regressor);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("regressor file '" + other_regressor + "' (option --disa.regressor) does not match this run"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("reference model: the regressor was fitted on '" + work("other") + "'"), std::string::npos)
      << r.output;
  r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kTrain + ref +
           " --train.steps 1 --disa.anchor regressor");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("option --disa.anchor: regressor and shrinkage need --disa.regressor"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(work("refused")));
}

TEST_F(TrainStage, RefusesTemperedRolloutsForResidualObjectives) {
  for (const std::string alg : {"disa", "flowrl"}) {
    RunResult r = disa("train --train.out " + work("refused") + " --train.anchors " + anchors() + kTrain +
                       " --train.model " + kFixture + "/reference --train.algorithm " + alg +
                       " --train.temperature 0.7 --train.steps 1");
    EXPECT_EQ(r.exit_code, 2) << alg;
    EXPECT_NE(r.output.find("option --train.temperature: " + alg +
                            " trains on rollouts from pi_theta at "
                            "temperature 1"),
              std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(work("refused")));
  }
}

TEST_F(TrainStage, OneStepOnTwoRanksEqualsOneRank) {
  // Two mini-batches and micro-batches of 8 sequences: accumulation and the global
  // token/sequence normalisation are both exercised. GRPO starts from the separately
  // warm-started policy so that its k3 KL penalty to the reference has a gradient.
  const std::vector<std::pair<std::string, std::string>> runs{
      {"disa", " --train.model " + kFixture + "/reference"},
      {"sft", " --train.model " + kFixture + "/reference --sft.batch-size 24"},
      {"grpo", " --train.model " + work("other") + " --train.reference " + kFixture +
                   "/reference --grpo.kl k3 --grpo.kl-coef 0.1 --grpo.aggregation seq-mean-token-mean"}};
  for (const auto& [alg, extra] : runs) {
    const std::string args = " --train.algorithm " + alg + extra +
                             " --train.steps 1 --train.mini-batches 2 --train.micro-batch 8";
    train("np1_" + alg, args, 1);
    train("np2_" + alg, args, 2);
    const double diff = max_parameter_difference(work("np1_" + alg) + "/policy", work("np2_" + alg) + "/policy");
    EXPECT_LT(diff, reordered_weight_tolerance(2)) << alg;  // two mini-batches: two updates
    const std::string init = alg == "grpo" ? work("other") : kFixture + "/reference";
    const double moved = max_parameter_difference(work("np1_" + alg) + "/policy", init);
    EXPECT_GT(moved, 1e-4) << alg << ": the step changed nothing";
    EXPECT_NEAR(metric("np1_" + alg, "loss")[0], metric("np2_" + alg, "loss")[0], kSumTolerance) << alg;
    const double g1 = metric("np1_" + alg, "grad_norm")[0], g2 = metric("np2_" + alg, "grad_norm")[0];
    EXPECT_NEAR(g1, g2, kSumTolerance * std::max(1.0, g1)) << alg;
  }
  EXPECT_GT(metric("np1_grpo", "kl_penalty")[0], 0.0);
}

TEST_F(TrainStage, UpdateGuardSkipsOutliersAndStopsADivergedRun) {
  // A z threshold of 1e-9 over a window of 2 makes nearly every update after the first two
  // an "outlier": the skips are counted per step and in total, and the run still ends.
  const std::string base = " --train.algorithm disa --train.model " + kFixture +
                           "/reference --train.steps 4 --train.mini-batches 2 --train.outlier-window 2"
                           " --train.outlier-z 1e-9";
  train("guarded", base + " --train.max-skipped-updates 100");
  const auto skipped = metric("guarded", "skipped_updates");
  double total = 0;
  for (double k : skipped) total += k;
  EXPECT_EQ(skipped[0], 0.0);  // the first two updates fill the window
  EXPECT_GE(total, 5.0);       // 8 updates, 2 applied before any comparison
  EXPECT_EQ(attr("guarded", "skipped_updates"), total);
  // Allowed one skip in a row, the same run stops with a DataError naming the step.
  fs::remove_all(work("diverged"));
  RunResult r = disa("train --train.out " + work("diverged") + " --train.anchors " + anchors() + kTrain + base +
                     " --train.max-skipped-updates 1");
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("optimiser updates in a row skipped (outlier loss or gradient norm"), std::string::npos)
      << r.output;
}

TEST_F(TrainStage, OfflineVariantSelfNormalisesPerPrompt) {
  // The weights are pi_theta / q self-normalised over each prompt's 64 stored samples. The
  // file's q is pi_ref (a reference proposal) and step 0's policy is pi_ref, so step 0's
  // weights are all 1/64 -- only if the trainer scores the stored tokens as the anchor stage
  // did (same tokens, same support, temperature 1): its log pi_theta and the file's log q
  // are float32 sums over <= 16 tokens from two forward passes with other padding, ~1e-5
  // apart per token, so 64 w_max - 1 stays below 16 * 1e-5 * 2 ~ 3e-4 (1e-3 allowed).
  // After one update pi_theta != q and the weights spread.
  train("offline",
        " --train.algorithm disa --train.source offline --train.model " + kFixture + "/reference --train.steps 2");
  const auto w_max = metric("offline", "weight_max");
  EXPECT_NEAR(64 * w_max[0], 1.0, 1e-3);
  EXPECT_GT(64 * w_max[1], 1.0 + 1e-2);
  for (double r : metric("offline", "residual_mean")) EXPECT_TRUE(std::isfinite(r));
  EXPECT_GT(max_parameter_difference(work("offline") + "/policy", kFixture + "/reference"), 1e-4);
}

TEST_F(TrainStage, ResumeEqualsUninterruptedRun) {
  for (const std::string alg : {"flowrl", "sft"}) {
    const std::string args = " --train.algorithm " + alg + " --train.model " + kFixture +
                             "/reference --train.steps 4 --train.checkpoint-every 1 --train.keep-checkpoints 2"
                             " --sft.batch-size 16";
    train("full_" + alg, args);
    train("resumed_" + alg, args + " --train.stop-after-steps 2");
    EXPECT_FALSE(fs::exists(work("resumed_" + alg) + "/policy"));
    EXPECT_TRUE(fs::exists(work("resumed_" + alg) + "/train.h5.incomplete"));
    EXPECT_TRUE(fs::exists(work("resumed_" + alg) + "/checkpoints/step-000002/COMPLETE"));
    train("resumed_" + alg, args + " --train.resume");
    EXPECT_EQ(file_bytes(work("full_" + alg) + "/policy/model.safetensors"),
              file_bytes(work("resumed_" + alg) + "/policy/model.safetensors"))
        << alg << ": the resumed run differs";
    EXPECT_EQ(metric("full_" + alg, "loss"), metric("resumed_" + alg, "loss")) << alg;
    EXPECT_EQ(metric("full_" + alg, "step"), metric("resumed_" + alg, "step")) << alg;
    // Only the newest two checkpoints are kept.
    EXPECT_FALSE(fs::exists(work("resumed_" + alg) + "/checkpoints/step-000002"));
    EXPECT_TRUE(fs::exists(work("resumed_" + alg) + "/checkpoints/step-000004/COMPLETE"));
  }
  EXPECT_TRUE(fs::exists(work("full_sft") + "/adapter/adapter_model.safetensors"));  // LoRA by default
  EXPECT_TRUE(fs::exists(work("full_flowrl") + "/checkpoints/step-000004/log_z_head.pt"));
  {
    // FlowRL's learned log Z is on its own scale (normalised reward, s = 1/|y|): it is
    // recorded, and not differenced with the partition file's anchor (another quantity).
    auto f = disa::io::h5::File::open(work("full_flowrl") + "/train.h5");
    EXPECT_TRUE(f.exists("/metrics/log_z_learned"));
    EXPECT_FALSE(f.exists("/metrics/log_z_learned_minus_anchor"));
  }
  // Interrupted on 1 rank, resumed on 2: the same run up to float summation order.
  const std::string args = " --train.algorithm disa --train.model " + kFixture +
                           "/reference --train.steps 3 --train.checkpoint-every 1";
  train("ranks_full", args);
  train("ranks_resumed", args + " --train.stop-after-steps 2");
  train("ranks_resumed", args + " --train.resume", 2);
  EXPECT_LT(max_parameter_difference(work("ranks_full") + "/policy", work("ranks_resumed") + "/policy"),
            reordered_weight_tolerance(1));
}

TEST_F(TrainStage, StopSignalCheckpointsAndResumeEqualsUninterruptedRun) {
  // Offline DISA (its trajectories streamed from the partition file each step) on 2 ranks:
  // SIGTERM reaches rank 0 after step 2 (DISA_TEST_STOP_AT), every rank checkpoints that
  // step and the job exits 75; the resumed run ends bitwise equal to an uninterrupted one.
  const std::string args = " --train.algorithm disa --train.source offline --train.model " + kFixture +
                           "/reference --train.steps 4";
  train("signal_full", args, 2);
  fs::remove_all(work("signal_stopped"));
  {
    const disa::testing_support::ScopedEnv stop("DISA_TEST_STOP_AT", "2");
    RunResult r =
        disa("train --train.out " + work("signal_stopped") + " --train.anchors " + anchors() + kTrain + args, 2);
    EXPECT_EQ(r.exit_code, 75) << r.output;
    EXPECT_NE(r.output.find("SIGTERM after step 2 of 4"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(work("signal_stopped") + "/policy"));
  EXPECT_TRUE(fs::exists(work("signal_stopped") + "/checkpoints/step-000002/COMPLETE"));
  train("signal_stopped", args + " --train.resume", 2);
  EXPECT_EQ(file_bytes(work("signal_full") + "/policy/model.safetensors"),
            file_bytes(work("signal_stopped") + "/policy/model.safetensors"));
  EXPECT_EQ(metric("signal_full", "loss"), metric("signal_stopped", "loss"));
}

// With a merged BPE token in the vocabulary a string has several token sequences, so the
// exact log Z and the exact metrics (which score each listed solution's one encoding)
// would be lower bounds: anchor marks log_z_exact not available, train refuses the exact
// anchor and the exact metrics, eval leaves its exact columns NaN and says why.
TEST_F(TrainStage, ExactQuantitiesRefusedUnderMergedTokens) {
  const std::string merged = work("merged_model");
  fs::remove_all(merged);
  fs::copy(kFixture + "/reference", merged, fs::copy_options::recursive);
  {
    std::ifstream in(merged + "/tokenizer.json");
    nlohmann::json j = nlohmann::json::parse(in);
    j["model"]["vocab"]["0\u0120"] = 259;  // the tiny tokenizer's ids: 256 bytes, then 3 special tokens
    j["model"]["merges"] = nlohmann::json::array({"0 \u0120"});
    std::ofstream(merged + "/tokenizer.json") << j.dump();
  }
  const std::string file = work("merged_anchors.h5");
  fs::remove(file);
  RunResult r = disa("anchor --anchor.reference " + merged + " --anchor.out " + file + kGraph +
                     " --task.count 6 --anchor.beta 1.5 --anchor.samples 8 --anchor.max-new-tokens 16"
                     " --anchor.threads 1 --anchor.checkpoint-seconds 0 --anchor.bootstrap 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no exact log Z: the tokenizer of"), std::string::npos) << r.output;
  {
    auto f = disa::io::h5::File::open(file);
    for (double z : f.read<double>("/anchors/log_z_exact")) EXPECT_TRUE(std::isnan(z));
    for (double z : f.read<double>("/anchors/log_z_hat")) EXPECT_TRUE(std::isfinite(z));
    EXPECT_NE(f.attr_string("/anchors/log_z_exact", "not_available").find("merged (multi-byte) tokens"),
              std::string::npos);
  }
  const std::string train_args = " --train.model " + merged + " --train.anchors " + file + kTrainBase +
                                 " --task.count 6 --disa.beta 1.5 --train.steps 1";
  r = disa("train --train.out " + work("merged_exact") + train_args + " --disa.anchor exact");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("option --disa.anchor: exact is not available: the tokenizer of"), std::string::npos)
      << r.output;
  r = disa("train --train.out " + work("merged_metrics") + train_args + " --train.exact-every 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("option --train.exact-every: the exact metrics are not available"), std::string::npos)
      << r.output;
  fs::remove_all(work("merged_eval"));
  r = disa("eval --eval.model " + merged + " --eval.out " + work("merged_eval/eval.h5") + kGraph +
           " --task.count 4 --eval.samples 2 --eval.max-new-tokens 16 --eval.threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto f = disa::io::h5::File::open(work("merged_eval/eval.h5"));
  EXPECT_NE(f.attr_string("/", "exact_not_available").find("merged (multi-byte) tokens"), std::string::npos);
}

TEST_F(TrainStage, ExactAndWrongAnchors) {
  const std::string base = " --train.algorithm disa --train.model " + work("other") + " --train.reference " + kFixture +
                           "/reference --train.steps 40 --train.exact-every 40 --train.exact-prompts 24"
                           " --train.lr 2e-3";
  train("exact", base + " --disa.anchor exact");
  // The shifted anchor over three seeds (seed 1 is the default): the shift adds gradient
  // variance, not bias, and a single run can be thrown far off by it (measured: one of
  // three seeds ended at KL 0.96 under the portable CPU kernels, 0.015-0.04 otherwise), so
  // the final KL is the median of the three.
  std::vector<double> kl_shifts;
  for (int seed : {1, 2, 3}) {
    const std::string name = seed == 1 ? "exact_shift" : "exact_shift_" + std::to_string(seed);
    train(name, base + " --disa.anchor exact --train.anchor-shift 2 --train.seed " + std::to_string(seed));
    kl_shifts.push_back(attr(name, "final_exact_kl"));
  }
  std::sort(kl_shifts.begin(), kl_shifts.end());
  const double kl0 = metric("exact", "exact_kl")[0];
  const double kl_exact = attr("exact", "final_exact_kl"), kl_shift = kl_shifts[1];
  EXPECT_GT(kl0, 0.005) << "the policy should start away from p*";
  EXPECT_LT(kl_exact, 0.6 * kl0) << "exact anchor: KL " << kl0 << " -> " << kl_exact;
  // The full-KL lower bound is recorded with it; p*(C) depends on the reference only, so it
  // is the same number at the start and at the end, and the bound is at least its binary
  // part, > 0 while pi(C) != p*(C). Whether it falls is a measurement, not a test: DISA's
  // on-policy gradient is that of the reverse KL(pi || p*) over all responses, and from an
  // init far from pi_ref on the incorrect responses (93% of the mass) most of the early
  // progress is there; the shared weights pull pi(C) from 0.074 towards the reference's 0.02
  // on the way (p*(C) = 0.09), so this forward-KL bound rises (0.024 -> 0.056) while the
  // reverse-KL estimate (residual_mean, below) halves.
  const double bound0 = metric("exact", "exact_kl_lower_bound")[0];
  const double bound_end = attr("exact", "final_exact_kl_lower_bound");
  EXPECT_GT(bound0, 0.0);
  EXPECT_TRUE(std::isfinite(bound_end));
  EXPECT_EQ(metric("exact", "exact_target_mass")[0], attr("exact", "final_exact_target_mass"));
  // s = 1: on on-policy samples the mean residual estimates KL(pi_theta || p*) >= 0 with
  // the exact anchor, and that KL + 2 with the anchor c + 2; the error leaves the fixed
  // point alone. At the first step both runs have the same policy and the same rollouts,
  // so the shift appears exactly (up to fp32 rounding of residuals of order 10).
  const auto r_exact = metric("exact", "residual_mean"), r_shift = metric("exact_shift", "residual_mean");
  EXPECT_NEAR(r_shift[0] - r_exact[0], 2.0, 1e-4);
  // Training lowers KL(pi_theta || p*) to under half its start; at the end neither run's
  // KL estimate is resolvably negative (a batch mean over 64 samples of residuals with a
  // spread of order 1 has a standard error of ~0.13; the median of 20 of them ~0.04).
  const double resid_exact = median_of_last(r_exact, 20), resid_shift = median_of_last(r_shift, 20);
  EXPECT_LT(resid_exact, 0.5 * r_exact[0]) << "KL(pi || p*) estimate " << r_exact[0] << " -> " << resid_exact;
  EXPECT_GT(resid_exact, -0.15) << resid_exact;
  EXPECT_GT(resid_shift - 2.0, -0.15) << resid_shift;
  // The shifted run's KL estimate falls too, more slowly (the error adds variance).
  EXPECT_LT(resid_shift - 2.0, r_exact[0]) << resid_shift;
  // The error adds gradient variance only: the policy stays near p* (at the noise level).
  EXPECT_LT(kl_shift, 0.05) << "c + 2 with s = 1: KL " << kl0 << " -> median " << kl_shift;
  // s = 1/|y|: the anchor sets the fixed point, so the error tilts it.
  double ln = 0, ln_shift = 0;
  for (int seed : {1, 2}) {
    const std::string args = base + " --disa.residual length-normalized --train.seed " + std::to_string(seed);
    train("ln_" + std::to_string(seed), args);
    train("ln_shift_" + std::to_string(seed), args + " --train.anchor-shift 2");
    ln += attr("ln_" + std::to_string(seed), "final_exact_kl") / 2;
    ln_shift += attr("ln_shift_" + std::to_string(seed), "final_exact_kl") / 2;
  }
  EXPECT_GT(ln_shift, ln) << "s = 1/|y|: KL with c + 2 " << ln_shift << " vs " << ln;
  EXPECT_GT(ln_shift, kl_exact);
  EXPECT_GT(ln_shift, 2 * kl_shift) << "the same anchor error hurts s = 1/|y| more than s = 1";
}

// One policy from sampling to scoring: after a few hundred DISA steps, each training
// prompt's fraction of correct samples agrees with the exact policy mass on its listed
// solutions. The policy trained with its scoring over every model id while its sampler
// was renormalised over the tokenizer's ids could lower the log-probability of every
// sampled response by moving mass onto padded ids it never samples; there the two
// drifted apart (0.92 sampled vs 0.75 exact after 300 steps on the embedded default).
// Error model: with k samples per prompt, the correct count is Binomial(k, m), so
// z = (freq - m) / sqrt(m (1 - m) / k) is about N(0, 1) and independent over prompts
// (prompts with m outside [5/k, 1 - 5/k] are skipped, where the normal approximation
// fails). Their sum over P prompts is N(0, P): |sum z| / sqrt(P) < 4 fails by chance with
// probability 6e-5, and each |z| < 5 with P * 6e-7. Measured with k = 1024: the policy
// trained and evaluated by the code before the fix gives sum z / sqrt(P) = 6.7 (mean
// z = 1.4 over 22 prompts), the fixed code -0.6.
TEST_F(TrainStage, SampledFrequenciesMatchExactMassAfterTraining) {
  train("long", " --train.algorithm disa --train.model " + kFixture +
                    "/reference --train.steps 300 --train.exact-every 0 --train.log-every 100");
  fs::remove_all(work("long_eval"));
  const int k = 1024;
  RunResult r = disa("eval --eval.model " + work("long") + "/policy --eval.out " + work("long_eval/eval.h5") + kGraph +
                     " --task.count 24 --eval.samples " + std::to_string(k) +
                     " --eval.max-new-tokens 16 --eval.threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto f = disa::io::h5::File::open(work("long_eval/eval.h5"), "disa-eval", 1);
  const auto freq = f.read<double>("/prompts/metrics/mean_at_k");
  const auto mass = f.read<double>("/prompts/metrics/policy_mass");
  ASSERT_EQ(freq.size(), mass.size());
  double sum_z = 0;
  int used = 0;
  for (size_t i = 0; i < freq.size(); ++i) {
    if (!(mass[i] > 5.0 / k && mass[i] < 1 - 5.0 / k)) continue;
    const double z = (freq[i] - mass[i]) / std::sqrt(mass[i] * (1 - mass[i]) / k);
    EXPECT_LT(std::abs(z), 5.0) << "prompt " << i << ": sampled " << freq[i] << ", exact mass " << mass[i];
    sum_z += z;
    ++used;
  }
  ASSERT_GE(used, 12) << "too few prompts with a policy mass away from 0 and 1";
  EXPECT_LT(std::abs(sum_z) / std::sqrt(double(used)), 4.0)
      << "the sampled frequencies of the correct responses are biased against their exact mass over " << used
      << " prompts (mean z " << sum_z / used << ")";
}

}  // namespace

namespace {

// `disa inspect` on each output of the stages: the partition file, train.h5 and eval.h5.
TEST_F(TrainStage, InspectSummarisesEveryOutput) {
  train("inspected", " --train.algorithm disa --train.model " + kFixture + "/reference --train.steps 2");
  RunResult r = disa("inspect " + anchors());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("disa-partition version 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ESS/N quantiles"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("flagged prompts"), std::string::npos) << r.output;
  r = disa("inspect " + work("inspected") + "/train.h5 --inspect.config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("disa-train version 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("residual_mean"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[train]"), std::string::npos) << r.output;  // the stored configuration
  r = disa("eval --eval.model " + work("inspected") + "/policy --eval.reference " + kFixture +
           "/reference --eval.out " + work("inspected/eval.h5") + kGraph +
           " --task.split test --task.count 6 --eval.samples 2 --eval.max-new-tokens 16 --eval.threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = disa("inspect " + work("inspected/eval.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mean_at_k"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("macro"), std::string::npos) << r.output;
  r = disa("inspect " + work("missing.h5"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.output.find("missing.h5' does not exist"), std::string::npos) << r.output;
}

}  // namespace
