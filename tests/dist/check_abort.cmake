# Runs `disa smoke` on 2 ranks with a fault injected on rank 1 while rank 0 waits in a
# barrier. Passes when the job ends (no hang) with a non-zero exit code and rank 1's
# message on stderr.
string(TIMESTAMP start "%s")
set(flags ${MPIEXEC_FLAGS})
execute_process(
  COMMAND ${MPIEXEC} ${flags} -np 2 ${DISA} smoke --smoke.fail-on-rank 1 --smoke.out /tmp/disa_abort_test.h5
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 45)
string(TIMESTAMP end "%s")
math(EXPR elapsed "${end} - ${start}")
message(STATUS "exit: ${rc}, ${elapsed} s\n${err}")
if(rc STREQUAL "0")
  message(FATAL_ERROR "the job exited 0 although rank 1 failed")
endif()
if(rc MATCHES "timeout|Process terminated")
  message(FATAL_ERROR "the job hung: ${rc}")
endif()
if(NOT err MATCHES "\\[rank 1\\] disa: data error: fault injected on rank 1")
  message(FATAL_ERROR "rank 1's message is missing from stderr")
endif()
