// The provenance attributes every output file of a run carries, whatever its format:
// world_size, code_version ("disa VERSION (git describe)"), config (the resolved
// configuration as INI) and created (rank 0's UTC time, broadcast so that the
// collectively written attribute agrees on every rank).
#pragma once

namespace disa::core {
class Config;
}  // namespace disa::core
namespace disa::dist {
class Communicator;
}  // namespace disa::dist

namespace disa::io {
namespace h5 {
class File;
}

// Collective over `comm` (the file's communicator).
void write_run_provenance(h5::File& file, const core::Config& config, dist::Communicator& comm);

}  // namespace disa::io
