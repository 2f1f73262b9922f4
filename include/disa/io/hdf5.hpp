// The HDF5 layer every stage writes its output through: RAII handles, files opened
// with the MPI-IO driver, collectively created datasets, each rank writing its
// contiguous slab of rows (offsets from MPI_Exscan) with collective transfers (a rank
// with zero rows included), ragged arrays as flat values + offsets, fixed-length
// strings, extendible (appendable) chunked datasets with optional deflate, string and
// numeric attributes, `format`/`format_version` on every file with a clear error on
// mismatch, and atomic creation: a file is written as NAME.incomplete and renamed to
// NAME by commit(), so a killed job never leaves a file that looks complete.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "disa/core/error.hpp"

namespace disa::io::h5 {

// Suffix of a file that is still being written (or whose writer died).
inline constexpr const char* kIncompleteSuffix = ".incomplete";

// HDF5 library version "1.10.8" and whether it was built with MPI-IO.
std::string library_version();
bool library_is_parallel();

// Owns an HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

class File {
 public:
  // Collective over `comm`: creates FINAL.incomplete (truncating any old one) with the
  // MPI-IO driver and writes the `format`, `format_version` and `status` attributes.
  static File create(const std::string& final_path, MPI_Comm comm, const std::string& format, int64_t format_version);
  // Collective: reopens FINAL.incomplete read-write (resuming an interrupted job);
  // checks its format and version.
  static File reopen_incomplete(const std::string& final_path, MPI_Comm comm, const std::string& format,
                                int64_t format_version);
  // Opens a finished file read-only in this process alone. With `expected_format`,
  // refuses a file of another format or version with a message naming both.
  static File open(const std::string& path, const std::string& expected_format = "", int64_t expected_version = -1);
  // Opens a finished file read-write in this process alone (annotating a file after the
  // fact; tests that alter a file to check a refusal).
  static File open_for_update(const std::string& path);

  // A closed file (placeholder before open/create).
  File() = default;
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;
  ~File();

  // Collective: marks the file complete, closes it and renames it to the final path.
  void commit();
  // Closes without committing: the file stays NAME.incomplete.
  void close();
  // Collective in parallel mode: writes all buffered data and metadata to disk, so that
  // a job killed afterwards leaves a consistent (resumable) .incomplete file.
  void flush();
  bool is_open() const { return bool(file_); }

