// Implementation of the parallel HDF5 layer (see include/disa/io/hdf5.hpp).
#include "disa/io/hdf5.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

namespace disa::io::h5 {
namespace {

// Collects the HDF5 error stack into one line.
herr_t walk_error(unsigned n, const H5E_error2_t* err, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (n < 3) {  // the innermost few entries carry the useful text
    if (!s->empty()) *s += "; ";
    *s += fmt::format("{}(): {}", err->func_name ? err->func_name : "?", err->desc ? err->desc : "?");
  }
  return 0;
}

[[noreturn]] void throw_h5(const char* call, const char* file, int line, const std::string& context) {
  std::string stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_error, &stack);
  H5Eclear2(H5E_DEFAULT);
  throw core::IoError(fmt::format("{}: HDF5 call {} failed at {}: {}", context, call, core::source_location(file, line),
                                  stack.empty() ? "no HDF5 message" : stack));
}

// HDF5's automatic error printing is replaced by our messages.
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const SilenceHdf5 g_silence;

}  // namespace
}  // namespace disa::io::h5

// Checks an HDF5 call returning herr_t/hid_t (negative on failure); `context` names
// the file/dataset involved.
#define DISA_H5_CHECK(call, context)                                                   \
  ([&]() {                                                                             \
    auto disa_h5_rc_ = (call);                                                         \
    if (disa_h5_rc_ < 0) ::disa::io::h5::throw_h5(#call, __FILE__, __LINE__, context); \
    return disa_h5_rc_;                                                                \
  }())

namespace disa::io::h5 {
namespace {

// The HDF5 memory type of T (the types the file layer instantiates).
template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  if constexpr (std::is_same_v<T, int8_t>) return H5T_NATIVE_INT8;
  if constexpr (std::is_same_v<T, uint8_t>) return H5T_NATIVE_UINT8;
  if constexpr (std::is_same_v<T, int32_t>) return H5T_NATIVE_INT32;
  if constexpr (std::is_same_v<T, int64_t>) return H5T_NATIVE_INT64;
  if constexpr (std::is_same_v<T, uint64_t>) return H5T_NATIVE_UINT64;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int8_t> ||
                    std::is_same_v<T, uint8_t> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                    std::is_same_v<T, uint64_t>,
                "native_type: no HDF5 type for this element type");
}

std::vector<hsize_t> dims_of(int64_t rows, int64_t cols) {
  if (cols == 1) return {hsize_t(rows)};
  return {hsize_t(rows), hsize_t(cols)};
}

Handle link_create_plist() {
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  return lcpl;
}

Handle string_type(size_t width) {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), std::max<size_t>(width, 1));
  H5Tset_strpad(t.get(), H5T_STR_NULLTERM);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

}  // namespace

std::string library_version() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return fmt::format("{}.{}.{}", maj, min, rel);
}

