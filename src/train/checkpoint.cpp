// Checkpoint directories (include/disa/train/checkpoint.hpp).
#include "disa/train/checkpoint.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "disa/core/error.hpp"
#include "disa/core/log.hpp"
#include "disa/io/hdf5.hpp"

namespace disa::train {

namespace fs = std::filesystem;

std::string checkpoint_dir(const std::string& out_dir, int64_t step) {
  return fmt::format("{}/checkpoints/step-{:06d}", out_dir, step);
}

std::string partial_dir(const std::string& out_dir, int64_t step) { return checkpoint_dir(out_dir, step) + ".partial"; }

void publish_checkpoint(const std::string& out_dir, int64_t step) {
  const std::string dst = checkpoint_dir(out_dir, step);
  std::error_code ec;
  fs::remove_all(dst, ec);
  fs::rename(partial_dir(out_dir, step), dst, ec);
  DISA_CHECK(!ec, IoError, "cannot rename checkpoint '{}' to '{}': {}", partial_dir(out_dir, step), dst, ec.message());
}

void write_state(const std::string& dir, const CheckpointState& s) {
  nlohmann::json j{{"step", s.step},
                   {"metric_rows", s.metric_rows},
                   {"algorithm", s.algorithm},
                   {"seed", s.seed},
                   {"world_size", s.world_size},
                   {"guard",
                    {{"recent_loss", s.guard.recent_loss},
                     {"recent_grad_norm", s.guard.recent_grad_norm},
                     {"consecutive_skips", s.guard.consecutive_skips},
                     {"skipped_updates", s.guard.skipped_updates}}}};
  std::ofstream out(dir + "/state.json");
  out << j.dump(2) << "\n";
  DISA_CHECK(out.good(), IoError, "cannot write '{}/state.json'", dir);
}

CheckpointState read_state(const std::string& dir) {
  const std::string path = dir + "/state.json";
  std::ifstream in(path);
  DISA_CHECK(in.good(), IoError, "cannot read '{}'", path);
  nlohmann::json j;
  try {
    in >> j;
    CheckpointState s;
    s.step = j.at("step").get<int64_t>();
    s.metric_rows = j.at("metric_rows").get<int64_t>();
    s.algorithm = j.at("algorithm").get<std::string>();
    s.seed = j.at("seed").get<int64_t>();
    s.world_size = j.at("world_size").get<int64_t>();
    if (j.contains("guard")) {
      const auto& g = j.at("guard");
      s.guard.recent_loss = g.at("recent_loss").get<std::deque<double>>();
      s.guard.recent_grad_norm = g.at("recent_grad_norm").get<std::deque<double>>();
      s.guard.consecutive_skips = g.at("consecutive_skips").get<int64_t>();
      s.guard.skipped_updates = g.at("skipped_updates").get<int64_t>();
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    DISA_THROW(DataError, "'{}': {}", path, e.what());
  }
}

void mark_complete(const std::string& dir) {
  std::ofstream out(dir + "/COMPLETE");
  out << "complete\n";
  DISA_CHECK(out.good(), IoError, "cannot write '{}/COMPLETE'", dir);
}

namespace {
std::vector<fs::path> complete_checkpoints(const std::string& out_dir) {
  std::vector<fs::path> found;
  const fs::path root = fs::path(out_dir) / "checkpoints";
  if (!fs::is_directory(root)) return found;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && name.find('.') == std::string::npos &&
        fs::exists(e.path() / "COMPLETE"))
      found.push_back(e.path());
  }
  std::sort(found.begin(), found.end());  // zero-padded step numbers sort by step
  return found;
}
}  // namespace

std::optional<std::string> latest_complete_checkpoint(const std::string& out_dir) {
  auto found = complete_checkpoints(out_dir);
  if (found.empty()) return std::nullopt;
  return found.back().string();
}

void prune_checkpoints(const std::string& out_dir, int64_t keep) {
  if (keep <= 0) return;
  auto found = complete_checkpoints(out_dir);
  for (size_t i = 0; i + size_t(keep) < found.size(); ++i) fs::remove_all(found[i]);
}

std::optional<ResumePoint> find_resume_point(const std::string& out_dir, const std::string& algorithm, uint64_t seed) {
  auto dir = latest_complete_checkpoint(out_dir);
  if (!dir) {
    core::log::warn("train: --train.resume given but '{}/checkpoints' has no complete checkpoint; starting at step 0",
                    out_dir);
    return std::nullopt;
  }
  ResumePoint r{*dir, read_state(*dir)};
  DISA_CHECK(r.state.algorithm == algorithm, ConfigError,
             "option --train.resume: checkpoint '{}' is of algorithm '{}', the run is '{}'", r.dir, r.state.algorithm,
             algorithm);
  DISA_CHECK(uint64_t(r.state.seed) == seed, ConfigError,
             "option --train.resume: checkpoint '{}' was trained with seed {}, the run has --train.seed {}", r.dir,
             r.state.seed, seed);
  return r;
}

void refuse_existing_run(const std::string& out_dir) {
  const bool has_metrics = fs::exists(out_dir + "/train.h5") ||
                           fs::exists(out_dir + "/train.h5" + io::h5::kIncompleteSuffix);
  DISA_CHECK(!has_metrics && !latest_complete_checkpoint(out_dir), ConfigError,
             "option --train.out: '{}' already holds a training run (train.h5 or checkpoints); continue it with "
             "--train.resume, or choose another --train.out (or delete it)",
             out_dir);
}

}  // namespace disa::train
