// MPI backend of the communicator: CPU tensors are flattened per bucket into one
// contiguous buffer and reduced with a single MPI_Allreduce per bucket.
#include <torch/torch.h>

#include "disa/dist/communicator.hpp"
#include "disa/dist/mpi_check.hpp"

namespace disa::dist {
namespace {

// The MPI datatype used to move a tensor dtype; half types travel as float32.
MPI_Datatype mpi_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kUInt8: return MPI_UINT8_T;
    case torch::kInt8: return MPI_INT8_T;
    default: return MPI_DATATYPE_NULL;
  }
}

torch::ScalarType wire_type(torch::ScalarType t) {
  if (t == torch::kFloat16 || t == torch::kBFloat16) return torch::kFloat32;
  return t;
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
    default: return MPI_SUM;
  }
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm) : Communicator(comm) {}
  std::string backend() const override { return "mpi"; }

  void all_reduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    torch::NoGradGuard no_grad;
    for (const auto& bucket : make_buckets(tensors)) {
      const auto& first = tensors[bucket.front()];
      auto wire = wire_type(first.scalar_type());
      MPI_Datatype type = mpi_type(wire);
      DISA_CHECK(type != MPI_DATATYPE_NULL, DistError,
                 "all_reduce: tensors of dtype {} are not supported by the MPI backend",
                 c10::toString(first.scalar_type()));
      torch::Tensor buffer = flatten_bucket(tensors, bucket, wire);
      DISA_CHECK(buffer.numel() < std::numeric_limits<int>::max(), DistError,
                 "all_reduce: bucket of {} elements exceeds MPI's int count; lower DISA_BUCKET_MB", buffer.numel());
      DISA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buffer.data_ptr(), int(buffer.numel()), type, mpi_op(op), comm_));
      ++collective_calls_;
      apply_mean(buffer, op);
      unflatten_bucket(buffer, tensors, bucket);
    }
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    torch::NoGradGuard no_grad;
    for (const auto& bucket : make_buckets(tensors)) {
      const auto& first = tensors[bucket.front()];
      // Broadcast moves bytes: no conversion needed, any dtype works (staged on the CPU).
      torch::Tensor buffer = flatten_bucket(tensors, bucket, first.scalar_type());
      int64_t nbytes = buffer.numel() * buffer.element_size();
      DISA_CHECK(nbytes < std::numeric_limits<int>::max(), DistError,
                 "broadcast: bucket of {} bytes is too large; lower DISA_BUCKET_MB", nbytes);
      DISA_MPI_CHECK(MPI_Bcast(buffer.data_ptr(), int(nbytes), MPI_BYTE, root, comm_));
      ++collective_calls_;
      unflatten_bucket(buffer, tensors, bucket);
    }
  }
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm) { return std::make_unique<MpiCommunicator>(comm); }

}  // namespace disa::dist
