// `disa anchor fit` end to end on the anchor tests' fixture (a warm-started tiny model,
// small graph-path prompts; make_fixture_models.sh):
//  * the regressor file carries its format, provenance and a fit consistent with itself
//    (g from the stored coefficients, c from the shrinkage formula, the cross-validated
//    error from the stored out-of-fold predictions);
//  * a second fit with the same inputs, and a fit on 2 ranks, give the same file;
//  * partition files that disagree (another beta) and a reference of another fingerprint
//    are refused with messages naming the mismatch, and no file is written;
//  * `disa inspect` reads the regressor file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "disa/io/hdf5.hpp"
#include "disa/io/partition_file.hpp"
#include "disa/io/regressor_file.hpp"
#include "support/run_disa.hpp"

namespace {

namespace fs = std::filesystem;
using disa::testing_support::RunResult;

const std::string kFixture = DISA_ANCHOR_FIXTURE;
const std::string kWork = DISA_FIT_WORK;
const std::string kTask =
    " --task.name graph_paths --task.graph-nodes 4 --task.graph-edge-probability 0.6"
    " --anchor.max-new-tokens 16 --anchor.threads 1 --anchor.checkpoint-seconds 0 --anchor.bootstrap 0";

RunResult disa(const std::string& args, int np = 1) { return disa::testing_support::run_disa(kWork, args, np); }
std::string work(const std::string& name) { return kWork + "/" + name; }

class FitStage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 40 prompts with 32 samples each: pass rates ~0.02, so some prompts have a correct
    // sample (s > 0) and most none (s = 0).
    RunResult r = disa("anchor --anchor.reference " + kFixture + "/reference --anchor.out " + work("a.h5") + kTask +
                       " --task.count 40 --anchor.samples 32 --anchor.beta 1.5");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = disa("anchor --anchor.reference " + kFixture + "/reference --anchor.out " + work("beta1.h5") + kTask +
             " --task.count 4 --anchor.samples 2 --anchor.beta 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
};

const std::string kFit = " --fit.threads 1 --fit.folds 4 --fit.batch-size 8";

void fit(const std::string& out, const std::string& args, int np = 1) {
  fs::remove(work(out));
  RunResult r = disa("anchor fit --fit.anchors " + work("a.h5") + " --fit.out " + work(out) + kFit + args, np);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// Every dataset and attribute of two files, except those that name the run (created,
// config: the output path differs).
void expect_same_file(const std::string& a, const std::string& b) {
  auto fa = disa::io::h5::File::open(a), fb = disa::io::h5::File::open(b);
  std::map<std::string, std::string> attrs_b;
  for (const auto& [name, value] : fb.attrs_as_text("/")) attrs_b[name] = value;
  for (const auto& [name, value] : fa.attrs_as_text("/")) {
    if (name == "created" || name == "config" || name == "world_size") continue;
    ASSERT_TRUE(attrs_b.count(name)) << name;
    EXPECT_EQ(value, attrs_b[name]) << name;
  }
  EXPECT_EQ(fa.attr_double("/model", "bias"), fb.attr_double("/model", "bias"));
  for (const std::string ds :
       {"/model/coefficients", "/model/feature_mean", "/model/feature_scale", "/prompts/log_z_hat",
        "/prompts/standard_error", "/prompts/prediction", "/prompts/cv_prediction", "/prompts/shrinkage"})
    EXPECT_EQ(fa.read<double>(ds), fb.read<double>(ds)) << ds;
  EXPECT_EQ(fa.read_strings("/prompts/id"), fb.read_strings("/prompts/id"));
  EXPECT_EQ(fa.read<int64_t>("/prompts/fold"), fb.read<int64_t>("/prompts/fold"));
}

TEST_F(FitStage, WritesAConsistentRegressorFile) {
  fit("g.h5", "");
  const auto g = disa::io::regressor::read(work("g.h5"));
  const auto& p = g.provenance;
  const auto partition = disa::io::partition::Reader::open(work("a.h5"));
  EXPECT_EQ(disa::io::h5::File::open(work("g.h5")).attr_string("/", "format"), "disa-regressor");
  EXPECT_EQ(p.reference_fingerprint, partition.provenance().reference_fingerprint);
  EXPECT_EQ(p.tokenizer_fingerprint, partition.provenance().tokenizer_fingerprint);
  EXPECT_EQ(p.beta, 1.5);
  EXPECT_EQ(p.anchors, "logmeanexp");
  EXPECT_EQ(p.features, disa::io::regressor::kFeatureDefinition);
  EXPECT_EQ(p.num_prompts, 40);
  EXPECT_EQ(p.folds, 4);
  EXPECT_EQ(p.feature_dim, int64_t(g.coefficients.size()));
  EXPECT_GT(p.feature_dim, 0);
  EXPECT_NE(p.source_files.find(work("a.h5")), std::string::npos) << p.source_files;
  EXPECT_EQ(p.source_fingerprints.size(), 20u);  // ["<16 hex digits>"]
  EXPECT_GE(p.tau2, 1e-8);
  ASSERT_EQ(p.cv_weighted_mse_by_lambda.size(), p.lambda_grid.size());
  // The chosen lambda has the smallest weighted cross-validated error of the grid.
  for (size_t l = 0; l < p.lambda_grid.size(); ++l) EXPECT_GE(p.cv_weighted_mse_by_lambda[l], p.cv_weighted_mse);
  const auto t = disa::io::regressor::read_prompts(work("g.h5"));
  EXPECT_EQ(t.ids, partition.prompt_ids());
  EXPECT_EQ(t.log_z_hat, partition.anchors("logmeanexp"));
  EXPECT_EQ(t.standard_error, partition.diagnostic("delta_se"));
  double cv = 0;
  for (size_t i = 0; i < t.ids.size(); ++i) {
    cv += std::pow(t.log_z_hat[i] - t.cv_prediction[i], 2) / double(t.ids.size());
    // c from the formula, and c between log Zhat and g.
    EXPECT_DOUBLE_EQ(t.shrinkage[i],
                     disa::io::regressor::shrinkage(t.log_z_hat[i], t.standard_error[i], t.prediction[i], p.tau2));
    EXPECT_LE(t.shrinkage[i], std::max(t.log_z_hat[i], t.prediction[i]) + 1e-12);
    EXPECT_GE(t.shrinkage[i], std::min(t.log_z_hat[i], t.prediction[i]) - 1e-12);
    EXPECT_GE(t.fold[i], 0);
    EXPECT_LT(t.fold[i], 4);
  }
  // Stored as the mean of the squared out-of-fold residuals (rounding of 40 terms: 1e-12).
  EXPECT_NEAR(p.cv_mse, cv, 1e-12 * std::max(1.0, cv));
  // `disa inspect` reads it.
  RunResult r = disa("inspect " + work("g.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("disa-regressor version 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("MSE to exact log Z: raw / g / g out-of-fold / c"), std::string::npos) << r.output;
}

TEST_F(FitStage, SameInputsSameFileOnOneAndTwoRanks) {
  fit("first.h5", "");
  fit("second.h5", "");
  expect_same_file(work("first.h5"), work("second.h5"));
  // 2 ranks: 5 feature batches of 8 prompts split 3 + 2; a batch is the same set of
  // prompts on any number of ranks, so the features, and everything after, are bitwise
  // the same.
  fit("two_ranks.h5", "", 2);
  expect_same_file(work("first.h5"), work("two_ranks.h5"));
  EXPECT_EQ(disa::io::h5::File::open(work("two_ranks.h5")).attr_int("/", "world_size"), 2);
}

TEST_F(FitStage, RefusesDisagreeingInputs) {
  fs::remove(work("refused.h5"));
  RunResult r = disa("anchor fit --fit.anchors " + work("a.h5") + "," + work("beta1.h5") + " --fit.out " +
                     work("refused.h5") + kFit);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("option --fit.anchors: the partition files do not agree"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("beta: '" + work("a.h5") + "' has 1.5, '" + work("beta1.h5") + "' has 1"), std::string::npos)
      << r.output;
  // Another model than the one the anchors were computed with.
  r = disa("anchor fit --fit.anchors " + work("a.h5") + " --fit.out " + work("refused.h5") + kFit +
           " --fit.reference " + kFixture + "/strong");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("option --fit.reference: '" + kFixture + "/strong' has fingerprint"), std::string::npos)
      << r.output;
  r = disa("anchor fit --fit.anchors " + work("a.h5") + " --fit.out " + work("refused.h5") + kFit +
           " --fit.lambdas 1,0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("option --fit.lambdas"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(work("refused.h5")));
  EXPECT_FALSE(fs::exists(work("refused.h5.incomplete")));
}

}  // namespace
