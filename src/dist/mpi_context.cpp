// MPI initialisation, node-local ranks and the srun/PMI sanity check.
#include "disa/dist/mpi_context.hpp"

#include <cstdlib>
#include <string>

#include "disa/dist/mpi_check.hpp"

namespace disa::dist {

namespace detail {
void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) len = 0;
  throw core::DistError(fmt::format("MPI call {} failed at {}: {}", call, core::source_location(file, line),
                                    len ? std::string(msg, len) : fmt::format("error code {}", code)));
}
}  // namespace detail

namespace {
MpiContext* g_context = nullptr;
}

MpiContext::MpiContext(int* argc, char*** argv) {
  if (g_context) throw core::DistError("MpiContext created twice");
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw core::DistError("MPI_Init_thread failed");
    owns_init_ = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  DISA_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  DISA_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  DISA_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_comm_));
  DISA_MPI_CHECK(MPI_Comm_rank(node_comm_, &local_rank_));
  DISA_MPI_CHECK(MPI_Comm_size(node_comm_, &local_size_));
  int is_leader = local_rank_ == 0 ? 1 : 0;
  DISA_MPI_CHECK(MPI_Allreduce(&is_leader, &num_nodes_, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  DISA_MPI_CHECK(MPI_Get_processor_name(name, &len));
  node_name_.assign(name, len);
  g_context = this;

  // srun without PMI support starts N singletons of world size 1 each: every one would
  // redo the whole job. Refuse loudly instead.
  if (const char* ntasks = std::getenv("SLURM_NTASKS")) {
    char* end = nullptr;
    long n = std::strtol(ntasks, &end, 10);
    if (end != ntasks && n > 1 && n != size_ && std::getenv("DISA_IGNORE_SLURM_NTASKS") == nullptr) {
      std::string msg = fmt::format(
          "SLURM_NTASKS={} but the MPI world has {} rank(s): srun started independent "
          "singletons (no PMI). Launch with 'srun --mpi=pmix' (or pmi2, see 'srun --mpi=list'), "
          "or with mpirun inside the allocation; set DISA_IGNORE_SLURM_NTASKS=1 to override.",
          n, size_);
      throw core::DistError(msg);
    }
  }
}

MpiContext::~MpiContext() {
  if (node_comm_ != MPI_COMM_NULL) MPI_Comm_free(&node_comm_);
  g_context = nullptr;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_init_ && !finalized) MPI_Finalize();
}

std::string MpiContext::library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, len);
  auto nl = s.find_first_of("\r\n");
  if (nl != std::string::npos) s = s.substr(0, nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == ',' || s.back() == '\0')) s.pop_back();
  return s;
}

void MpiContext::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

MpiContext& MpiContext::get() {
  if (!g_context) throw core::DistError("no MPI context: construct disa::MpiContext first");
  return *g_context;
}

}  // namespace disa::dist
