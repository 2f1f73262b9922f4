// The process's MPI context: initialisation and finalisation (RAII), world rank and
// size, node-local rank and size (MPI_Comm_split_type SHARED), the node name, the check
// that srun started a real MPI job (SLURM_NTASKS vs world size), and the job-wide abort
// used when any rank fails.
#pragma once

#include <mpi.h>

#include <string>

namespace disa::dist {

class MpiContext {
 public:
  // Initialises MPI (MPI_THREAD_FUNNELED) unless already initialised; verifies the
  // Slurm task count. Only one context may exist.
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int num_nodes() const { return num_nodes_; }
  const std::string& node_name() const { return node_name_; }
  MPI_Comm world() const { return MPI_COMM_WORLD; }
  MPI_Comm node() const { return node_comm_; }
  bool is_root() const { return rank_ == 0; }

  // "Open MPI v4.1.4, ..." (MPI_Get_library_version, first line).
  static std::string library_version();

  // Ends the whole job with `code` (MPI_Abort); never returns.
  [[noreturn]] void abort(int code) const;

  // The one live context (throws DistError if none).
  static MpiContext& get();

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1, num_nodes_ = 1;
  std::string node_name_;
  MPI_Comm node_comm_ = MPI_COMM_NULL;
  bool owns_init_ = false;
};

}  // namespace disa::dist
