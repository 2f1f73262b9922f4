// The CPU sampler: one row of fp32 logits at a time, in a few vectorised passes over
// that row and nothing of size [rows, vocab] (see include/disa/model/sampling.hpp,
// "The two implementations").
#include "sampling_paths.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "disa/core/error.hpp"

namespace disa::model::detail {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Tokens per block of the two-level inverse CDF: block sums first, then one block scanned.
constexpr int64_t kBlock = 1024;
// First number of candidates the nucleus search sorts; multiplied by 8 until the nucleus
// ends inside them (a nearly flat distribution ends with a sort of the whole row).
constexpr int64_t kFirstNucleusCandidates = 64;

// exp(v) for v <= 0 in fp32, in plain arithmetic the compiler vectorises: Cody-Waite
// reduction v = n ln 2 + r (|r| <= ln 2 / 2, ln 2 split in two constants), the classic
// degree-6 polynomial of exp(r) (Cephes' expf coefficients: relative error below 2 ulp
// on that range), times 2^n built from its bits. 0 below -87, where exp(v) < 1.7e-38
// (a term that small changes no fp32 or double sum of weights that includes the 1 at the
// maximum). No FMA or library call, so every x86-64 CPU gives the same bits.
inline float exp_nonpositive(float v) {
  const float c = v < -87.0f ? -87.0f : v;
  const float n = (c * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float e = p * scale;
  return v < -87.0f ? 0.0f : e;
}

// The two loops below are compiled twice, for AVX2 and for baseline x86-64, and picked at
// load time; without FMA contraction both give the same bits (lane-wise IEEE operations
// in the order the source gives).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DISA_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DISA_VECTOR_CLONES
#endif

// w[i] = exp((x[i] - m) s) where x[i] >= cut, else 0, for i in [begin, end).
DISA_VECTOR_CLONES void fill_block(const float* __restrict x, float* __restrict w, int64_t begin, int64_t end, float m,
                                   float s, float cut) {
  for (int64_t i = begin; i < end; ++i) {
    const float e = exp_nonpositive((x[i] - m) * s);
    w[i] = x[i] >= cut ? e : 0.0f;
  }
}

// The double sum of w[begin, end): eight interleaved accumulators (the adds pipeline and
// vectorise; the order is fixed), then combined pairwise.
DISA_VECTOR_CLONES double block_sum(const float* __restrict w, int64_t begin, int64_t end) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = begin;
  for (; i + 8 <= end; i += 8)
    for (int k = 0; k < 8; ++k) a[k] += w[i + k];
  for (; i < end; ++i) a[0] += w[i];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// Above this many values, top_values sorts a copy instead of keeping a heap.
constexpr int64_t kHeapSelectMax = 4096;

// The k largest of x[0, n), in decreasing order: one pass with a min-heap of k values (most
// values fail the first comparison), or a partial sort of a copy for large k.
void top_values(const float* x, int64_t n, int64_t k, std::vector<float>& out) {
  k = std::min(k, n);
  out.clear();
  if (k > kHeapSelectMax) {
    out.assign(x, x + n);
    std::partial_sort(out.begin(), out.begin() + k, out.end(), std::greater<float>());
    out.resize(static_cast<size_t>(k));
    return;
  }
  out.assign(x, x + k);
  std::make_heap(out.begin(), out.end(), std::greater<float>());
  for (int64_t i = k; i < n; ++i)
    if (x[i] > out.front()) {
      std::pop_heap(out.begin(), out.end(), std::greater<float>());
      out.back() = x[i];
      std::push_heap(out.begin(), out.end(), std::greater<float>());
    }
  std::sort_heap(out.begin(), out.end(), std::greater<float>());
}

// One row's sampling distribution: q_i = w_i / total with w_i = exp((x_i - max) / T) on
// the kept set {i < limit, x_i >= cut} and 0 elsewhere. The weights are fp32 (relative
// error about (|x_i - max| / T + 1) 2^-24, below that of the fp32 logits themselves); every
// sum of them, the normaliser and the drawn token's log q are double.
class RowDistribution {
 public:
  RowDistribution(const SamplingParams& p, int64_t vocab)
      : p_(p),
        limit_(p.vocab_limit > 0 ? std::min(p.vocab_limit, vocab) : vocab),
        inv_t_(p.temperature > 0 ? 1.0 / p.temperature : 0.0),
        weights_(torch::empty({limit_}, torch::kFloat32)),
        block_sums_(torch::empty({(limit_ + kBlock - 1) / kBlock}, torch::kDouble)) {}

  // Sets up the distribution of the row x (length >= limit). Greedy rows only find the argmax.
  void prepare(const float* x, int64_t row) {
    torch::Tensor xr = torch::from_blob(const_cast<float*>(x), {limit_}, torch::kFloat32);
    if (p_.temperature == 0.0) {
      greedy_ = xr.argmax().item<int64_t>();
      DISA_CHECK(std::isfinite(x[greedy_]), ModelError, "sampling: row {} of the logits has no finite maximum", row);
      return;
    }
    max_ = xr.max().item<float>();
    DISA_CHECK(std::isfinite(max_), ModelError, "sampling: row {} of the logits has a non-finite maximum ({})", row,
               max_);
    cut_ = kNegInf;
    if (p_.top_k > 0 && p_.top_k < limit_) {
      top_values(x, limit_, p_.top_k, candidates_);
      cut_ = candidates_.back();
    }
    fill_weights(xr);
    if (p_.top_p < 1.0) {
      cut_ = std::max(cut_, nucleus_cut(xr));
      fill_weights(xr);
    }
    DISA_CHECK(total_ > 0 && std::isfinite(total_), ModelError,
               "sampling: row {} of the logits gives a normaliser of {} (non-finite logits?)", row, total_);
    log_total_ = std::log(total_);
  }

  // log q of token t (-inf when removed by the vocabulary limit, top-k or top-p).
  double log_q(const float* x, int64_t t) const {
    if (p_.temperature == 0.0) return t == greedy_ ? 0.0 : -std::numeric_limits<double>::infinity();
    if (t < 0 || t >= limit_ || !(x[t] >= cut_)) return -std::numeric_limits<double>::infinity();
    return (static_cast<double>(x[t]) - static_cast<double>(max_)) * inv_t_ - log_total_;
  }

  // The first token whose cumulative weight (in vocabulary order) exceeds u * total; never
  // a token of weight 0. Cumulative weights: the sums of the whole blocks before the
  // token's block, in order, then the weights of its block, in order.
  int64_t draw(double u) const {
    if (p_.temperature == 0.0) return greedy_;
    const float* w = weights_.data_ptr<float>();
    const double* bs = block_sums_.data_ptr<double>();
    const double target = u * total_;
    double c = 0.0;
    const int64_t blocks = block_sums_.size(0);
    for (int64_t b = 0; b < blocks; ++b) {
      if (c + bs[b] > target) {
        double ci = c;
        const int64_t end = std::min(limit_, (b + 1) * kBlock);
        for (int64_t i = b * kBlock; i < end; ++i) {
          ci += w[i];
          if (w[i] > 0 && ci > target) return i;
        }
      }
      c += bs[b];
    }
    // Rounding put the target on the total: the last token of positive weight.
    for (int64_t i = limit_ - 1; i >= 0; --i)
      if (w[i] > 0) return i;
    return 0;  // unreachable: total > 0
  }

 private:
  // w_i = exp((x_i - max) / T) for kept tokens, 0 elsewhere, and the double block sums:
  // one fused pass per block.
  void fill_weights(const torch::Tensor& xr) {
    const float* x = xr.data_ptr<float>();
    float* w = weights_.data_ptr<float>();
    double* bs = block_sums_.data_ptr<double>();
    const float m = max_, s = static_cast<float>(inv_t_), cut = cut_;
    total_ = 0.0;
    for (int64_t b = 0; b < block_sums_.size(0); ++b) {
      const int64_t begin = b * kBlock, end = std::min(limit_, begin + kBlock);
      fill_block(x, w, begin, end, m, s, cut);
      bs[b] = block_sum(w, begin, end);
      total_ += bs[b];
    }
  }

  // The smallest logit kept by top-p: in decreasing probability, tokens are kept while the
  // probability before them is < top_p (the first always); ties with the last kept stay.
  float nucleus_cut(const torch::Tensor& xr) {
    const int64_t kept_bound = (p_.top_k > 0 && p_.top_k < limit_) ? p_.top_k : limit_;
    for (int64_t m = std::min(kFirstNucleusCandidates, limit_);; m = std::min(limit_, m * 8)) {
      top_values(xr.data_ptr<float>(), limit_, m, candidates_);
      const float* vs = candidates_.data();
      double before = 0.0;
      int64_t kept = 0;
      bool ended = false;
      for (int64_t j = 0; j < m; ++j) {
        if (j >= kept_bound || vs[j] < cut_ || (j > 0 && !(before < p_.top_p))) {
          ended = true;
          break;
        }
        before += std::exp((static_cast<double>(vs[j]) - static_cast<double>(max_)) * inv_t_) / total_;
        kept = j + 1;
      }
      if (ended || m == limit_) return vs[kept - 1];
    }
  }

  const SamplingParams& p_;
  int64_t limit_;
  double inv_t_;
  torch::Tensor weights_, block_sums_;
  std::vector<float> candidates_;
  float max_ = 0, cut_ = kNegInf;
  double total_ = 0, log_total_ = 0;
  int64_t greedy_ = 0;
};

// log softmax(x)[t] over the whole row, in double (the untempered model log-probability).
// The weights are fp32 as in RowDistribution, their sum double.
double model_log_prob(const float* x, int64_t vocab, int64_t t, torch::Tensor& scratch) {
  torch::Tensor xr = torch::from_blob(const_cast<float*>(x), {vocab}, torch::kFloat32);
  const float m = xr.max().item<float>();
  torch::sub_out(scratch, xr, m);
  const double total = scratch.exp_().sum(0, false, torch::kDouble).item<double>();
  return static_cast<double>(x[t]) - static_cast<double>(m) - std::log(total);
}

torch::Tensor contiguous_cpu_logits(const torch::Tensor& logits) {
  DISA_CHECK(logits.dim() == 2, ModelError, "the sampler needs [N, V] logits");
  return logits.to(torch::kFloat32).contiguous();
}

}  // namespace

TokenDraws draw_tokens_by_rows(const torch::Tensor& logits, const std::vector<double>& u, const SamplingParams& p,
                               bool model_logprobs) {
  torch::Tensor x = contiguous_cpu_logits(logits);
  const int64_t N = x.size(0), V = x.size(1);
  DISA_CHECK(static_cast<int64_t>(u.size()) == N, ModelError,
             "the sampler needs one uniform per row ({} rows, {} uniforms)", N, u.size());
  TokenDraws out;
  out.tokens = torch::empty({N}, torch::kLong);
  out.sampler_logprobs = torch::empty({N}, torch::kDouble);
  const bool same = q_is_the_model(p, V);
  if (model_logprobs && !same) out.model_logprobs = torch::empty({N}, torch::kDouble);
  int64_t* tok = out.tokens.data_ptr<int64_t>();
  double* lq = out.sampler_logprobs.data_ptr<double>();
  double* lp = out.model_logprobs.defined() ? out.model_logprobs.data_ptr<double>() : nullptr;
  const float* xs = x.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    RowDistribution row(p, V);
    torch::Tensor scratch = lp ? torch::empty({V}, torch::kFloat32) : torch::Tensor();
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = xs + r * V;
      row.prepare(xr, r);
      tok[r] = row.draw(u[r]);
      lq[r] = row.log_q(xr, tok[r]);
      if (lp) lp[r] = model_log_prob(xr, V, tok[r], scratch);
    }
  });
  if (model_logprobs && same) out.model_logprobs = out.sampler_logprobs;
  return out;
}

torch::Tensor token_log_probs_by_rows(const torch::Tensor& logits, const torch::Tensor& targets,
                                      const SamplingParams& p) {
  torch::Tensor x = contiguous_cpu_logits(logits);
  const int64_t N = x.size(0), V = x.size(1);
  torch::Tensor t = targets.to(torch::kCPU, torch::kLong).contiguous();
  DISA_CHECK(t.dim() == 1 && t.size(0) == N, ModelError, "token log-probs need one target per row");
  torch::Tensor out = torch::empty({N}, torch::kDouble);
  double* lq = out.data_ptr<double>();
  const int64_t* ts = t.data_ptr<int64_t>();
  const float* xs = x.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    RowDistribution row(p, V);
    for (int64_t r = begin; r < end; ++r) {
      DISA_CHECK(ts[r] >= 0 && ts[r] < V, ModelError, "token log-probs: target {} outside [0, {})", ts[r], V);
      row.prepare(xs + r * V, r);
      lq[r] = row.log_q(xs + r * V, ts[r]);
    }
  });
  return out;
}

}  // namespace disa::model::detail
