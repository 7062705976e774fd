#include "tether/tcp_connect.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "tether/logging.h"
#include "tether/message_text.h"

namespace tether {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kStoppedBySignal[] = "stopped by a signal before the tunnel was up";

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
  if (rc == EAI_ADDRFAMILY || (rc == EAI_NONAME && target.family != AF_UNSPEC)) {
    *failure = {ExitCode::kUnreachable,
                "could not resolve hostname " + EscapeForMessage(target.host) + " as an " +
                    (target.family == AF_INET ? "IPv4" : "IPv6") + " address: " + gai_strerror(rc)};
    return nullptr;
  }
  if (rc != 0) {
    *failure = {
        ExitCode::kUnreachable,
        "could not resolve hostname " + EscapeForMessage(target.host) + ": " + gai_strerror(rc)};
    return nullptr;
  }
  return AddrInfoPtr(result);
}

enum class WaitOutcome { kConnected, kFailed, kTimedOut, kInterrupted };

// Waits for a non-blocking connect() to finish, serving `background` meanwhile; *error gets
// the socket error on failure. kInterrupted leaves its reason in *failure.
WaitOutcome WaitConnected(int fd, const ConnectWait& wait, Clock::time_point deadline, int* error,
                          Failure* failure) {
  pollfd fds[2] = {{fd, POLLOUT, 0}, {wait.signal_fd, POLLIN, 0}};
  const int ready = PollServing(fds, wait.background, deadline, failure);
  if (ready < 0) return WaitOutcome::kInterrupted;
  if (ready == 0) return WaitOutcome::kTimedOut;
  if (fds[1].revents & POLLIN) {
    *failure = {ExitCode::kOk, kStoppedBySignal};
    return WaitOutcome::kInterrupted;
  }
  socklen_t len = sizeof(*error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, error, &len);
  return *error == 0 ? WaitOutcome::kConnected : WaitOutcome::kFailed;
}

// BindAddress: the local address to connect from, in the family of the remote one.
bool BindLocal(int fd, const addrinfo& remote, const std::string& address, std::string* reason) {
  addrinfo hints{};
  hints.ai_family = remote.ai_family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* local = nullptr;
  int rc = getaddrinfo(address.c_str(), nullptr, &hints, &local);
  if (rc != 0) {
    *reason = "BindAddress " + QuoteForMessage(address) + ": " + gai_strerror(rc);
    return false;
  }
  AddrInfoPtr owner(local);
  if (bind(fd, local->ai_addr, local->ai_addrlen) != 0) {
    *reason = "bind to " + QuoteForMessage(address) + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

// Sleeps `pause` unless a stop signal arrives or the background breaks first (then true,
// with the reason in *failure).
bool InterruptedDuring(std::chrono::milliseconds pause, const ConnectWait& wait, Failure* failure) {
  pollfd fds[1] = {{wait.signal_fd, POLLIN, 0}};
  const int ready = PollServing(fds, wait.background, Clock::now() + pause, failure);
  if (ready > 0) *failure = {ExitCode::kOk, kStoppedBySignal};
  return ready != 0;
}

void TuneSshSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Lets the kernel notice a dead network even when the SSH layer is quiet.
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

// "127.0.0.1", "::1": which of a name's addresses an attempt went to, for -v.
std::string NumericAddress(const addrinfo& address) {
  char host[NI_MAXHOST] = "?";
  getnameinfo(address.ai_addr, address.ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST);
  return host;
}

// One round over every address; kFailed leaves the reason of the last one in *failure.
WaitOutcome ConnectRound(const ConnectTarget& target, const addrinfo* addresses,
                         const ConnectWait& wait, UniqueFd* connected, Failure* failure) {
  auto deadline = Clock::now() + target.timeout;
  std::string last_reason = "no usable address";
  for (const addrinfo* ai = addresses; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      last_reason = std::strerror(errno);
      continue;
    }
    if (!target.bind_address.empty() &&
        !BindLocal(fd.get(), *ai, target.bind_address, &last_reason)) {
      continue;
    }
    int error = 0;
    WaitOutcome outcome = WaitOutcome::kConnected;
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_reason = std::strerror(errno);
        continue;
      }
      outcome = WaitConnected(fd.get(), wait, deadline, &error, failure);
    }
    if (outcome == WaitOutcome::kConnected) {
      TuneSshSocket(fd.get());
      *connected = std::move(fd);
      return outcome;
    }
    if (outcome == WaitOutcome::kInterrupted) return outcome;
    if (outcome == WaitOutcome::kTimedOut) {
      *failure = {ExitCode::kUnreachable, "connect to " + Describe(target) + ": timed out after " +
                                              std::to_string(target.timeout.count() / 1000) + "s"};
      return outcome;
    }
    last_reason = std::strerror(error);
    LogEventText(spdlog::level::debug, "connect_failed",
                 "connect to " + NumericAddress(*ai) + ": " + last_reason);
  }
  *failure = {ExitCode::kUnreachable, "connect to " + Describe(target) + ": " + last_reason};
  return WaitOutcome::kFailed;
}

}  // namespace

UniqueFd ConnectTcp(const ConnectTarget& target, const ConnectWait& wait, bool* interrupted,
                    Failure* failure) {
  *interrupted = false;
  AddrInfoPtr addresses = Resolve(target, failure);
  if (!addresses) return UniqueFd();
  for (int round = 1;; ++round) {
    UniqueFd connected;
    WaitOutcome outcome = ConnectRound(target, addresses.get(), wait, &connected, failure);
    if (outcome == WaitOutcome::kConnected) return connected;
    *interrupted = outcome == WaitOutcome::kInterrupted;
    if (*interrupted || round >= target.attempts) return UniqueFd();
    if (round == 1) {
      LogEvent(spdlog::level::info, "connect_retry", "{reason}; trying again ({attempts} attempts)",
               {{"reason", failure->message}, {"attempts", target.attempts}});
    }
    *interrupted = InterruptedDuring(std::chrono::seconds(1), wait, failure);
    if (*interrupted) return UniqueFd();
  }
}

}  // namespace tether
