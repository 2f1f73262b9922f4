// The codes of the per-sample columns the stages store (finish reason, reward reason)
// and their names, one spelling for every file (h5::File::set_code_names).
#pragma once

#include <cstdint>

#include "disa/io/partition_file.hpp"
#include "disa/model/generate.hpp"

namespace disa::stage {

// partition::kFinishStop or partition::kFinishLength; named by partition::kFinishNames.
inline int8_t finish_code(model::FinishReason reason) {
  return reason == model::FinishReason::Stop ? io::partition::kFinishStop : io::partition::kFinishLength;
}

}  // namespace disa::stage
