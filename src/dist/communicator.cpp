// Backend-independent parts of the communicator: host-value collectives over MPI,
// variable-size all-gather, prefix sums, the log-sum-exp all-reduce and bucketing.
#include "disa/dist/communicator.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "disa/core/logsumexp.hpp"
#include "disa/dist/mpi_check.hpp"

namespace disa::dist {

namespace {

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_SUM;
}

// MPI_Op combining (max, scaled_sum) pairs: see core/logsumexp.hpp.
void logsumexp_pair_op(void* in, void* inout, int* len, MPI_Datatype*) {
  auto* a = static_cast<core::LogSumExp*>(in);
  auto* b = static_cast<core::LogSumExp*>(inout);
  for (int i = 0; i < *len; ++i) b[i].merge(a[i]);
}

struct LogSumExpMpiTypes {
  MPI_Datatype pair = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
  LogSumExpMpiTypes() {
    static_assert(sizeof(core::LogSumExp) == 2 * sizeof(double), "LogSumExp must be two doubles");
    DISA_MPI_CHECK(MPI_Type_contiguous(2, MPI_DOUBLE, &pair));
    DISA_MPI_CHECK(MPI_Type_commit(&pair));
    DISA_MPI_CHECK(MPI_Op_create(&logsumexp_pair_op, /*commute=*/1, &op));
  }
};

// Created on first use, after MPI_Init; freed by MPI_Finalize.
const LogSumExpMpiTypes& logsumexp_types() {
  static LogSumExpMpiTypes types;
  return types;
}

}  // namespace

Communicator::Communicator(MPI_Comm comm) {
  DISA_MPI_CHECK(MPI_Comm_dup(comm, &comm_));
  DISA_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  DISA_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  DISA_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  if (const char* mb = std::getenv("DISA_BUCKET_MB")) {
    long v = std::strtol(mb, nullptr, 10);
    if (v > 0) bucket_bytes_ = size_t(v) << 20;
  }
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void Communicator::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  std::vector<torch::Tensor> v{tensor};
  all_reduce(v, op);
}

double Communicator::all_reduce(double value, ReduceOp op) {
  double out = 0;
  DISA_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, to_mpi(op), comm_));
  return op == ReduceOp::Mean ? out / size_ : out;
}

int64_t Communicator::all_reduce(int64_t value, ReduceOp op) {
  int64_t out = 0;
  DISA_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, to_mpi(op), comm_));
  return op == ReduceOp::Mean ? out / size_ : out;
}

void Communicator::all_reduce(std::vector<double>& values, ReduceOp op) {
  if (values.empty()) return;
  DISA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, to_mpi(op), comm_));
  if (op == ReduceOp::Mean)
    for (auto& v : values) v /= size_;
}

void Communicator::all_reduce(std::vector<int64_t>& values, ReduceOp op) {
  if (values.empty()) return;
  DISA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_INT64_T, to_mpi(op), comm_));
  if (op == ReduceOp::Mean)
    for (auto& v : values) v /= size_;
}

int64_t Communicator::exclusive_prefix_sum(int64_t value) {
  int64_t out = 0;
  DISA_MPI_CHECK(MPI_Exscan(&value, &out, 1, MPI_INT64_T, MPI_SUM, comm_));
  return rank_ == 0 ? 0 : out;  // MPI leaves rank 0's result undefined
}

void Communicator::broadcast(std::string& bytes, int root) {
  int64_t n = int64_t(bytes.size());
  DISA_MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, root, comm_));
  bytes.resize(size_t(n));
  if (n > 0) DISA_MPI_CHECK(MPI_Bcast(bytes.data(), int(n), MPI_BYTE, root, comm_));
}

void Communicator::broadcast(std::vector<double>& values, int root) {
  int64_t n = int64_t(values.size());
  DISA_MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, root, comm_));
  values.resize(size_t(n));
  if (n > 0) DISA_MPI_CHECK(MPI_Bcast(values.data(), int(n), MPI_DOUBLE, root, comm_));
}

void Communicator::barrier() { DISA_MPI_CHECK(MPI_Barrier(comm_)); }