bool library_is_parallel() {
#ifdef H5_HAVE_PARALLEL
  return true;
#else
  return false;
#endif
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

// ------------------------------------------------------------------------- open/close

File File::create(const std::string& final_path, MPI_Comm comm, const std::string& format, int64_t format_version) {
  File f;
  f.final_path_ = final_path;
  f.path_ = final_path + kIncompleteSuffix;
  f.comm_ = comm;
  MPI_Comm_rank(comm, &f.rank_);
  MPI_Comm_size(comm, &f.size_);
  auto parent = std::filesystem::path(final_path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    std::error_code ec;
    if (f.rank_ == 0) std::filesystem::create_directories(parent, ec);
    MPI_Barrier(comm);
    if (!std::filesystem::is_directory(parent))
      DISA_THROW(IoError, "cannot create directory '{}' for output file '{}'", parent.string(), final_path);
  }
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  DISA_H5_CHECK(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), final_path);
  DISA_H5_CHECK(H5Pset_coll_metadata_write(fapl.get(), true), final_path);
  hid_t id = H5Fcreate(f.path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    DISA_THROW(IoError, "cannot create HDF5 file '{}' (directory missing or not writable?)", f.path_);
  }
  f.file_ = Handle(id, H5Fclose);
  f.dxpl_ = Handle(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  DISA_H5_CHECK(H5Pset_dxpl_mpio(f.dxpl_.get(), H5FD_MPIO_COLLECTIVE), final_path);
  f.set_attr("/", "format", format);
  f.set_attr("/", "format_version", format_version);
  f.set_attr("/", "status", std::string("incomplete"));
  return f;
}

File File::reopen_incomplete(const std::string& final_path, MPI_Comm comm, const std::string& format,
                             int64_t format_version) {
  File f;
  f.final_path_ = final_path;
  f.path_ = final_path + kIncompleteSuffix;
  f.comm_ = comm;
  MPI_Comm_rank(comm, &f.rank_);
  MPI_Comm_size(comm, &f.size_);
  if (!std::filesystem::exists(f.path_)) DISA_THROW(IoError, "cannot resume: '{}' does not exist", f.path_);
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  DISA_H5_CHECK(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), final_path);
  DISA_H5_CHECK(H5Pset_coll_metadata_write(fapl.get(), true), final_path);
  hid_t id = H5Fopen(f.path_.c_str(), H5F_ACC_RDWR, fapl.get());
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    DISA_THROW(IoError, "cannot resume: '{}' is not a readable HDF5 file", f.path_);
  }
  f.file_ = Handle(id, H5Fclose);
  f.dxpl_ = Handle(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  DISA_H5_CHECK(H5Pset_dxpl_mpio(f.dxpl_.get(), H5FD_MPIO_COLLECTIVE), final_path);
  f.check_format(format, format_version);
  return f;
}

File File::open(const std::string& path, const std::string& expected_format, int64_t expected_version) {
  File f = open_existing(path, H5F_ACC_RDONLY);
  if (!expected_format.empty()) f.check_format(expected_format, expected_version);
  return f;
}

File File::open_for_update(const std::string& path) { return open_existing(path, H5F_ACC_RDWR); }

File File::open_existing(const std::string& path, unsigned flags) {
  File f;
  f.final_path_ = f.path_ = path;
  if (!std::filesystem::exists(path)) {
    if (std::filesystem::exists(path + kIncompleteSuffix))
      DISA_THROW(IoError,
                 "'{}' does not exist, but '{}{}' does: the job writing it did not "
                 "finish (rerun it, with --resume where the command supports it)",
                 path, path, kIncompleteSuffix);
    DISA_THROW(IoError, "'{}' does not exist", path);
  }
  hid_t id = H5Fopen(path.c_str(), flags, H5P_DEFAULT);
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    DISA_THROW(IoError, "'{}' is not an HDF5 file (or is corrupt{})", path,
               flags == H5F_ACC_RDWR ? ", or not writable" : "");
  }
  f.file_ = Handle(id, H5Fclose);
  f.dxpl_ = Handle(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  return f;
}

void File::check_format(const std::string& format, int64_t version) const {
  if (!has_attr("/", "format") || !has_attr("/", "format_version"))
    DISA_THROW(IoError, "'{}' has no 'format'/'format_version' attributes: not a file written by disa", path_);
  std::string got = attr_string("/", "format");
  int64_t got_version = attr_int("/", "format_version");
  if (got != format) DISA_THROW(IoError, "'{}' is a '{}' file, expected a '{}' file", path_, got, format);
  if (version >= 0 && got_version != version)
    DISA_THROW(IoError,
               "'{}' has format '{}' version {}, but this disa reads version {} "
               "(rewrite the file with this version of disa)",
               path_, got, got_version, version);
  if (path_ == final_path_ && has_attr("/", "status") && attr_string("/", "status") != "complete")
    DISA_THROW(IoError, "'{}' is marked '{}': the job that wrote it did not finish", path_, attr_string("/", "status"));
}

File::~File() {
  // Never throws: an uncommitted file keeps its .incomplete name.
  if (file_) {
    file_.reset();
    H5Eclear2(H5E_DEFAULT);
  }
}

void File::close() { file_.reset(); }

void File::flush() {
  DISA_CHECK(file_, IoError, "flush on a closed file '{}'", path_);
  DISA_H5_CHECK(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), path_);
}

