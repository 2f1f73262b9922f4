// All ranks agree, at a round or step boundary, on stopping on request
// (core/stop_request.hpp: a signal received by any rank stops every rank at the same
// boundary, whether srun or mpirun delivered it to one rank or to all) and on one more
// rank-local flag (e.g. "a checkpoint is due" by rank 0's clock), in one all-reduce.
#pragma once

namespace disa::dist {

class Communicator;

struct BoundaryAgreement {
  int stop_signal = 0;  // the signal any rank received (the largest number if several), 0: none
  bool flag = false;    // `local_flag` of any rank
};

// Collective. Fault injection for the tests: with DISA_TEST_STOP_AT=N in the environment,
// rank 0 raises SIGTERM on itself just before its N-th call (1-based), so the real handler
// records it and the whole stop path runs at a deterministic boundary.
BoundaryAgreement agree_at_boundary(Communicator& comm, bool local_flag = false);

}  // namespace disa::dist
