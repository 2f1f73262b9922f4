// The partition file: the one HDF5 file `disa anchor` writes and `disa train` / `disa
// eval` read (stages talk only through files). This header is its schema — the names of
// every dataset and attribute — and its reader. docs/formats.md describes each dataset.
//
//   /                      attrs: format="disa-partition", format_version, status,
//                          beta, samples_per_prompt, anchors, proposal, proposal_kind,
//                          proposal_truncated, mixture_alpha, temperature, top_k, top_p,
//                          max_new_tokens, reference_model, reference_fingerprint,
//                          tokenizer_fingerprint, proposal_model, proposal_fingerprint,
//                          task, dataset_source, dataset_fingerprint, seed, batch_size,
//                          world_size, code_version, config (resolved INI), created
//   /prompts/{id, text}    strings [P];  /prompts/tokens  ragged int32 [P]
//   /anchors/log_z_hat                 [P] float64, the logmeanexp anchor (s_i = 1)
//   /anchors/log_z_length_normalized   [P] float64, the root-found anchor (s_i = 1/|y|)
//   /anchors/log_z_exact               [P] float64, exact log Z or NaN
//   /diagnostics/<name>                [P] per-prompt diagnostics (see kDiagnostics)
//   /trajectories/<name>               [T] per-trajectory columns (see below), rows in
//                                      the order batches finished
//   /trajectories/tokens               ragged int32 [T]
//   /trajectories/batches              [B, 3] int64 (batch id, first row, rows): the
//                                      index from work units to rows (unit u = prompt *
//                                      samples_per_prompt + sample lies in batch
//                                      u / batch_size, at row first_row + u - batch * batch_size)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "disa/io/hdf5.hpp"

namespace disa::partition {

inline constexpr const char* kFormat = "disa-partition";
inline constexpr int64_t kFormatVersion = 1;

// The two anchors and the residual form each belongs to (docs/method.md §3).
inline constexpr const char* kSequenceAnchor = "logmeanexp";                // s_i = 1
inline constexpr const char* kLengthNormalizedAnchor = "length-normalized";  // s_i = 1/|y|
// The dataset holding the anchor for a residual form; DataError for an unknown name.
std::string anchor_dataset(const std::string& residual);

// Per-prompt diagnostics, in /diagnostics/<name>, all [P].
inline const std::vector<std::string>& diagnostic_names() {
  static const std::vector<std::string> names{
      "n", "n_correct", "pass_rate", "ess", "ess_fraction", "max_normalized_weight", "k_hat",
      "delta_se", "bootstrap_sd", "relative_variance", "flags"};
  return names;
}
// Bits of /diagnostics/flags.
enum Flag : int64_t {
  kAllWrong = 1,         // no sample was correct: the anchor comes from reward-0 weights
  kHeavyTail = 2,        // k_hat > 0.7: the estimate is not trustworthy
  kTruncatedProposal = 4,  // top-k/top-p proposal: the anchor is biased low (support)
  kNoExact = 8,          // no exact log Z (task does not list its solutions)
};

// Codes of /trajectories/finish_reason and /trajectories/component.
enum FinishCode : int8_t { kFinishStop = 0, kFinishLength = 1 };
enum ComponentCode : int8_t { kComponentProposal = 0, kComponentReference = 1, kComponentStrong = 2 };

// The provenance stored as root attributes.
struct Provenance {
  double beta = 0;
  int64_t samples_per_prompt = 0;
  std::string anchors;  // "logmeanexp,length-normalized"
  std::string proposal, proposal_kind;
  bool proposal_truncated = false;
  double mixture_alpha = 0;
  std::string reference_model, reference_fingerprint, tokenizer_fingerprint;
  std::string proposal_model, proposal_fingerprint;
  std::string task, dataset_source, dataset_fingerprint;
  int64_t seed = 0, batch_size = 0, world_size = 0, max_new_tokens = 0;
  std::string code_version, config;
};

// One block of trajectory rows (columns of equal length).
struct Trajectories {
  std::vector<int64_t> prompt_index, sample_index;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<int32_t> length;
  std::vector<int8_t> finish_reason, component, reason;
  std::vector<double> reward, log_q, log_pi_ref, log_q_strong, log_weight;
  size_t size() const { return prompt_index.size(); }
};

// The names stored in /trajectories/reason's "names" attribute, by code.
std::vector<std::string> reason_names(const h5::File& file);

class Reader {
 public:
  // Opens a finished partition file (format and version checked).
  static Reader open(const std::string& path);

  const std::string& path() const { return path_; }
  const Provenance& provenance() const { return provenance_; }
  int64_t num_prompts() const { return int64_t(prompt_ids_.size()); }
  const std::vector<std::string>& prompt_ids() const { return prompt_ids_; }
  // Index of a prompt id, or nullopt.
  std::optional<int64_t> prompt_index(const std::string& id) const;
  std::vector<std::vector<int32_t>> prompt_tokens() const;
  // The anchors for a residual form (kSequenceAnchor or kLengthNormalizedAnchor).
  std::vector<double> anchors(const std::string& residual) const;
  std::vector<double> exact_log_z() const;
  std::vector<double> diagnostic(const std::string& name) const;

  int64_t num_trajectories() const;
  // Rows [first, first + count) in file order.
  Trajectories read_trajectories(int64_t first, int64_t count) const;
  // The file rows of prompt `p`'s samples 0..N-1 (via /trajectories/batches).
  std::vector<int64_t> rows_of_prompt(int64_t p) const;

  const h5::File& file() const { return file_; }

 private:
  Reader() = default;
  std::string path_;
  h5::File file_;
  Provenance provenance_;
  std::vector<std::string> prompt_ids_;
  std::vector<int64_t> batch_first_row_;  // by batch id (-1 if absent)
};

// Reads the provenance attributes of an open partition file.
Provenance read_provenance(const h5::File& file);

// Reads rows [first, first + count) of the trajectory columns from any partition file
// (also an incomplete one being resumed).
Trajectories read_trajectory_rows(const h5::File& file, int64_t first, int64_t count);

}  // namespace disa::partition
