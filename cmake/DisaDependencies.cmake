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
# A torch wheel keeps its CUDA libraries in site-packages/nvidia/*/lib (cudart, cuBLAS,
# cuDNN, NCCL, ...), found by LibTorch's own RUNPATH. Those folders go first on every
# link's rpath (and rpath-link), before the system CUDA toolkit's lib folder that CMake adds
# for CUDA::cudart: one process then loads one libcudart and one libnccl, LibTorch's.
set(DISA_TORCH_WHEEL_LIB_DIRS "")
get_filename_component(_disa_torch_pkg "${Torch_DIR}/../../.." ABSOLUTE)
file(GLOB _disa_wheel_libs LIST_DIRECTORIES true "${_disa_torch_pkg}/../nvidia/*/lib")
foreach(dir ${_disa_wheel_libs})
  get_filename_component(dir "${dir}" ABSOLUTE)
  list(APPEND DISA_TORCH_WHEEL_LIB_DIRS ${dir})
  add_link_options("LINKER:-rpath,${dir}" "LINKER:-rpath-link,${dir}")
endforeach()

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
# LibTorch 2.x ships a copy of fmt's headers (fmt 12) in its include folder, which comes
# before the system one: disa would then compile against fmt 12 and link Debian's libfmt
# (fmt 9) and libspdlog (built on fmt 9). A folder holding only a link to the system fmt
# headers goes first on every target's include path, so that the headers disa compiles
# against are those of the libfmt it links (fmt's inline namespaces keep LibTorch's own,
# internal fmt apart).
get_target_property(_disa_fmt_includes fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
find_path(DISA_FMT_INCLUDE_DIR fmt/format.h HINTS ${_disa_fmt_includes} NO_CMAKE_PATH
          NO_CMAKE_ENVIRONMENT_PATH)
if(NOT DISA_FMT_INCLUDE_DIR)
  message(FATAL_ERROR "fmt's headers (fmt/format.h) not found next to the fmt package")
endif()
set(DISA_PINNED_INCLUDE_DIR ${PROJECT_BINARY_DIR}/pinned-include)
file(MAKE_DIRECTORY ${DISA_PINNED_INCLUDE_DIR})
file(CREATE_LINK ${DISA_FMT_INCLUDE_DIR}/fmt ${DISA_PINNED_INCLUDE_DIR}/fmt SYMBOLIC)
include_directories(BEFORE SYSTEM ${DISA_PINNED_INCLUDE_DIR})
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
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${NCCL_ROOT} ENV NCCL_ROOT ENV NCCL_HOME ${CUDAToolkit_LIBRARY_DIR}
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