  const std::string& path() const { return path_; }
  const std::string& final_path() const { return final_path_; }
  bool is_parallel() const { return comm_ != MPI_COMM_NULL; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // --- structure --------------------------------------------------------------------
  // Creates a group (and missing parents). Collective in parallel mode.
  void create_group(const std::string& path);
  bool exists(const std::string& path) const;
  // Dimensions of a dataset.
  std::vector<int64_t> shape(const std::string& dataset) const;
  // Names of a group's members, sorted.
  std::vector<std::string> list(const std::string& group) const;

  // --- attributes (collective in parallel mode: same value on every rank) ------------
  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, const char* value) {
    set_attr(object, name, std::string(value));
  }
  void set_attr(const std::string& object, const std::string& name, double value);
  // The attribute "names" of a coded column (finish reason, reward reason, ...): the
  // codes' names by code, comma-separated ("stop,length"), one spelling in every file.
  void set_code_names(const std::string& object, const std::vector<std::string>& names_by_code);
  std::vector<std::string> code_names(const std::string& object) const;
  void set_attr(const std::string& object, const std::string& name, int64_t value);
  void set_attr(const std::string& object, const std::string& name, const std::vector<double>& value);
  void set_attr(const std::string& object, const std::string& name, const std::vector<int64_t>& value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;
  int64_t attr_int(const std::string& object, const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& object, const std::string& name) const;
  std::vector<int64_t> attr_ints(const std::string& object, const std::string& name) const;
  // Every attribute of an object as text (for `disa inspect`).
  std::vector<std::pair<std::string, std::string>> attrs_as_text(const std::string& object) const;

  // --- collective slab writes ---------------------------------------------------------
  // Every rank passes `rows` rows of `cols` values (rows may be 0); the dataset holds
  // all ranks' rows in rank order, shape (total,) for cols == 1 else (total, cols).
  // Returns the global index of this rank's first row. deflate: 0 = none, 1..9.
  template <class T>
  int64_t write_rows(const std::string& path, const T* data, int64_t rows, int64_t cols = 1, int deflate = 0);
  template <class T>
  int64_t write_rows(const std::string& path, const std::vector<T>& data, int64_t cols = 1, int deflate = 0) {
    return write_rows(path, data.data(), int64_t(data.size()) / cols, cols, deflate);
  }
  // Data that only rank 0 holds (metadata, summaries): collective call, rank 0 writes.
  template <class T>
  void write_root(const std::string& path, const std::vector<T>& data, int64_t cols = 1) {
    int64_t rows = rank_ == 0 ? int64_t(data.size()) / cols : 0;
    write_rows(path, data.data(), rows, cols);
  }
  // Ragged rows: PATH/values (flat) and PATH/offsets (total + 1 entries, global).
  template <class T>
  int64_t write_ragged(const std::string& path, const std::vector<std::vector<T>>& rows, int deflate = 0);
  // Fixed-length strings (width = longest string over all ranks), in rank order.
  int64_t write_strings(const std::string& path, const std::vector<std::string>& rows);

  // --- appendable datasets ------------------------------------------------------------
  // Collective: an empty extendible dataset of shape (0,) or (0, cols), chunked by
  // `chunk_rows`, optionally deflated.
  template <class T>
  void create_appendable(const std::string& path, int64_t cols = 1, int64_t chunk_rows = 4096, int deflate = 0);
  // Collective: extends by the rows of all ranks and writes each rank's slab. Returns
  // the global index of this rank's first row.
  template <class T>
  int64_t append_rows(const std::string& path, const T* data, int64_t rows, int64_t cols = 1);
  template <class T>
  int64_t append_rows(const std::string& path, const std::vector<T>& data, int64_t cols = 1) {
    return append_rows(path, data.data(), int64_t(data.size()) / cols, cols);
  }
  // Appendable ragged: PATH/values and PATH/offsets (starts with one 0).
  template <class T>
  void create_appendable_ragged(const std::string& path, int64_t chunk_rows = 4096, int deflate = 0);
  template <class T>
  int64_t append_ragged(const std::string& path, const std::vector<std::vector<T>>& rows);
  // Appendable fixed-length strings of `width` bytes (a NUL included): a string that
  // does not fit is an IoError naming the dataset. Collective, like append_rows.
  void create_appendable_strings(const std::string& path, int64_t width, int64_t chunk_rows = 1024);
  int64_t append_strings(const std::string& path, const std::vector<std::string>& rows);
  // Collective: sets the number of rows (shrinking truncates; used by resume).
  void resize_rows(const std::string& path, int64_t rows);

  // --- reads (independent, any rank) --------------------------------------------------
  template <class T>
  std::vector<T> read(const std::string& path) const;
  template <class T>
  std::vector<T> read_rows(const std::string& path, int64_t first, int64_t count) const;
  template <class T>
  std::vector<std::vector<T>> read_ragged(const std::string& path) const;
  template <class T>
  std::vector<std::vector<T>> read_ragged_rows(const std::string& path, int64_t first, int64_t count) const;
  std::vector<std::string> read_strings(const std::string& path) const;

 private:
  static File open_existing(const std::string& path, unsigned flags);
  void check_format(const std::string& format, int64_t version) const;
  hid_t transfer_plist() const { return dxpl_.get(); }
  Handle open_dataset(const std::string& path) const;
  void write_slab(hid_t dset, hid_t mem_type, const void* data, int64_t first, int64_t rows, int64_t cols);
  void read_slab(hid_t dset, hid_t mem_type, void* data, int64_t first, int64_t rows, int64_t cols) const;

  Handle file_;
  Handle dxpl_;  // collective transfers in parallel mode, default otherwise
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::string path_, final_path_;
  bool committed_ = false;
};

}  // namespace disa::io::h5
