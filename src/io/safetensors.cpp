// safetensors reader (memory-mapped, validated header, zero-copy views), writer and
// sharded-checkpoint handling. See include/disa/io/safetensors.hpp.
#include "disa/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "disa/core/error.hpp"

namespace disa::io::safetensors {

namespace fs = std::filesystem;
using json = nlohmann::json;

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16: return 2;
    case DType::I8:
    case DType::U8:
    case DType::BOOL: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

DType parse_dtype(const std::string& name, const std::string& context) {
  static const std::map<std::string, DType> known = {{"F64", DType::F64},   {"F32", DType::F32}, {"F16", DType::F16},
                                                     {"BF16", DType::BF16}, {"I64", DType::I64}, {"I32", DType::I32},
                                                     {"I16", DType::I16},   {"I8", DType::I8},   {"U8", DType::U8},
                                                     {"BOOL", DType::BOOL}};
  auto it = known.find(name);
  if (it == known.end())
    DISA_THROW(IoError,
               "{}: unsupported safetensors dtype '{}' (supported: F64, F32, F16, "
               "BF16, I64, I32, I16, I8, U8, BOOL)",
               context, name);
  return it->second;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

File::~File() {
  if (map_ && size_ > 0) munmap(map_, size_);
}

std::shared_ptr<File> File::open(const std::string& path) {
  std::shared_ptr<File> f(new File());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) DISA_THROW(IoError, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    DISA_THROW(IoError, "{}: cannot stat: {}", path, std::strerror(e));
  }
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    DISA_THROW(IoError,
               "{}: not a safetensors file ({} bytes, shorter than the 8-byte header "
               "length)",
               path, f->size_);
  }
  void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (m == MAP_FAILED) DISA_THROW(IoError, "{}: mmap failed: {}", path, std::strerror(e));
  f->map_ = m;
  const uint8_t* bytes = f->bytes();
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > f->size_ - 8)
    DISA_THROW(IoError, "{}: header length {} exceeds the file size {}", path, header_len, f->size_);
  json header;
  try {
    header =
        json::parse(reinterpret_cast<const char*>(bytes + 8), reinterpret_cast<const char*>(bytes + 8 + header_len));
  } catch (const json::exception& ex) {
    DISA_THROW(IoError, "{}: header is not valid JSON: {}", path, ex.what());
  }
  if (!header.is_object()) DISA_THROW(IoError, "{}: header is not a JSON object", path);
  const size_t data_start = 8 + header_len;
  const size_t data_size = f->size_ - data_start;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) DISA_THROW(IoError, "{}: __metadata__ is not an object", path);
      for (auto m2 = v.begin(); m2 != v.end(); ++m2) {
        if (!m2.value().is_string()) DISA_THROW(IoError, "{}: __metadata__.{} is not a string", path, m2.key());
        f->metadata_[m2.key()] = m2.value().get<std::string>();
      }
      continue;
    }
    const std::string ctx = fmt::format("{}: tensor '{}'", path, name);
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      DISA_THROW(IoError, "{}: entry needs dtype, shape and data_offsets", ctx);
    if (!v["dtype"].is_string()) DISA_THROW(IoError, "{}: dtype is not a string", ctx);
    TensorView t;
    t.name = name;
    t.dtype = parse_dtype(v["dtype"].get<std::string>(), ctx);
    if (!v["shape"].is_array()) DISA_THROW(IoError, "{}: shape is not an array", ctx);
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) DISA_THROW(IoError, "{}: shape entry {} is not a size", ctx, d.dump());
      t.shape.push_back(d.get<int64_t>());
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      DISA_THROW(IoError, "{}: data_offsets must be [begin, end]", ctx);
    size_t begin = off[0].get<size_t>(), end = off[1].get<size_t>();
    if (begin > end || end > data_size)
      DISA_THROW(IoError, "{}: data_offsets [{}, {}] outside the data buffer of {} bytes", ctx, begin, end, data_size);
    t.nbytes = end - begin;
    if (static_cast<size_t>(t.numel()) * dtype_size(t.dtype) != t.nbytes)
      DISA_THROW(IoError, "{}: {} bytes for shape [{}] of {} (expected {})", ctx, t.nbytes, fmt::join(t.shape, ", "),
                 dtype_name(t.dtype), static_cast<size_t>(t.numel()) * dtype_size(t.dtype));
    t.data = bytes + data_start + begin;
    if (t.nbytes > 0) ranges.emplace_back(begin, end);
    f->index_[name] = f->tensors_.size();
    f->tensors_.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      DISA_THROW(IoError, "{}: tensor data ranges overlap at byte {}", path, ranges[i].first);
  return f;
}

