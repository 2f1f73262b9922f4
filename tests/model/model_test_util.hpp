// Shared helpers of the model tests: temporary directories, small configurations and
// fixture paths.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "disa/model/config.hpp"

namespace disa::test {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("disa_model_" + tag + "_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string model_fixture(const std::string& name) { return std::string(DISA_TEST_DATA_DIR) + "/model/" + name; }

inline model::ModelConfig fixture_config(const std::string& name) {
  std::ifstream in(model_fixture(name));
  return model::ModelConfig::from_json(nlohmann::json::parse(in), model_fixture(name));
}

// --- fp32 error models of the model tests -------------------------------------------------
constexpr double kU = 0x1p-24;  // fp32 unit roundoff

// Error model of fp32 logits computed along two paths (other batch size, composition,
// padding or compaction; KV-cache decode steps vs one prefill; another CPU kernel set):
// the paths sum the same products in other orders. An fp32 reduction of K terms summed in
// another order moves by ~sqrt(K) u of its scale (independent rounding errors); a logit is
// the end of ~4 such reductions in series per layer plus the head, whose perturbations are
// taken to add up: |dz| <= 4 (L + 1) sqrt(K) u max|z|, K the longest reduction (hidden or
// MLP width; the tiny preset: L = 2, K = 128, so 8.1e-6 max|z|). Seen: >= 4x below the
// bound with either kernel set (native, and MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default);
// a wrong position, mask, cache row or temperature moves logits by orders of magnitude more.
inline double fp32_logit_bound(const model::ModelConfig& c, double max_abs_logit) {
  const double K = double(std::max(c.hidden_size, c.intermediate_size));
  return 4.0 * double(c.num_hidden_layers + 1) * std::sqrt(K) * kU * max_abs_logit;
}

// A log-prob z_y / T - logsumexp(z / T) moves by at most 2 max|dz| / T (the distribution code
// applied to the logits is the same double-precision code on both paths).
inline double fp32_logprob_bound(const model::ModelConfig& c, double max_abs_logit, double temperature = 1.0) {
  return 2.0 * fp32_logit_bound(c, max_abs_logit) / temperature;
}

// Error of torch's fp32 log_softmax over V logits |z| <= max|z| against double: the
// subtraction of the max and the exp (relative ~2 max|z| u per term), the sum of V positive
// terms (~sqrt(V) u), the log and the two final roundings (<= u (2 max|z| + log V) each):
// <= (sqrt(V) + 4 (max|z| + log V)) u.
inline double fp32_log_softmax_error(double V, double max_abs_logit) {
  return (std::sqrt(V) + 4.0 * (max_abs_logit + std::log(V))) * kU;
}

}  // namespace disa::test
