// safetensors files (Hugging Face's weight format) without LibTorch: the reader
// memory-maps a file and exposes each tensor as a typed view into the mapping (no copy);
// the writer stores raw tensor bytes. A checkpoint is one model.safetensors or the shards
// listed in model.safetensors.index.json. Format: 8-byte little-endian header length N,
// N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {str: str}}, then the data buffer (offsets relative to its start).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace disa::io::safetensors {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// Bytes per element.
size_t dtype_size(DType dtype);
// The safetensors spelling ("F32", "BF16", ...).
const char* dtype_name(DType dtype);
// Parses a safetensors dtype; throws IoError naming `context` for unknown ones.
DType parse_dtype(const std::string& name, const std::string& context);

// One tensor of a mapped file: valid while the File that produced it is alive.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the memory mapping; may be unaligned
  size_t nbytes = 0;
  int64_t numel() const;
};

// A memory-mapped safetensors file. Opening validates the whole header: JSON syntax,
// dtypes, shapes against byte ranges, ranges inside the file and not overlapping.
// Errors are IoError naming the file and the tensor.
class File {
 public:
  static std::shared_ptr<File> open(const std::string& path);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  // Tensors in header order.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The whole mapped file (header included), e.g. for hashing.
  const uint8_t* bytes() const { return static_cast<const uint8_t*>(map_); }
  size_t size() const { return size_; }

 private:
  File() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes, row-major, nbytes == numel * dtype_size.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes one safetensors file (atomically: PATH.tmp then rename). Tensors are laid out
// by decreasing element size, then name, so every tensor is aligned to its element size
// (the header is padded with spaces to a multiple of 8). Duplicate names are an error.
void write_file(const std::string& path, const std::vector<TensorData>& tensors,
                const std::map<std::string, std::string>& metadata = {});

// The weights of a model directory: DIR/model.safetensors, or every shard named in
// DIR/model.safetensors.index.json ("weight_map": {tensor: shard file}). Each tensor must
// occur exactly once over all shards and where the index says.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir);
  // All tensors, sorted by name.
  const std::vector<const TensorView*>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  // The mapped files, in file-name order.
  const std::vector<std::shared_ptr<File>>& files() const { return files_; }
  bool sharded() const { return sharded_; }

 private:
  std::vector<std::shared_ptr<File>> files_;
  std::vector<const TensorView*> tensors_;
  std::map<std::string, const TensorView*> by_name_;
  bool sharded_ = false;
};

// Writes DIR/model.safetensors, or when the total exceeds `max_shard_bytes` (> 0) the
// shards DIR/model-0000i-of-0000n.safetensors plus model.safetensors.index.json
// (metadata.total_size and weight_map, the layout HF transformers and vLLM read).
// Returns the names of the files written.
std::vector<std::string> write_checkpoint(const std::string& dir, const std::vector<TensorData>& tensors,
                                          int64_t max_shard_bytes = 0,
                                          const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace disa::io::safetensors
