// train.h5 metrics columns (include/disa/train/metrics_file.hpp).
#include "disa/train/metrics_file.hpp"

#include <cmath>
#include <limits>

namespace disa::train {

MetricsFile MetricsFile::create(const std::string& path, const std::vector<std::string>& names) {
  MetricsFile m;
  m.file_ = io::h5::File::create(path, MPI_COMM_SELF, kTrainFormat, kTrainFormatVersion);
  m.names_ = names;
  m.file_.create_group("/metrics");
  m.file_.create_appendable<int64_t>("/metrics/step", 1, 1024);
  for (const auto& n : names) m.file_.create_appendable<double>("/metrics/" + n, 1, 1024);
  m.file_.create_group("/checkpoints");
  m.file_.create_appendable<int64_t>("/checkpoints/step", 1, 64);
  return m;
}

MetricsFile MetricsFile::resume(const std::string& path, int64_t rows) {
  MetricsFile m;
  m.file_ = io::h5::File::reopen_incomplete(path, MPI_COMM_SELF, kTrainFormat, kTrainFormatVersion);
  for (const auto& n : m.file_.list("/metrics"))
    if (n != "step") m.names_.push_back(n);
  const int64_t have = m.file_.shape("/metrics/step").at(0);
  DISA_CHECK(have >= rows, DataError, "'{}' has {} metric rows but the checkpoint needs {}", m.file_.path(), have,
             rows);
  m.file_.resize_rows("/metrics/step", rows);
  for (const auto& n : m.names_) m.file_.resize_rows("/metrics/" + n, rows);
  m.rows_ = rows;
  // Checkpoints listed after the resumed one are gone (or will be rewritten).
  auto steps = m.file_.read<int64_t>("/checkpoints/step");
  int64_t keep = 0;
  const int64_t last_step = rows > 0 ? m.file_.read_rows<int64_t>("/metrics/step", rows - 1, 1)[0] : -1;
  for (int64_t s : steps)
    if (s <= last_step + 1) ++keep;
  m.file_.resize_rows("/checkpoints/step", keep);
  return m;
}

void MetricsFile::append(int64_t step, const std::map<std::string, double>& values) {
  file_.append_rows<int64_t>("/metrics/step", &step, 1);
  for (const auto& n : names_) {
    auto it = values.find(n);
    double v = it == values.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
    file_.append_rows<double>("/metrics/" + n, &v, 1);
  }
  ++rows_;
}

void MetricsFile::record_checkpoint(int64_t step) { file_.append_rows<int64_t>("/checkpoints/step", &step, 1); }

}  // namespace disa::train