std::vector<std::string> Communicator::all_gather(const std::string& bytes) {
  DISA_CHECK(bytes.size() < size_t(std::numeric_limits<int>::max()), DistError,
             "all_gather: buffer of {} bytes exceeds MPI's int count", bytes.size());
  int local = int(bytes.size());
  std::vector<int> counts(size_), displs(size_);
  DISA_MPI_CHECK(MPI_Allgather(&local, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_));
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    displs[r] = int(total);
    total += counts[r];
  }
  DISA_CHECK(total < std::numeric_limits<int>::max(), DistError,
             "all_gather: {} bytes in total exceed MPI's int displacement", total);
  std::string all(size_t(total), '\0');
  DISA_MPI_CHECK(
      MPI_Allgatherv(bytes.data(), local, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, comm_));
  std::vector<std::string> out(size_);
  for (int r = 0; r < size_; ++r) out[r] = all.substr(size_t(displs[r]), size_t(counts[r]));
  return out;
}

void Communicator::all_reduce_logsumexp(std::vector<double>& log_values) {
  if (log_values.empty()) return;
  std::vector<core::LogSumExp> pairs(log_values.size());
  for (size_t i = 0; i < log_values.size(); ++i) {
    DISA_CHECK(!std::isnan(log_values[i]) && log_values[i] != std::numeric_limits<double>::infinity(), DistError,
               "all_reduce_logsumexp: entry {} is {} (must be finite or -inf)", i, log_values[i]);
    pairs[i].add(log_values[i]);
  }
  const auto& t = logsumexp_types();
  DISA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, pairs.data(), int(pairs.size()), t.pair, t.op, comm_));
  for (size_t i = 0; i < log_values.size(); ++i) log_values[i] = pairs[i].value();
}

torch::Tensor Communicator::flatten_bucket(const std::vector<torch::Tensor>& tensors, const std::vector<size_t>& bucket,
                                           std::optional<torch::ScalarType> wire) {
  std::vector<torch::Tensor> flat;
  flat.reserve(bucket.size());
  for (size_t i : bucket) {
    torch::Tensor t = tensors[i].detach().reshape({-1});
    flat.push_back(wire ? t.to(torch::kCPU, *wire) : t);
  }
  return flat.size() == 1 ? flat[0].contiguous().clone() : torch::cat(flat);
}

void Communicator::apply_mean(torch::Tensor& buffer, ReduceOp op) const {
  if (op != ReduceOp::Mean) return;
  if (buffer.is_floating_point())
    buffer.div_(double(size_));
  else
    buffer.div_(size_, "trunc");
}

void Communicator::unflatten_bucket(const torch::Tensor& buffer, std::vector<torch::Tensor>& tensors,
                                    const std::vector<size_t>& bucket) {
  int64_t offset = 0;
  for (size_t i : bucket) {
    auto& t = tensors[i];
    t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

std::vector<std::vector<size_t>> Communicator::make_buckets(const std::vector<torch::Tensor>& tensors) const {
  // Group by dtype and device, keep the order within a group, cut at bucket_bytes.
  std::vector<std::vector<size_t>> buckets;
  std::vector<std::pair<std::string, size_t>> open;  // (dtype/device key, bucket index)
  std::vector<size_t> bytes_in;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    std::string key = std::string(c10::toString(t.scalar_type())) + "@" + t.device().str();
    size_t nbytes = size_t(t.numel()) * t.element_size();
    size_t b = SIZE_MAX;
    for (auto& [k, idx] : open)
      if (k == key) b = idx;
    if (b == SIZE_MAX || (bytes_in[b] + nbytes > bucket_bytes_ && !buckets[b].empty())) {
      buckets.emplace_back();
      bytes_in.push_back(0);
      b = buckets.size() - 1;
      bool replaced = false;
      for (auto& [k, idx] : open)
        if (k == key) idx = b, replaced = true;
      if (!replaced) open.emplace_back(key, b);
    }
    buckets[b].push_back(i);
    bytes_in[b] += nbytes;
  }
  return buckets;
}

std::unique_ptr<Communicator> make_communicator(MPI_Comm comm, const torch::Device& device) {
  if (device.is_cuda()) return make_nccl_communicator(comm, device);
  return make_mpi_communicator(comm);
}

}  // namespace disa::dist
