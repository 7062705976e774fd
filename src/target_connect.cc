#include "tether/target_connect.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "tether/listener.h"
#include "tether/message_text.h"
#include "tether/tcp_connect.h"

namespace tether {
namespace {

// Connected, or connecting (EINPROGRESS): either is a start.
bool Started(int fd, const sockaddr* address, socklen_t length) {
  int rc = 0;
  do {
    rc = connect(fd, address, length);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 || errno == EINPROGRESS;
}

UniqueFd StartUnix(const std::string& path, std::string* reason) {
  sockaddr_un address{};
  if (!UnixAddress(path, &address)) {
    *reason = "socket path too long";
    return UniqueFd();
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd || !Started(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address))) {
    // A Unix socket whose backlog is full says EAGAIN: the target is there but busy.
    *reason = std::strerror(errno);
    return UniqueFd();
  }
  return fd;
}

UniqueFd StartTcp(const Endpoint& target, std::string* reason) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(target.port);
  const int rc = getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    *reason = "cannot resolve " + EscapeForMessage(target.host) + ": " + gai_strerror(rc);
    return UniqueFd();
  }
  const AddrInfoPtr addresses(found);
  *reason = "no address";
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    UniqueFd fd(socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       address->ai_protocol));
    if (fd && Started(fd.get(), address->ai_addr, address->ai_addrlen)) {
      int one = 1;
      setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    *reason = std::strerror(errno);
  }
  return UniqueFd();
}

}  // namespace

UniqueFd StartTargetConnect(const Endpoint& target, std::string* reason) {
  return target.IsUnix() ? StartUnix(target.unix_path, reason) : StartTcp(target, reason);
}

}  // namespace tether
