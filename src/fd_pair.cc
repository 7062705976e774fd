#include "tether/fd_pair.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tether/failure.h"

namespace tether {

std::optional<FdPair> OpenPipe(std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = ErrnoMessage("pipe2");
    return std::nullopt;
  }
  return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::optional<FdPair> OpenSocketPair(int type, std::string* error) {
  int fds[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) {
    *error = ErrnoMessage("socketpair");
    return std::nullopt;
  }
  return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace tether
