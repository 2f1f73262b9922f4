// DISA_MPI_CHECK(call): runs an MPI call and turns a failure into a DistError naming
// the source location and MPI's own error string. MPI_COMM_WORLD is set to
// MPI_ERRORS_RETURN by MpiContext so that failures come back here.
#pragma once

#include <mpi.h>

#include <string>

#include "disa/core/error.hpp"

namespace disa::dist::detail {
[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);
}

#define DISA_MPI_CHECK(call)                                                                                         \
  do {                                                                                                               \
    int disa_mpi_rc_ = (call);                                                                                       \
    if (disa_mpi_rc_ != MPI_SUCCESS) ::disa::dist::detail::throw_mpi_error(disa_mpi_rc_, #call, __FILE__, __LINE__); \
  } while (0)
