// Internal to the sandbox (src/tasks/sandbox*.cpp): owning file descriptors. Every
// descriptor the sandbox opens in the parent is held by a UniqueFd, so an early return
// or an exception closes it and no error path has to list the open ones by hand. After
// fork the children never run destructors (they leave through execve or _exit), so they
// work with the raw numbers (`get()`), prepared before fork.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

namespace disa::tasks::sandbox_detail {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the held descriptor (if any) and takes `fd`. errno is kept, so an error
  // message built after an unwinding close still names the call that failed. Only
  // close(2): safe in a forked child too.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) {
      const int saved = errno;
      ::close(fd_);
      errno = saved;
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A close-on-exec pipe. The write end is handed to a child, which dup2()s it onto
// stdout/stderr (the copy loses close-on-exec) or writes to it until exec closes it;
// the parent drops its own write end right after fork so that EOF can arrive.
struct Pipe {
  UniqueFd read;
  UniqueFd write;

  // A new pipe, or nullopt with errno from pipe2.
  static std::optional<Pipe> open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

}  // namespace disa::tasks::sandbox_detail