const TensorView* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void write_file(const std::string& path, const std::vector<TensorData>& tensors,
                const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorData*> order;
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (!names.insert(t.name).second) DISA_THROW(IoError, "{}: tensor '{}' given twice", path, t.name);
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (static_cast<size_t>(n) * dtype_size(t.dtype) != t.nbytes)
      DISA_THROW(IoError, "{}: tensor '{}' has {} bytes for its shape (expected {})", path, t.name, t.nbytes,
                 static_cast<size_t>(n) * dtype_size(t.dtype));
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const TensorData* a, const TensorData* b) {
    size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const TensorData* t : order) {
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) DISA_THROW(IoError, "{}: cannot open for writing", tmp);
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const TensorData* t : order)
      out.write(static_cast<const char*>(t->data), static_cast<std::streamsize>(t->nbytes));
    out.flush();
    if (!out) DISA_THROW(IoError, "{}: write failed", tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) DISA_THROW(IoError, "{}: cannot rename to {}: {}", tmp, path, ec.message());
}

Checkpoint Checkpoint::open(const std::string& dir) {
  Checkpoint c;
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  std::map<std::string, std::string> expected_file;  // tensor -> shard (sharded only)
  if (fs::exists(index)) {
    c.sharded_ = true;
    std::ifstream in(index);
    if (!in) DISA_THROW(IoError, "{}: cannot open", index.string());
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& ex) {
      DISA_THROW(IoError, "{}: invalid JSON: {}", index.string(), ex.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      DISA_THROW(IoError, "{}: field weight_map (an object) is missing", index.string());
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        DISA_THROW(IoError, "{}: weight_map.{} is not a file name", index.string(), it.key());
      std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos)
        DISA_THROW(IoError, "{}: weight_map.{}: shard '{}' is not a plain file name", index.string(), it.key(), shard);
      expected_file[it.key()] = shard;
      shards.insert(shard);
    }
    for (const auto& s : shards) c.files_.push_back(File::open((fs::path(dir) / s).string()));
  } else if (fs::exists(single)) {
    c.files_.push_back(File::open(single.string()));
  } else {
    DISA_THROW(IoError, "{}: neither model.safetensors nor model.safetensors.index.json found", dir);
  }
  for (const auto& f : c.files_) {
    const std::string fname = fs::path(f->path()).filename().string();
    for (const auto& t : f->tensors()) {
      auto [it, inserted] = c.by_name_.emplace(t.name, &t);
      if (!inserted) DISA_THROW(IoError, "{}: tensor '{}' is stored in more than one shard", dir, t.name);
      if (c.sharded_) {
        auto e = expected_file.find(t.name);
        if (e == expected_file.end())
          DISA_THROW(IoError, "{}: tensor '{}' is in {} but not in the index weight_map", dir, t.name, fname);
        if (e->second != fname)
          DISA_THROW(IoError, "{}: tensor '{}' is in {} but the index says {}", dir, t.name, fname, e->second);
      }
    }
  }
  for (const auto& [name, file] : expected_file)
    if (!c.by_name_.count(name))
      DISA_THROW(IoError,
                 "{}: tensor '{}' is listed in the index (shard {}) but not stored "
                 "there",
                 dir, name, file);
  for (const auto& [name, view] : c.by_name_) c.tensors_.push_back(view);
  return c;
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> write_checkpoint(const std::string& dir, const std::vector<TensorData>& tensors,
                                          int64_t max_shard_bytes, const std::map<std::string, std::string>& metadata) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) DISA_THROW(IoError, "{}: cannot create directory: {}", dir, ec.message());
  // Remove weights of a previous save so the directory holds exactly one layout.
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string n = entry.path().filename().string();
    if (n == "model.safetensors.index.json" || (n.rfind("model", 0) == 0 && entry.path().extension() == ".safetensors"))
      fs::remove(entry.path());
  }
  size_t total = 0;
  for (const auto& t : tensors) total += t.nbytes;
  if (max_shard_bytes <= 0 || total <= static_cast<size_t>(max_shard_bytes)) {
    write_file((fs::path(dir) / "model.safetensors").string(), tensors, metadata);
    return {"model.safetensors"};
  }
  std::vector<const TensorData*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorData* a, const TensorData* b) { return a->name < b->name; });
  std::vector<std::vector<TensorData>> shards(1);
  size_t current = 0;
  for (const TensorData* t : sorted) {
    if (current > 0 && current + t->nbytes > static_cast<size_t>(max_shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(*t);
    current += t->nbytes;
  }
  std::vector<std::string> names;
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    write_file((fs::path(dir) / name).string(), shards[i], metadata);
    for (const auto& t : shards[i]) weight_map[t.name] = name;
    names.push_back(name);
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const std::string path = (fs::path(dir) / "model.safetensors.index.json").string();
  std::ofstream out(path);
  if (!out) DISA_THROW(IoError, "{}: cannot open for writing", path);
  out << index.dump(2) << "\n";
  if (!out) DISA_THROW(IoError, "{}: write failed", path);
  names.push_back("model.safetensors.index.json");
  return names;
}

}  // namespace disa::io::safetensors
