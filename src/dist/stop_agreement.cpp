// The collective stop decision at a boundary (include/disa/dist/stop_agreement.hpp).
#include "disa/dist/stop_agreement.hpp"

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "disa/core/error.hpp"
#include "disa/core/stop_request.hpp"
#include "disa/dist/communicator.hpp"

namespace disa::dist {
namespace {

// DISA_TEST_STOP_AT as a positive count, or 0 when unset.
int64_t injected_stop_call() {
  const char* v = std::getenv("DISA_TEST_STOP_AT");
  if (!v || !*v) return 0;
  try {
    size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == std::string(v).size() && n > 0) return int64_t(n);
  } catch (const std::exception&) {
  }
  DISA_THROW(ConfigError, "environment variable DISA_TEST_STOP_AT='{}': expected a positive call count", v);
}

}  // namespace

BoundaryAgreement agree_at_boundary(Communicator& comm, bool local_flag) {
  static int64_t calls = 0;
  static const int64_t stop_at = injected_stop_call();
  ++calls;
  if (stop_at > 0 && calls == stop_at && comm.rank() == 0) std::raise(SIGTERM);
  std::vector<int64_t> v{core::stop_signal(), local_flag ? 1 : 0};
  comm.all_reduce(v, ReduceOp::Max);
  return {int(v[0]), v[1] != 0};
}

}  // namespace disa::dist