void File::commit() {
  DISA_CHECK(file_, IoError, "commit on a closed file '{}'", path_);
  DISA_CHECK(is_parallel(), IoError, "commit on read-only file '{}'", path_);
  set_attr("/", "status", std::string("complete"));
  DISA_H5_CHECK(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), path_);
  file_.reset();  // collective close
  int ok = 1;
  if (rank_ == 0) {
    std::error_code ec;
    std::filesystem::rename(path_, final_path_, ec);
    ok = ec ? 0 : 1;
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm_);
  if (!ok) DISA_THROW(IoError, "cannot rename '{}' to '{}'", path_, final_path_);
  committed_ = true;
  path_ = final_path_;
}

// -------------------------------------------------------------------------- structure

void File::create_group(const std::string& path) {
  if (exists(path)) return;
  auto lcpl = link_create_plist();
  Handle g(DISA_H5_CHECK(H5Gcreate2(file_.get(), path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                         fmt::format("{}: group {}", path_, path)),
           H5Gclose);
}

bool File::exists(const std::string& path) const {
  if (path == "/" || path.empty()) return true;
  // Check each component, as H5Lexists requires the parents to exist.
  size_t pos = 1;
  while (true) {
    size_t slash = path.find('/', pos);
    std::string prefix = path.substr(0, slash);
    htri_t e = H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT);
    if (e <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (slash == std::string::npos) return true;
    pos = slash + 1;
  }
}

Handle File::open_dataset(const std::string& path) const {
  if (!exists(path)) DISA_THROW(IoError, "'{}' has no dataset '{}'", path_, path);
  return Handle(DISA_H5_CHECK(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT),
                              fmt::format("{}: dataset {}", path_, path)),
                H5Dclose);
}

