// NCCL backend of the communicator (built with DISA_WITH_CUDA): CUDA tensors are
// flattened per bucket and reduced with one ncclAllReduce on LibTorch's current CUDA
// stream. The NCCL unique id is created on rank 0 and broadcast over MPI; the device is
// set before ncclCommInitRank. Host-value collectives stay on MPI (base class).
#include "disa/dist/communicator.hpp"

#include "disa/core/error.hpp"

#ifdef DISA_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include "disa/dist/mpi_check.hpp"

// DistError naming the library call, where it was made and the library's message.
[[noreturn]] inline void throw_call_error(const char* library, const char* call, const char* file, int line,
                                          const char* message) {
  throw ::disa::core::DistError(
      ::fmt::format("{} call {} failed at {}: {}", library, call, ::disa::core::source_location(file, line), message));
}

// One check for both libraries: `call` returns a status `type` that is `ok` on success and
// `message(status)` explains otherwise.
#define DISA_LIBRARY_CHECK(library, type, ok, message, call)                                             \
  do {                                                                                                   \
    type disa_status_ = (call);                                                                          \
    if (disa_status_ != ok) throw_call_error(library, #call, __FILE__, __LINE__, message(disa_status_)); \
  } while (0)
#define DISA_NCCL_CHECK(call) DISA_LIBRARY_CHECK("NCCL", ncclResult_t, ncclSuccess, ncclGetErrorString, call)
#define DISA_CUDA_CHECK(call) DISA_LIBRARY_CHECK("CUDA", cudaError_t, cudaSuccess, cudaGetErrorString, call)

namespace disa::dist {
namespace {

ncclDataType_t nccl_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
#if defined(NCCL_MAJOR) && (NCCL_MAJOR > 2 || (NCCL_MAJOR == 2 && NCCL_MINOR >= 10))
    case torch::kBFloat16: return ncclBfloat16;
#endif
    case torch::kInt64: return ncclInt64;
    case torch::kInt32: return ncclInt32;
    case torch::kUInt8: return ncclUint8;
    case torch::kInt8: return ncclInt8;
    default:
      throw core::DistError(fmt::format("all_reduce: dtype {} is not supported by the NCCL backend", c10::toString(t)));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
    default: return ncclSum;
  }
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MPI_Comm comm, const torch::Device& device) : Communicator(comm), device_(device) {
    DISA_CHECK(device.is_cuda() && device.has_index(), DistError,
               "NCCL communicator needs a CUDA device with an index, got {}", device.str());
    DISA_CUDA_CHECK(cudaSetDevice(device.index()));
    ncclUniqueId id;
    if (rank_ == 0) DISA_NCCL_CHECK(ncclGetUniqueId(&id));
    DISA_MPI_CHECK(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, comm_));
    DISA_NCCL_CHECK(ncclCommInitRank(&nccl_, size_, id, rank_));
  }
  ~NcclCommunicator() override {
    if (nccl_) ncclCommDestroy(nccl_);
  }
  std::string backend() const override { return "nccl"; }

  void all_reduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    torch::NoGradGuard no_grad;
    c10::cuda::CUDAGuard guard(device_);
    auto stream = c10::cuda::getCurrentCUDAStream(device_.index());
    for (const auto& bucket : make_buckets(tensors)) {
      const auto& first = tensors[bucket.front()];
      DISA_CHECK(first.device() == device_, DistError, "NCCL all_reduce: tensor on {} but the communicator is on {}",
                 first.device().str(), device_.str());
      torch::Tensor buffer = flatten_bucket(tensors, bucket);
      DISA_NCCL_CHECK(ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), size_t(buffer.numel()),
                                    nccl_type(buffer.scalar_type()), nccl_op(op), nccl_, stream.stream()));
      ++collective_calls_;
      apply_mean(buffer, op);
      unflatten_bucket(buffer, tensors, bucket);
    }
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    torch::NoGradGuard no_grad;
    c10::cuda::CUDAGuard guard(device_);
    auto stream = c10::cuda::getCurrentCUDAStream(device_.index());
    for (const auto& bucket : make_buckets(tensors)) {
      torch::Tensor buffer = flatten_bucket(tensors, bucket);
      DISA_NCCL_CHECK(ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), size_t(buffer.numel()),
                                    nccl_type(buffer.scalar_type()), root, nccl_, stream.stream()));
      ++collective_calls_;
      unflatten_bucket(buffer, tensors, bucket);
    }
  }

 private:
  torch::Device device_;
  ncclComm_t nccl_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm comm, const torch::Device& device) {
  return std::make_unique<NcclCommunicator>(comm, device);
}

bool nccl_compiled() { return true; }

std::string nccl_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "NCCL (version unknown)";
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return fmt::format("NCCL {}.{}.{}", v / 10000, (v % 10000) / 100, v % 100);
}

}  // namespace disa::dist

#else  // !DISA_WITH_CUDA

namespace disa::dist {

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm, const torch::Device& device) {
  throw core::ConfigError(
      fmt::format("device {} needs the NCCL communicator, but this disa was built without CUDA "
                  "(configure with -DDISA_WITH_CUDA=ON against a CUDA LibTorch)",
                  device.str()));
}

bool nccl_compiled() { return false; }
std::string nccl_version() { return "not compiled"; }

}  // namespace disa::dist

#endif
