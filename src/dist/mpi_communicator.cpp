// MPI backend of the communicator: CPU tensors are flattened per bucket into one
// contiguous buffer and reduced with a single MPI_Allreduce per bucket.
#include <torch/torch.h>

#include "disa/dist/communicator.hpp"
#include "disa/dist/mpi_check.hpp"

namespace disa {
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
      std::vector<torch::Tensor> flat;
      flat.reserve(bucket.size());
      for (size_t i : bucket)
        flat.push_back(tensors[i].detach().reshape({-1}).to(torch::kCPU, wire));
      torch::Tensor buffer = flat.size() == 1 ? flat[0].contiguous().clone() : torch::cat(flat);
      DISA_CHECK(buffer.numel() < std::numeric_limits<int>::max(), DistError,
                 "all_reduce: bucket of {} elements exceeds MPI's int count; lower DISA_BUCKET_MB",
                 buffer.numel());
      DISA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buffer.data_ptr(), int(buffer.numel()), type,
                                   mpi_op(op), comm_));
      ++collective_calls_;
      if (op == ReduceOp::Mean) {
        if (buffer.is_floating_point())
          buffer.div_(double(size_));
        else
          buffer.div_(size_, "trunc");
      }
      int64_t offset = 0;
      for (size_t i : bucket) {
        auto& t = tensors[i];
        int64_t n = t.numel();
        t.copy_(buffer.narrow(0, offset, n).view(t.sizes()));
        offset += n;
      }
    }
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    torch::NoGradGuard no_grad;
    for (const auto& bucket : make_buckets(tensors)) {
      const auto& first = tensors[bucket.front()];
      // Broadcast moves bytes: no conversion needed, any dtype works.
      std::vector<torch::Tensor> flat;
      for (size_t i : bucket) flat.push_back(tensors[i].detach().reshape({-1}).to(torch::kCPU));
      torch::Tensor buffer = torch::cat(flat).contiguous();
      int64_t nbytes = buffer.numel() * buffer.element_size();
      DISA_CHECK(nbytes < std::numeric_limits<int>::max(), DistError,
                 "broadcast: bucket of {} bytes is too large; lower DISA_BUCKET_MB", nbytes);
      DISA_MPI_CHECK(MPI_Bcast(buffer.data_ptr(), int(nbytes), MPI_BYTE, root, comm_));
      ++collective_calls_;
      int64_t offset = 0;
      for (size_t i : bucket) {
        auto& t = tensors[i];
        t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
        offset += t.numel();
      }
      (void)first;
    }
  }
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm) {
  return std::make_unique<MpiCommunicator>(comm);
}

}  // namespace disa
