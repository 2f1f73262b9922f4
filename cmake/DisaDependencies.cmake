# Finds the design-card stack and exposes it as imported targets:
#   Torch (torch), MPI::MPI_CXX, disa::hdf5 (parallel HDF5 only), Boost::program_options,
#   GTest, nlohmann_json, PkgConfig::PCRE2, ICU, fmt, spdlog, and optionally CUDA/NCCL.
include(FindPackageHandleStandardArgs)
find_package(Threads REQUIRED)

# --- LibTorch --------------------------------------------------------------------------
find_package(Torch REQUIRED)
set(DISA_TORCH_HAS_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR TARGET torch_cuda OR TARGET c10_cuda)
  set(DISA_TORCH_HAS_CUDA ON)
endif()

# --- MPI -------------------------------------------------------------------------------
find_package(MPI REQUIRED COMPONENTS C CXX)

# --- parallel HDF5 ---------------------------------------------------------------------
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "disa needs a parallel (MPI-IO) HDF5, but the HDF5 found is serial "
    "(${HDF5_C_INCLUDE_DIRS}). On Debian/Ubuntu: apt-get install libhdf5-openmpi-dev "
    "(tools/install-deps.sh does it); on a cluster load the parallel module "
    "(e.g. 'module load hdf5/parallel' or cray-hdf5-parallel) and set HDF5_ROOT.")
endif()
add_library(disa_hdf5 INTERFACE)
add_library(disa::hdf5 ALIAS disa_hdf5)
target_include_directories(disa_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS})
target_compile_definitions(disa_hdf5 INTERFACE ${HDF5_C_DEFINITIONS})
target_link_libraries(disa_hdf5 INTERFACE ${HDF5_C_LIBRARIES} MPI::MPI_C)

# --- the rest of the stack -------------------------------------------------------------
find_package(Boost 1.71 REQUIRED COMPONENTS program_options)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
find_package(ICU REQUIRED COMPONENTS uc i18n)
if(DISA_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# --- CUDA + NCCL (optional) ------------------------------------------------------------
set(DISA_NCCL_FOUND OFF)
if(DISA_WITH_CUDA)
  if(NOT DISA_TORCH_HAS_CUDA)
    message(FATAL_ERROR
      "DISA_WITH_CUDA=ON but the LibTorch found at ${Torch_DIR} was built without CUDA. "
      "Point CMAKE_PREFIX_PATH at a CUDA LibTorch 2.x (e.g. the one inside "
      "'python -c \"import torch;print(torch.utils.cmake_prefix_path)\"') "
      "or configure with -DDISA_WITH_CUDA=OFF.")
  endif()
  find_package(CUDAToolkit REQUIRED)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT} ENV NCCL_ROOT ENV NCCL_HOME ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY nccl HINTS ${NCCL_ROOT} ENV NCCL_ROOT ENV NCCL_HOME ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64)
  find_package_handle_standard_args(NCCL DEFAULT_MSG NCCL_INCLUDE_DIR NCCL_LIBRARY)
  if(NOT NCCL_FOUND)
    message(FATAL_ERROR "DISA_WITH_CUDA=ON needs NCCL: set NCCL_ROOT (environment or -DNCCL_ROOT) to the NCCL install.")
  endif()
  add_library(disa_nccl INTERFACE)
  add_library(disa::nccl ALIAS disa_nccl)
  target_include_directories(disa_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
  target_link_libraries(disa_nccl INTERFACE ${NCCL_LIBRARY} CUDA::cudart)
  # Global, so that every target shares the precompiled LibTorch header's definitions.
  add_compile_definitions(DISA_WITH_CUDA=1)
  set(DISA_NCCL_FOUND ON)
endif()
