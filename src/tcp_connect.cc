#include "tether/tcp_connect.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "tether/message_text.h"

namespace tether {
namespace {

using Clock = std::chrono::steady_clock;

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

std::string Describe(const ConnectTarget& target) {
  bool v6 = target.host.find(':') != std::string::npos;
  return (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
}

AddrInfoPtr Resolve(const ConnectTarget& target, Failure* failure) {
  addrinfo hints{};
  hints.ai_family = target.family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* result = nullptr;
  std::string port = std::to_string(target.port);
  int rc = getaddrinfo(target.host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) {
    *failure = {ExitCode::kUnreachable,
                "could not resolve hostname " + EscapeForMessage(target.host) + ": " + gai_strerror(rc)};
    return nullptr;
  }
  return AddrInfoPtr(result);
}

enum class WaitOutcome { kConnected, kFailed, kTimedOut, kInterrupted };

// Waits for a non-blocking connect() to finish; *error gets the socket error on failure.
WaitOutcome WaitConnected(int fd, int signal_fd, Clock::time_point deadline, int* error) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return WaitOutcome::kTimedOut;
    pollfd fds[2] = {{fd, POLLOUT, 0}, {signal_fd, POLLIN, 0}};
    int n = poll(fds, signal_fd >= 0 ? 2 : 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = errno;
      return WaitOutcome::kFailed;
    }
    if (signal_fd >= 0 && (fds[1].revents & POLLIN)) return WaitOutcome::kInterrupted;
    if (fds[0].revents == 0) continue;
    socklen_t len = sizeof(*error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, error, &len);
    return *error == 0 ? WaitOutcome::kConnected : WaitOutcome::kFailed;
  }
}

void TuneSshSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Lets the kernel notice a dead network even when the SSH layer is quiet.
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

}  // namespace

UniqueFd ConnectTcp(const ConnectTarget& target, int signal_fd, bool* interrupted,
                    Failure* failure) {
  *interrupted = false;
  AddrInfoPtr addresses = Resolve(target, failure);
  if (!addresses) return UniqueFd();
  auto deadline = Clock::now() + target.timeout;
  std::string last_reason = "no usable address";
  for (addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol));
    if (!fd) {
      last_reason = std::strerror(errno);
      continue;
    }
    int error = 0;
    WaitOutcome outcome = WaitOutcome::kConnected;
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_reason = std::strerror(errno);
        continue;
      }
      outcome = WaitConnected(fd.get(), signal_fd, deadline, &error);
    }
    switch (outcome) {
      case WaitOutcome::kConnected:
        TuneSshSocket(fd.get());
        return fd;
      case WaitOutcome::kInterrupted:
        *interrupted = true;
        return UniqueFd();
      case WaitOutcome::kTimedOut:
        *failure = {ExitCode::kUnreachable,
                    "connect to " + Describe(target) + ": timed out after " +
                        std::to_string(target.timeout.count() / 1000) + "s"};
        return UniqueFd();
      case WaitOutcome::kFailed:
        last_reason = std::strerror(error);
        break;
    }
  }
  *failure = {ExitCode::kUnreachable, "connect to " + Describe(target) + ": " + last_reason};
  return UniqueFd();
}

}  // namespace tether