std::vector<int64_t> File::shape(const std::string& dataset) const {
  Handle d = open_dataset(dataset);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(size_t(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

std::vector<std::string> File::list(const std::string& group) const {
  std::vector<std::string> names;
  Handle g(DISA_H5_CHECK(H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT), fmt::format("{}: group {}", path_, group)),
           H5Gclose);
  H5G_info_t info;
  DISA_H5_CHECK(H5Gget_info(g.get(), &info), path_);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(size_t(n), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), size_t(n) + 1, H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

// ------------------------------------------------------------------------- attributes

namespace {
Handle open_object(hid_t file, const std::string& object, const std::string& path) {
  return Handle(DISA_H5_CHECK(H5Oopen(file, object.c_str(), H5P_DEFAULT), fmt::format("{}: object {}", path, object)),
                H5Oclose);
}

void write_attribute(hid_t obj, const std::string& name, hid_t type, hid_t space, const void* data,
                     const std::string& context) {
  if (H5Aexists(obj, name.c_str()) > 0) DISA_H5_CHECK(H5Adelete(obj, name.c_str()), context);
  Handle a(DISA_H5_CHECK(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), context), H5Aclose);
  DISA_H5_CHECK(H5Awrite(a.get(), type, data), context);
}
}  // namespace

void File::set_attr(const std::string& object, const std::string& name, const std::string& value) {
  Handle obj = open_object(file_.get(), object, path_);
  Handle type = string_type(value.size() + 1);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  std::string buf = value;
  buf.push_back('\0');
  write_attribute(obj.get(), name, type.get(), space.get(), buf.data(),
                  fmt::format("{}: attribute {}@{}", path_, object, name));
}

void File::set_attr(const std::string& object, const std::string& name, double value) {
  Handle obj = open_object(file_.get(), object, path_);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attribute(obj.get(), name, H5T_NATIVE_DOUBLE, space.get(), &value,
                  fmt::format("{}: attribute {}@{}", path_, object, name));
}

void File::set_attr(const std::string& object, const std::string& name, int64_t value) {
  Handle obj = open_object(file_.get(), object, path_);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attribute(obj.get(), name, H5T_NATIVE_INT64, space.get(), &value,
                  fmt::format("{}: attribute {}@{}", path_, object, name));
}

void File::set_attr(const std::string& object, const std::string& name, const std::vector<double>& value) {
  Handle obj = open_object(file_.get(), object, path_);
  hsize_t n = value.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  write_attribute(obj.get(), name, H5T_NATIVE_DOUBLE, space.get(), value.data(),
                  fmt::format("{}: attribute {}@{}", path_, object, name));
}

void File::set_attr(const std::string& object, const std::string& name, const std::vector<int64_t>& value) {
  Handle obj = open_object(file_.get(), object, path_);
  hsize_t n = value.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  write_attribute(obj.get(), name, H5T_NATIVE_INT64, space.get(), value.data(),
                  fmt::format("{}: attribute {}@{}", path_, object, name));
}

bool File::has_attr(const std::string& object, const std::string& name) const {
  if (!exists(object)) return false;
  htri_t e = H5Aexists_by_name(file_.get(), object.c_str(), name.c_str(), H5P_DEFAULT);
  if (e < 0) H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

namespace {
Handle open_attribute(hid_t file, const std::string& object, const std::string& name, const std::string& path) {
  hid_t a = H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) {
    H5Eclear2(H5E_DEFAULT);
    DISA_THROW(IoError, "'{}': object '{}' has no attribute '{}'", path, object, name);
  }
  return Handle(a, H5Aclose);
}

int64_t attribute_elements(hid_t attr) {
  Handle space(H5Aget_space(attr), H5Sclose);
  return int64_t(H5Sget_simple_extent_npoints(space.get()));
}
}  // namespace

void File::set_code_names(const std::string& object, const std::vector<std::string>& names_by_code) {
  std::string joined;
  for (size_t i = 0; i < names_by_code.size(); ++i) {
    DISA_CHECK(names_by_code[i].find(',') == std::string::npos, DataError, "code name '{}' of '{}' contains a comma",
               names_by_code[i], object);
    joined += (i ? "," : "") + names_by_code[i];
  }
  set_attr(object, "names", joined);
}

std::vector<std::string> File::code_names(const std::string& object) const {
  std::vector<std::string> names;
  std::stringstream in(attr_string(object, "names"));
  std::string name;
  while (std::getline(in, name, ',')) names.push_back(name);
  return names;
}

std::string File::attr_string(const std::string& object, const std::string& name) const {
  Handle a = open_attribute(file_.get(), object, name, path_);
  Handle ftype(H5Aget_type(a.get()), H5Tclose);
  DISA_CHECK(H5Tget_class(ftype.get()) == H5T_STRING, IoError, "'{}': attribute {}@{} is not a string", path_, object,
             name);
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    char* s = nullptr;
    DISA_H5_CHECK(H5Aread(a.get(), mtype.get(), &s), path_);
    std::string out = s ? s : "";
    H5free_memory(s);
    return out;
  }
  size_t n = H5Tget_size(ftype.get());
  std::string buf(n + 1, '\0');
  Handle mtype = string_type(n + 1);
  DISA_H5_CHECK(H5Aread(a.get(), mtype.get(), buf.data()), path_);
  return std::string(buf.c_str());
}

double File::attr_double(const std::string& object, const std::string& name) const {
  auto v = attr_doubles(object, name);
  DISA_CHECK(v.size() == 1, IoError, "'{}': attribute {}@{} is not a scalar", path_, object, name);
  return v[0];
}

int64_t File::attr_int(const std::string& object, const std::string& name) const {
  auto v = attr_ints(object, name);
  DISA_CHECK(v.size() == 1, IoError, "'{}': attribute {}@{} is not a scalar", path_, object, name);
  return v[0];
}

std::vector<double> File::attr_doubles(const std::string& object, const std::string& name) const {
  Handle a = open_attribute(file_.get(), object, name, path_);
  std::vector<double> v(size_t(attribute_elements(a.get())));
  DISA_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, v.data()), fmt::format("{}: attribute {}@{}", path_, object, name));
  return v;
}

std::vector<int64_t> File::attr_ints(const std::string& object, const std::string& name) const {
  Handle a = open_attribute(file_.get(), object, name, path_);
  std::vector<int64_t> v(size_t(attribute_elements(a.get())));
  DISA_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, v.data()), fmt::format("{}: attribute {}@{}", path_, object, name));
  return v;
}

