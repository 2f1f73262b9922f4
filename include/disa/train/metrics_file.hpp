// train.h5: the per-step metrics of `disa train` (docs/method.md §5), written by rank 0
// alone (a serial file over MPI_COMM_SELF). /metrics/step and /metrics/<name> are
// appendable float64 columns indexed by the row, NaN where a metric was not computed
// that step; /checkpoints/step lists the checkpoints written. The file is
// train.h5.incomplete until training finishes; a resumed run reopens it and truncates
// the rows after the checkpoint it resumes from. Read with h5py/pandas:
//   pd.DataFrame({k: f["metrics"][k][:] for k in f["metrics"]})
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "disa/io/hdf5.hpp"

namespace disa::train {

inline constexpr const char* kTrainFormat = "disa-train";
inline constexpr int64_t kTrainFormatVersion = 1;

class MetricsFile {
 public:
  MetricsFile() = default;
  // Creates PATH.incomplete with the given metric columns (plus "step").
  static MetricsFile create(const std::string& path, const std::vector<std::string>& names);
  // Reopens PATH.incomplete and keeps only its first `rows` rows.
  static MetricsFile resume(const std::string& path, int64_t rows);

  io::h5::File& file() { return file_; }
  int64_t rows() const { return rows_; }
  // One row: every column gets its value from `values` or NaN.
  void append(int64_t step, const std::map<std::string, double>& values);
  void record_checkpoint(int64_t step);
  void flush() { file_.flush(); }
  void commit() { file_.commit(); }

 private:
  io::h5::File file_;
  std::vector<std::string> names_;
  int64_t rows_ = 0;
};

}  // namespace disa::train
