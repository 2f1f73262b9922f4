// Exit codes and names of the typed errors.
#include "disa/core/error.hpp"

#include <cstring>

namespace disa::core {

int Error::exit_code() const {
  switch (kind_) {
    case ErrorKind::Config: return 2;
    case ErrorKind::Io: return 3;
    case ErrorKind::Data: return 4;
    case ErrorKind::Distributed: return 5;
    case ErrorKind::Model: return 6;
    case ErrorKind::Generic: break;
  }
  return 1;
}

const char* Error::kind_name() const {
  switch (kind_) {
    case ErrorKind::Config: return "configuration error";
    case ErrorKind::Io: return "I/O error";
    case ErrorKind::Data: return "data error";
    case ErrorKind::Distributed: return "distributed error";
    case ErrorKind::Model: return "model error";
    case ErrorKind::Generic: break;
  }
  return "error";
}

std::string source_location(const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  // Keep the path from src/ or include/ on so the location is unambiguous.
  const char* src = std::strstr(file, "/src/");
  const char* inc = std::strstr(file, "/include/");
  const char* shown = src ? src + 1 : inc ? inc + 1 : base ? base + 1 : file;
  return fmt::format("{}:{}", shown, line);
}

}  // namespace disa::core