std::vector<std::pair<std::string, std::string>> File::attrs_as_text(const std::string& object) const {
  std::vector<std::pair<std::string, std::string>> out;
  Handle obj = open_object(file_.get(), object, path_);
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  DISA_H5_CHECK(H5Oget_info3(obj.get(), &info, H5O_INFO_NUM_ATTRS), path_);
#else
  DISA_H5_CHECK(H5Oget_info2(obj.get(), &info, H5O_INFO_NUM_ATTRS), path_);
#endif
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    Handle a(H5Aopen_by_idx(obj.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    ssize_t n = H5Aget_name(a.get(), 0, nullptr);
    std::string name(size_t(n), '\0');
    H5Aget_name(a.get(), size_t(n) + 1, name.data());
    Handle type(H5Aget_type(a.get()), H5Tclose);
    std::string text;
    switch (H5Tget_class(type.get())) {
      case H5T_STRING: text = attr_string(object, name); break;
      case H5T_INTEGER: {
        auto v = attr_ints(object, name);
        for (size_t k = 0; k < v.size(); ++k) text += (k ? ", " : "") + std::to_string(v[k]);
        break;
      }
      case H5T_FLOAT: {
        auto v = attr_doubles(object, name);
        for (size_t k = 0; k < v.size(); ++k) text += (k ? ", " : "") + fmt::format("{}", v[k]);
        break;
      }
      default: text = "(unsupported type)";
    }
    out.emplace_back(name, text);
  }
  return out;
}

// ---------------------------------------------------------------------- slab transfers

void File::write_slab(hid_t dset, hid_t mem_type, const void* data, int64_t first, int64_t rows, int64_t cols) {
  Handle fspace(H5Dget_space(dset), H5Sclose);
  auto mdims = dims_of(std::max<int64_t>(rows, 1), cols);
  Handle mspace(H5Screate_simple(int(mdims.size()), mdims.data(), nullptr), H5Sclose);
  if (rows > 0) {
    std::vector<hsize_t> start = cols == 1 ? std::vector<hsize_t>{hsize_t(first)}
                                           : std::vector<hsize_t>{hsize_t(first), 0};
    auto count = dims_of(rows, cols);
    DISA_H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                  path_);
  } else {
    // A rank with nothing to write still joins the collective transfer.
    H5Sselect_none(fspace.get());
    H5Sselect_none(mspace.get());
  }
  DISA_H5_CHECK(H5Dwrite(dset, mem_type, mspace.get(), fspace.get(), transfer_plist(), rows > 0 ? data : nullptr),
                path_);
}

void File::read_slab(hid_t dset, hid_t mem_type, void* data, int64_t first, int64_t rows, int64_t cols) const {
  if (rows == 0) return;
  Handle fspace(H5Dget_space(dset), H5Sclose);
  std::vector<hsize_t> start = cols == 1 ? std::vector<hsize_t>{hsize_t(first)}
                                         : std::vector<hsize_t>{hsize_t(first), 0};
  auto count = dims_of(rows, cols);
  DISA_H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), path_);
  Handle mspace(H5Screate_simple(int(count.size()), count.data(), nullptr), H5Sclose);
  // Reads are independent: any rank may read any part at any time.
  DISA_H5_CHECK(H5Dread(dset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, data), path_);
}

namespace {
// (this rank's first row, total rows) of a collective write.
std::pair<int64_t, int64_t> slab_extent(MPI_Comm comm, int64_t rows) {
  if (comm == MPI_COMM_NULL) return {0, rows};
  int64_t first = 0, total = 0;
  MPI_Exscan(&rows, &first, 1, MPI_INT64_T, MPI_SUM, comm);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) first = 0;
  MPI_Allreduce(&rows, &total, 1, MPI_INT64_T, MPI_SUM, comm);
  return {first, total};
}
}  // namespace

template <class T>
int64_t File::write_rows(const std::string& path, const T* data, int64_t rows, int64_t cols, int deflate) {
  DISA_CHECK(cols >= 1, IoError, "write_rows {}: cols must be >= 1", path);
  auto [first, total] = slab_extent(comm_, rows);
  auto dims = dims_of(total, cols);
  Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (deflate > 0 && total > 0) {
    auto chunk = dims_of(std::min<int64_t>(total, std::max<int64_t>(1, (1 << 20) / (cols * int64_t(sizeof(T))))), cols);
    H5Pset_chunk(dcpl.get(), int(chunk.size()), chunk.data());
    H5Pset_deflate(dcpl.get(), unsigned(deflate));
  }
  auto lcpl = link_create_plist();
  Handle d(DISA_H5_CHECK(H5Dcreate2(file_.get(), path.c_str(), native_type<T>(), space.get(), lcpl.get(), dcpl.get(),
                                    H5P_DEFAULT),
                         fmt::format("{}: create dataset {}", path_, path)),
           H5Dclose);
  write_slab(d.get(), native_type<T>(), data, first, rows, cols);
  return first;
}

