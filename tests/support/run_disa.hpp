// Runs the built `disa` binary from a test, on 1 rank or under mpirun (DISA_MPIRUN, set
// for every test by disa_add_test), capturing stdout and stderr together. Commands get
// `--log.level warn` unless they set a level themselves.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace disa::testing_support {

struct RunResult {
  int exit_code = -1;
  std::string output;
};

// `work_dir` holds the log of the last run.
inline RunResult run_disa(const std::string& work_dir, const std::string& args, int np = 1) {
  std::filesystem::create_directories(work_dir);
  const std::string log = work_dir + "/last_run.log";
  const std::string quiet = args.find("--log.level") == std::string::npos ? " --log.level warn" : "";
  const std::string binary = std::string(DISA_BINARY_DIR) + "/disa";
  const std::string cmd = (np > 1 ? std::string(DISA_MPIRUN) + " -np " + std::to_string(np) + " " : "") + binary + " " +
                          args + quiet + " > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

// Sets an environment variable for the runs in its scope (the disa processes, mpirun's
// included, inherit it), e.g. DISA_TEST_STOP_AT (dist/stop_agreement.hpp).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

}  // namespace disa::testing_support
