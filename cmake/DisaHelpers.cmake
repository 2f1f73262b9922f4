# Helpers shared by every CMakeLists of the project: library definition with the common
# warnings and the LibTorch precompiled header, test registration (plain and under
# mpirun with 1 and 2 ranks), and the configure summary table.

set(DISA_WARNINGS -Wall -Wextra -Wno-unused-parameter)

# The LibTorch PCH is built once (on disa_torch_pch) and reused by every target that
# includes LibTorch; all of them must share its compile options.
function(disa_setup_torch_pch)
  if(TARGET disa_torch_pch)
    return()
  endif()
  add_library(disa_torch_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
  target_link_libraries(disa_torch_pch PUBLIC torch)
  target_compile_options(disa_torch_pch PRIVATE ${DISA_WARNINGS})
  if(DISA_USE_PCH)
    target_precompile_headers(disa_torch_pch PRIVATE <torch/torch.h>)
  endif()
endfunction()

# disa_add_library(NAME SOURCES ... DEPS ... [TORCH])
function(disa_add_library name)
  cmake_parse_arguments(A "TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                            ${PROJECT_BINARY_DIR}/generated)
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  target_compile_options(${name} PRIVATE ${DISA_WARNINGS})
  if(A_TORCH)
    disa_setup_torch_pch()
    target_link_libraries(${name} PUBLIC torch)
    if(DISA_USE_PCH)
      target_precompile_headers(${name} REUSE_FROM disa_torch_pch)
    endif()
  endif()
endfunction()

# Variables for running MPI programs in tests (as root in containers too).
set(DISA_MPIEXEC ${MPIEXEC_EXECUTABLE})
set(DISA_MPIEXEC_FLAGS --oversubscribe)
execute_process(COMMAND id -u OUTPUT_VARIABLE _disa_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_disa_uid STREQUAL "0")
  list(APPEND DISA_MPIEXEC_FLAGS --allow-run-as-root)
endif()
# Environment for every MPI test: no shared-memory single-copy (ptrace is refused in
# containers), ROMIO for MPI-IO (robust with HDF5 1.10), one thread per rank.
set(DISA_MPI_TEST_ENV
  OMPI_MCA_btl_vader_single_copy_mechanism=none
  OMPI_MCA_rmaps_base_oversubscribe=1
  OMP_NUM_THREADS=1)

# The project's Python (tools/install-deps.sh creates .venv with the pinned packages of
# tools/requirements.txt: torch, transformers, peft, tokenizers, h5py, ...): the reference
# implementations of the tests and the analysis tools. A test that needs it fails, never
# skips, when it is missing.
set(DISA_PYTHON ${PROJECT_SOURCE_DIR}/.venv/bin/python CACHE FILEPATH
    "Python with the packages of tools/requirements.txt (tests and tools)")
if(DISA_BUILD_TESTS AND NOT EXISTS ${DISA_PYTHON})
  message(WARNING "DISA_PYTHON=${DISA_PYTHON} does not exist: the reference tests will fail. "
                  "Run tools/install-deps.sh (it creates .venv) or set -DDISA_PYTHON=...")
endif()
# Real tokenizer.json files of the tests, unpacked at configure time (tests/CMakeLists.txt).
set(DISA_TEST_TOKENIZERS_DIR ${PROJECT_BINARY_DIR}/test_data/tokenizer)

# disa_add_test(NAME SOURCES ... DEPS ... [TORCH] [RANKS 1 2] [TIMEOUT s] [LABELS ...])
# Without RANKS the test runs as a plain process; with RANKS it runs once per rank count
# under mpiexec and is named NAME_npK.
function(disa_add_test name)
  cmake_parse_arguments(A "TORCH" "TIMEOUT" "SOURCES;DEPS;RANKS;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE ${DISA_WARNINGS})
  string(REPLACE ";" " " _mpirun "${DISA_MPIEXEC};${DISA_MPIEXEC_FLAGS}")
  target_compile_definitions(${name} PRIVATE
    DISA_MPIRUN="${_mpirun}"
    DISA_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
    DISA_TEST_TOKENIZERS_DIR="${DISA_TEST_TOKENIZERS_DIR}"
    DISA_PYTHON="${DISA_PYTHON}"
    DISA_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    DISA_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(A_TORCH AND DISA_USE_PCH)
    disa_setup_torch_pch()
    target_link_libraries(${name} PRIVATE torch)
    target_precompile_headers(${name} REUSE_FROM disa_torch_pch)
  endif()
  if(A_RANKS)
    foreach(np ${A_RANKS})
      add_test(NAME ${name}_np${np}
               COMMAND ${DISA_MPIEXEC} ${DISA_MPIEXEC_FLAGS} -np ${np} $<TARGET_FILE:${name}>)
      set_tests_properties(${name}_np${np} PROPERTIES TIMEOUT ${A_TIMEOUT}
        ENVIRONMENT "${DISA_MPI_TEST_ENV}" LABELS "mpi;${A_LABELS}" PROCESSORS ${np})
    endforeach()
  else()
    add_test(NAME ${name} COMMAND $<TARGET_FILE:${name}>)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${A_TIMEOUT}
      ENVIRONMENT "${DISA_MPI_TEST_ENV}" LABELS "${A_LABELS}")
  endif()
endfunction()

function(disa_print_summary)
  set(rows
    "disa version|${PROJECT_VERSION} (${DISA_GIT_DESCRIBE})"
    "build type|${CMAKE_BUILD_TYPE}"
    "C++ compiler|${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
    "LibTorch|${Torch_VERSION} (${Torch_DIR})"
    "LibTorch has CUDA|${DISA_TORCH_HAS_CUDA}"
    "CUDA + NCCL (DISA_WITH_CUDA)|${DISA_WITH_CUDA}"
    "MPI|standard ${MPI_CXX_VERSION}, ${MPIEXEC_EXECUTABLE}"
    "HDF5|${HDF5_VERSION} parallel=${HDF5_IS_PARALLEL}"
    "Boost|${Boost_VERSION}"
    "nlohmann_json|${nlohmann_json_VERSION}"
    "PCRE2|${PCRE2_VERSION}"
    "ICU|${ICU_VERSION}"
    "fmt / spdlog|${fmt_VERSION} / ${spdlog_VERSION}"
    "precompiled LibTorch header|${DISA_USE_PCH}"
    "tests|${DISA_BUILD_TESTS}")
  set(width 0)
  foreach(r ${rows})
    string(REPLACE "|" ";" kv "${r}")
    list(GET kv 0 k)
    string(LENGTH "${k}" l)
    if(l GREATER width)
      set(width ${l})
    endif()
  endforeach()
  message(STATUS "+-------------------------------- disa configuration ---------------------------------")
  foreach(r ${rows})
    string(REPLACE "|" ";" kv "${r}")
    list(GET kv 0 k)
    list(GET kv 1 v)
    string(LENGTH "${k}" l)
    math(EXPR pad "${width} - ${l}")
    string(REPEAT " " ${pad} sp)
    string(SUBSTRING "${v}" 0 60 v)
    message(STATUS "| ${k}${sp} : ${v}")
  endforeach()
  message(STATUS "+-------------------------------------------------------------------------------------")
endfunction()