template <class T>
int64_t File::write_ragged(const std::string& path, const std::vector<std::vector<T>>& rows, int deflate) {
  std::vector<T> flat;
  int64_t local_values = 0;
  for (const auto& r : rows) local_values += int64_t(r.size());
  flat.reserve(size_t(local_values));
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  int64_t value_first = write_rows(path + "/values", flat.data(), local_values, 1, deflate);
  // Offsets: entry i is the start of row i; the last rank adds the final end.
  std::vector<int64_t> offsets;
  offsets.reserve(rows.size() + 1);
  int64_t pos = value_first;
  for (const auto& r : rows) {
    offsets.push_back(pos);
    pos += int64_t(r.size());
  }
  if (rank_ == size_ - 1) offsets.push_back(pos);
  int64_t first = write_rows(path + "/offsets", offsets.data(), int64_t(offsets.size()), 1, deflate);
  return first;
}

int64_t File::write_strings(const std::string& path, const std::vector<std::string>& rows) {
  int64_t width = 1;
  for (const auto& s : rows) width = std::max<int64_t>(width, int64_t(s.size()) + 1);
  if (comm_ != MPI_COMM_NULL) MPI_Allreduce(MPI_IN_PLACE, &width, 1, MPI_INT64_T, MPI_MAX, comm_);
  auto [first, total] = slab_extent(comm_, int64_t(rows.size()));
  std::vector<char> buf(rows.size() * size_t(width), '\0');
  for (size_t i = 0; i < rows.size(); ++i) std::copy(rows[i].begin(), rows[i].end(), buf.begin() + i * width);
  Handle type = string_type(size_t(width));
  hsize_t n = hsize_t(total);
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  auto lcpl = link_create_plist();
  Handle d(DISA_H5_CHECK(H5Dcreate2(file_.get(), path.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT,
                                    H5P_DEFAULT),
                         fmt::format("{}: create dataset {}", path_, path)),
           H5Dclose);
  write_slab(d.get(), type.get(), buf.data(), first, int64_t(rows.size()), 1);
  return first;
}

template <class T>
void File::create_appendable(const std::string& path, int64_t cols, int64_t chunk_rows, int deflate) {
  auto dims = dims_of(0, cols);
  std::vector<hsize_t> maxdims = cols == 1 ? std::vector<hsize_t>{H5S_UNLIMITED}
                                           : std::vector<hsize_t>{H5S_UNLIMITED, hsize_t(cols)};
  Handle space(H5Screate_simple(int(dims.size()), dims.data(), maxdims.data()), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  auto chunk = dims_of(std::max<int64_t>(chunk_rows, 1), cols);
  DISA_H5_CHECK(H5Pset_chunk(dcpl.get(), int(chunk.size()), chunk.data()), path_);
  if (deflate > 0) DISA_H5_CHECK(H5Pset_deflate(dcpl.get(), unsigned(deflate)), path_);
  // Early allocation is required for collective writes to extendible datasets.
  if (is_parallel()) H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
  auto lcpl = link_create_plist();
  Handle d(DISA_H5_CHECK(H5Dcreate2(file_.get(), path.c_str(), native_type<T>(), space.get(), lcpl.get(), dcpl.get(),
                                    H5P_DEFAULT),
                         fmt::format("{}: create dataset {}", path_, path)),
           H5Dclose);
}

template <class T>
int64_t File::append_rows(const std::string& path, const T* data, int64_t rows, int64_t cols) {
  Handle d = open_dataset(path);
  auto [offset, total] = slab_extent(comm_, rows);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  int nd = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(nd));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  DISA_CHECK((nd == 1 && cols == 1) || (nd == 2 && int64_t(dims[1]) == cols), IoError,
             "'{}': append to {} with {} columns, dataset has shape rank {}", path_, path, cols, nd);
  int64_t existing = int64_t(dims[0]);
  if (total > 0) {
    dims[0] = hsize_t(existing + total);
    DISA_H5_CHECK(H5Dset_extent(d.get(), dims.data()), fmt::format("{}: extend {}", path_, path));
  }
  write_slab(d.get(), native_type<T>(), data, existing + offset, rows, cols);
  return existing + offset;
}

