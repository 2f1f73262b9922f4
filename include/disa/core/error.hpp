// Typed exceptions of disa and the check macros that raise them. Every error the user
// can cause names the file, line or option; every failed library call names the source
// location and the library's own message (see dist/mpi_check.hpp, io/hdf5.hpp).
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace disa::core {

enum class ErrorKind { Generic, Config, Io, Distributed, Data, Model };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorKind kind = ErrorKind::Generic)
      : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  // Process exit code for this kind of error (documented in docs/troubleshooting.md).
  int exit_code() const;
  const char* kind_name() const;

 private:
  ErrorKind kind_;
};

// A bad option, option value, configuration file or combination of them.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what) : Error(what, ErrorKind::Config) {}
};
// A file that cannot be read or written, or does not have the expected format.
class IoError : public Error {
 public:
  explicit IoError(const std::string& what) : Error(what, ErrorKind::Io) {}
};
// An MPI/NCCL failure or ranks that disagree.
class DistError : public Error {
 public:
  explicit DistError(const std::string& what) : Error(what, ErrorKind::Distributed) {}
};
// Malformed or inconsistent data (data set records, trajectories, anchors).
class DataError : public Error {
 public:
  explicit DataError(const std::string& what) : Error(what, ErrorKind::Data) {}
};
// Model directories, weights, tokenizers and architectures.
class ModelError : public Error {
 public:
  explicit ModelError(const std::string& what) : Error(what, ErrorKind::Model) {}
};

// "file.cpp:123" for a source location, used by the library-call check macros.
std::string source_location(const char* file, int line);

}  // namespace disa::core

// DISA_THROW(ConfigError, "option --{}: must be > 0", name)
#define DISA_THROW(ErrorType, ...) throw ::disa::core::ErrorType(::fmt::format(__VA_ARGS__))

// DISA_CHECK(n > 0, DataError, "prompt {} has no samples", id)
#define DISA_CHECK(cond, ErrorType, ...)             \
  do {                                               \
    if (!(cond)) DISA_THROW(ErrorType, __VA_ARGS__); \
  } while (0)

// Internal invariant: failure is a bug in disa, reported with the source location.
#define DISA_ASSERT(cond)                                                                          \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      throw ::disa::core::Error(::fmt::format("internal error: '{}' failed at {}", #cond,          \
                                              ::disa::core::source_location(__FILE__, __LINE__))); \
  } while (0)
