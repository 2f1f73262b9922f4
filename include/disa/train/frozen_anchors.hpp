// The frozen anchors c(x) that `disa train` reads from a partition file (docs/method.md
// §3), through the partition file's reader only (train never includes anchor
// code). Opening checks that the file belongs to this run and refuses it otherwise,
// naming every mismatch: beta, the anchor for the chosen residual form (estimator), the
// reference-model and tokenizer fingerprints and the task. Each training prompt's
// anchor is looked up by prompt id, and the prompt's tokens in the file must equal the
// run's encoding of it (the same prompt, not just the same id).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "disa/io/partition_file.hpp"

namespace disa::train {

struct AnchorExpectations {
  // The run's beta; nullopt for objectives that do not depend on it (not checked).
  std::optional<double> beta = 1.0;
  std::string residual = io::partition::kSequenceAnchor;  // which anchor dataset
  std::string reference_fingerprint;
  std::string tokenizer_fingerprint;
  std::string task;
  // The run's generation limit where the objective's target depends on it (DISA: log Z
  // is over responses cut at this limit); nullopt: not checked.
  std::optional<int64_t> max_new_tokens;
  // With max_new_tokens: the run's stops (stage::response_stops of its rollouts), which
  // the file's must equal; a file that predates their record is accepted.
  std::optional<io::partition::ResponseStops> stops;
  // Where these values came from, for the messages ("option --disa.beta").
  std::string beta_option = "disa.beta";
  std::string reference_option = "train.reference";
};

class FrozenAnchors {
 public:
  // Throws ConfigError listing every mismatch (and IoError/DataError for unreadable files).
  static FrozenAnchors open(const std::string& path, const AnchorExpectations& expect);

  const std::string& path() const { return reader_.path(); }
  const io::partition::Reader& reader() const { return reader_; }
  const io::partition::Provenance& provenance() const { return reader_.provenance(); }

  // Index of a prompt id in the file, or nullopt.
  std::optional<int64_t> index_of(const std::string& prompt_id) const;
  // The anchor of prompt index p (the residual's anchor), NaN when the file has none.
  double anchor(int64_t p) const { return anchor_[size_t(p)]; }
  double exact(int64_t p) const { return exact_[size_t(p)]; }
  // The standard error of anchor p (the file's /diagnostics/delta_se, sqrt(Vhat / N)).
  double standard_error(int64_t p) const { return standard_error_[size_t(p)]; }
  // DataError naming the prompt when the file's tokens for `prompt_id` differ.
  void check_prompt(int64_t p, const std::string& prompt_id, const std::vector<int32_t>& tokens) const;

 private:
  explicit FrozenAnchors(io::partition::Reader reader) : reader_(std::move(reader)) {}
  io::partition::Reader reader_;
  std::vector<double> anchor_, exact_, standard_error_;
  std::vector<std::vector<int32_t>> prompt_tokens_;
};

}  // namespace disa::train
