// The communicator every stage uses for collectives: all-reduce (sum, mean, max, min)
// on tensors (bucketed: many small tensors travel as one flattened buffer per bucket)
// and on host scalars/vectors, broadcast, barrier, all-gather of variable-size byte
// buffers, exclusive prefix sums (slab offsets), and the numerically stable log-sum-exp
// all-reduce. Backends: MPI (CPU tensors) and NCCL (CUDA tensors; host-side collectives
// still go through MPI), the latter compiled with DISA_WITH_CUDA.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace disa::dist {

enum class ReduceOp { Sum, Mean, Max, Min };

class Communicator {
 public:
  virtual ~Communicator();

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return comm_; }
  virtual std::string backend() const = 0;

  // --- tensors (device collectives) ----------------------------------------------------
  // In place, on every tensor of the list. Tensors are grouped by dtype into buckets of
  // at most bucket_bytes(); each bucket is one collective call. All ranks must pass
  // tensors of the same shapes and dtypes in the same order.
  virtual void all_reduce(std::vector<torch::Tensor>& tensors, ReduceOp op) = 0;
  void all_reduce(torch::Tensor& tensor, ReduceOp op);
  // Overwrites each tensor with the root's.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;

  // --- host values (always MPI) --------------------------------------------------------
  double all_reduce(double value, ReduceOp op);
  int64_t all_reduce(int64_t value, ReduceOp op);
  void all_reduce(std::vector<double>& values, ReduceOp op);
  void all_reduce(std::vector<int64_t>& values, ReduceOp op);
  // Sum of `value` over the ranks before this one (0 on rank 0): a slab's offset.
  int64_t exclusive_prefix_sum(int64_t value);
  void broadcast(std::string& bytes, int root);
  void broadcast(std::vector<double>& values, int root);
  void barrier();
  // Every rank's buffer (any size, empty allowed), in rank order.
  std::vector<std::string> all_gather(const std::string& bytes);
  // In place: log_values[i] becomes log(sum over ranks of exp(log_values[i])), reduced
  // as (running max, scaled sum) pairs with a custom MPI_Op. -inf entries are allowed.
  void all_reduce_logsumexp(std::vector<double>& log_values);

  // Bucket size for tensor all-reduce (default 32 MiB; DISA_BUCKET_MB overrides).
  size_t bucket_bytes() const { return bucket_bytes_; }
  void set_bucket_bytes(size_t bytes) { bucket_bytes_ = bytes; }
  // Number of device collective calls issued so far (tests check the bucketing).
  int64_t collective_calls() const { return collective_calls_; }

 protected:
  explicit Communicator(MPI_Comm comm);
  // Splits tensors into per-dtype buckets (indices into `tensors`).
  std::vector<std::vector<size_t>> make_buckets(const std::vector<torch::Tensor>& tensors) const;
  // The bucket's tensors flattened into one buffer (converted to `wire` when given).
  static torch::Tensor flatten_bucket(const std::vector<torch::Tensor>& tensors, const std::vector<size_t>& bucket,
                                      std::optional<torch::ScalarType> wire = std::nullopt);
  // After a reducing collective: divides by the world size for ReduceOp::Mean (integers
  // truncate); a no-op for the other operations.
  void apply_mean(torch::Tensor& buffer, ReduceOp op) const;
  // Copies the buffer back into the bucket's tensors.
  static void unflatten_bucket(const torch::Tensor& buffer, std::vector<torch::Tensor>& tensors,
                               const std::vector<size_t>& bucket);
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  size_t bucket_bytes_ = size_t(32) << 20;
  int64_t collective_calls_ = 0;
};

// MPI communicator over `comm` (duplicated, so its traffic never mixes with others').
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm);

// NCCL communicator for CUDA tensors on `device` (unique id broadcast over MPI, device
// set before ncclCommInitRank, collectives on LibTorch's current stream). Throws
// ConfigError when built without DISA_WITH_CUDA.
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm comm, const torch::Device& device);

// The right backend for `device`: NCCL for CUDA, MPI for CPU.
std::unique_ptr<Communicator> make_communicator(MPI_Comm comm, const torch::Device& device);

// True when this build has the NCCL backend.
bool nccl_compiled();
// "NCCL 2.x.y" when compiled in, else "not compiled".
std::string nccl_version();

}  // namespace disa::dist
