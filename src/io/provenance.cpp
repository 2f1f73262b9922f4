// Run provenance attributes (include/disa/io/provenance.hpp).
#include "disa/io/provenance.hpp"

#include <ctime>

#include "disa/build_info.hpp"
#include "disa/core/config.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/io/hdf5.hpp"

namespace disa::io {

void write_run_provenance(h5::File& f, const core::Config& config, dist::Communicator& comm) {
  f.set_attr("/", "world_size", int64_t(comm.size()));
  f.set_attr("/", "code_version", fmt::format("disa {} ({})", DISA_VERSION_STRING, DISA_GIT_DESCRIBE));
  f.set_attr("/", "config", config.to_ini());
  std::string created;
  if (comm.rank() == 0) {
    std::time_t now = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    created = buf;
  }
  comm.broadcast(created, 0);
  f.set_attr("/", "created", created);
}

}  // namespace disa::io
