// Shared helpers of the model tests: temporary directories, small configurations and
// fixture paths.
#pragma once

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "disa/model/config.hpp"

namespace disa::test {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("disa_model_" + tag + "_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string model_fixture(const std::string& name) { return std::string(DISA_TEST_DATA_DIR) + "/model/" + name; }

inline model::ModelConfig fixture_config(const std::string& name) {
  std::ifstream in(model_fixture(name));
  return model::ModelConfig::from_json(nlohmann::json::parse(in), model_fixture(name));
}

}  // namespace disa::test