template <class T>
void File::create_appendable_ragged(const std::string& path, int64_t chunk_rows, int deflate) {
  create_appendable<T>(path + "/values", 1, chunk_rows * 16, deflate);
  create_appendable<int64_t>(path + "/offsets", 1, chunk_rows, deflate);
  int64_t zero = 0;
  append_rows<int64_t>(path + "/offsets", &zero, rank_ == 0 ? 1 : 0, 1);
}

template <class T>
int64_t File::append_ragged(const std::string& path, const std::vector<std::vector<T>>& rows) {
  std::vector<T> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  int64_t value_first = append_rows<T>(path + "/values", flat.data(), int64_t(flat.size()), 1);
  // Offsets store each row's end; the first entry of the dataset is 0.
  std::vector<int64_t> ends;
  int64_t pos = value_first;
  for (const auto& r : rows) {
    pos += int64_t(r.size());
    ends.push_back(pos);
  }
  int64_t first = append_rows<int64_t>(path + "/offsets", ends.data(), int64_t(ends.size()), 1);
  return first - 1;  // row index
}

void File::create_appendable_strings(const std::string& path, int64_t width, int64_t chunk_rows) {
  DISA_CHECK(width >= 1, IoError, "'{}': string dataset {} needs a width >= 1, got {}", path_, path, width);
  hsize_t dims = 0, maxdims = H5S_UNLIMITED, chunk = hsize_t(std::max<int64_t>(chunk_rows, 1));
  Handle space(H5Screate_simple(1, &dims, &maxdims), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  DISA_H5_CHECK(H5Pset_chunk(dcpl.get(), 1, &chunk), path_);
  if (is_parallel()) H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
  Handle type = string_type(size_t(width));
  auto lcpl = link_create_plist();
  Handle d(DISA_H5_CHECK(H5Dcreate2(file_.get(), path.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(),
                                    H5P_DEFAULT),
                         fmt::format("{}: create dataset {}", path_, path)),
           H5Dclose);
}

int64_t File::append_strings(const std::string& path, const std::vector<std::string>& rows) {
  Handle d = open_dataset(path);
  Handle ftype(H5Dget_type(d.get()), H5Tclose);
  const size_t width = H5Tget_size(ftype.get());
  std::vector<char> buf(rows.size() * width, '\0');
  for (size_t i = 0; i < rows.size(); ++i) {
    DISA_CHECK(rows[i].size() < width, IoError, "'{}': a string of {} bytes does not fit {} (width {})", path_,
               rows[i].size(), path, width);
    std::copy(rows[i].begin(), rows[i].end(), buf.begin() + long(i * width));
  }
  auto [offset, total] = slab_extent(comm_, int64_t(rows.size()));
  Handle space(H5Dget_space(d.get()), H5Sclose);
  hsize_t existing = 0;
  H5Sget_simple_extent_dims(space.get(), &existing, nullptr);
  if (total > 0) {
    hsize_t n = existing + hsize_t(total);
    DISA_H5_CHECK(H5Dset_extent(d.get(), &n), fmt::format("{}: extend {}", path_, path));
  }
  Handle type = string_type(width);
  write_slab(d.get(), type.get(), buf.data(), int64_t(existing) + offset, int64_t(rows.size()), 1);
  return int64_t(existing) + offset;
}

void File::resize_rows(const std::string& path, int64_t rows) {
  Handle d = open_dataset(path);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  int nd = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(nd));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  dims[0] = hsize_t(rows);
  DISA_H5_CHECK(H5Dset_extent(d.get(), dims.data()), fmt::format("{}: resize {}", path_, path));
}

template <class T>
std::vector<T> File::read(const std::string& path) const {
  auto s = shape(path);
  DISA_CHECK(!s.empty(), IoError, "'{}': dataset {} is a scalar, expected rows", path_, path);
  return read_rows<T>(path, 0, s[0]);
}

