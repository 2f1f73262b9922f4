// The frozen partition-function regressor g(x) that `disa train` reads from a regressor
// file (`disa anchor fit`; docs/method.md §2), through the file's reader only (train
// never includes anchor code). Opening checks that the file belongs to this run, as the
// partition file's provenance is checked (frozen_anchors.hpp), and refuses it otherwise,
// naming every mismatch: beta, the anchor it was fitted on (the logmeanexp anchor of the
// sequence residual), the reference-model and tokenizer fingerprints, the task, the
// response limit and the feature definition.
#pragma once

#include <string>
#include <vector>

#include "disa/io/regressor_file.hpp"
#include "disa/train/frozen_anchors.hpp"

namespace disa::train {

class FrozenRegressor {
 public:
  // Throws ConfigError listing every mismatch (IoError/DataError for unreadable files).
  static FrozenRegressor open(const std::string& path, const AnchorExpectations& expect);

  const std::string& path() const { return path_; }
  const io::regressor::Provenance& provenance() const { return regressor_.provenance; }
  double tau2() const { return regressor_.provenance.tau2; }
  // g(x) of a prompt's features (stage::prompt_features under the reference).
  double predict(const std::vector<double>& features) const { return regressor_.predict(features); }

 private:
  std::string path_;
  io::regressor::Regressor regressor_;
};

}  // namespace disa::train