template <class T>
std::vector<T> File::read_rows(const std::string& path, int64_t first, int64_t count) const {
  Handle d = open_dataset(path);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  int nd = H5Sget_simple_extent_ndims(space.get());
  DISA_CHECK(nd == 1 || nd == 2, IoError, "'{}': dataset {} has rank {}, expected 1 or 2", path_, path, nd);
  std::vector<hsize_t> dims(static_cast<size_t>(nd));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  int64_t cols = nd == 2 ? int64_t(dims[1]) : 1;
  DISA_CHECK(first >= 0 && count >= 0 && first + count <= int64_t(dims[0]), IoError,
             "'{}': rows [{}, {}) of {} are out of range (it has {} rows)", path_, first, first + count, path, dims[0]);
  std::vector<T> out(size_t(count * cols));
  read_slab(d.get(), native_type<T>(), out.data(), first, count, cols);
  return out;
}

template <class T>
std::vector<std::vector<T>> File::read_ragged(const std::string& path) const {
  auto n = shape(path + "/offsets");
  return read_ragged_rows<T>(path, 0, n.empty() ? 0 : std::max<int64_t>(n[0] - 1, 0));
}

template <class T>
std::vector<std::vector<T>> File::read_ragged_rows(const std::string& path, int64_t first, int64_t count) const {
  std::vector<std::vector<T>> out(static_cast<size_t>(count));
  if (count == 0) return out;
  auto offsets = read_rows<int64_t>(path + "/offsets", first, count + 1);
  auto values = read_rows<T>(path + "/values", offsets.front(), offsets.back() - offsets.front());
  for (int64_t i = 0; i < count; ++i)
    out[size_t(i)].assign(values.begin() + (offsets[i] - offsets.front()),
                          values.begin() + (offsets[i + 1] - offsets.front()));
  return out;
}

std::vector<std::string> File::read_strings(const std::string& path) const {
  Handle d = open_dataset(path);
  Handle ftype(H5Dget_type(d.get()), H5Tclose);
  DISA_CHECK(H5Tget_class(ftype.get()) == H5T_STRING, IoError, "'{}': {} is not a string dataset", path_, path);
  auto s = shape(path);
  int64_t n = s.empty() ? 1 : s[0];
  std::vector<std::string> out;
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    DISA_H5_CHECK(H5Dread(d.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), path_);
    for (auto* p : ptrs) {
      out.emplace_back(p ? p : "");
      H5free_memory(p);
    }
    return out;
  }
  size_t width = H5Tget_size(ftype.get());
  std::vector<char> buf(size_t(n) * (width + 1), '\0');
  Handle mtype = string_type(width + 1);
  if (n > 0) DISA_H5_CHECK(H5Dread(d.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), path_);
  for (int64_t i = 0; i < n; ++i) out.emplace_back(buf.data() + size_t(i) * (width + 1));
  return out;
}

// Explicit instantiations for the element types disa stores.
#define DISA_H5_INSTANTIATE(T)                                                                         \
  template int64_t File::write_rows<T>(const std::string&, const T*, int64_t, int64_t, int);           \
  template int64_t File::write_ragged<T>(const std::string&, const std::vector<std::vector<T>>&, int); \
  template void File::create_appendable<T>(const std::string&, int64_t, int64_t, int);                 \
  template int64_t File::append_rows<T>(const std::string&, const T*, int64_t, int64_t);               \
  template void File::create_appendable_ragged<T>(const std::string&, int64_t, int);                   \
  template int64_t File::append_ragged<T>(const std::string&, const std::vector<std::vector<T>>&);     \
  template std::vector<T> File::read<T>(const std::string&) const;                                     \
  template std::vector<T> File::read_rows<T>(const std::string&, int64_t, int64_t) const;              \
  template std::vector<std::vector<T>> File::read_ragged<T>(const std::string&) const;                 \
  template std::vector<std::vector<T>> File::read_ragged_rows<T>(const std::string&, int64_t, int64_t) const;

DISA_H5_INSTANTIATE(float)
DISA_H5_INSTANTIATE(double)
DISA_H5_INSTANTIATE(int8_t)
DISA_H5_INSTANTIATE(uint8_t)
DISA_H5_INSTANTIATE(int32_t)
DISA_H5_INSTANTIATE(int64_t)
DISA_H5_INSTANTIATE(uint64_t)

}  // namespace disa::io::h5
