#include "tether/session_waiter.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace tether {

bool SessionWaiter::Wait() {
  if (background_ != nullptr) return WaitWithBackground();
  int directions = libssh2_session_block_directions(session_);
  short events = 0;
  if (directions & LIBSSH2_SESSION_BLOCK_INBOUND) events |= POLLIN;
  if (directions & LIBSSH2_SESSION_BLOCK_OUTBOUND) events |= POLLOUT;
  if (events == 0) events = POLLIN;
  pollfd fds[2] = {{socket_fd_, events, 0}, {signal_fd_, POLLIN, 0}};
  int count = signal_fd_ >= 0 ? 2 : 1;
  for (;;) {
    int n = poll(fds, static_cast<nfds_t>(count), static_cast<int>(stall_timeout_.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failure_ = {ExitCode::kInternal, ErrnoMessage("poll")};
      break;
    }
    if (n == 0) {
      failure_ = {ExitCode::kUnreachable,
                  "server did not answer during " + what_ + " for " +
                      std::to_string(stall_timeout_.count() / 1000) + "s"};
      break;
    }
    if (count == 2 && (fds[1].revents & POLLIN)) {
      interrupted_ = true;
      failure_ = {ExitCode::kOk, "stopped by a signal before the tunnel was up"};
      break;
    }
    return true;
  }
  abandoned_ = true;
  return false;
}

bool SessionWaiter::PeerGone() const {
  pollfd socket = {socket_fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&socket, 1, 0) <= 0) return false;
  if (socket.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
  // Readable but not closed: a byte waiting means the server is still talking.
  char byte = 0;
  return (socket.revents & POLLIN) && recv(socket_fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

// ---- Waiting while jump hosts are pumped (jump_chain.h) ----------------------------------
// The stall timeout becomes a deadline here: the background's own traffic must not keep
// a silent server's wait alive.

bool SessionWaiter::Abandon(Failure failure) {
  failure_ = std::move(failure);
  abandoned_ = true;
  return false;
}

bool SessionWaiter::WaitWithBackground() {
  using Clock = std::chrono::steady_clock;
  const int directions = libssh2_session_block_directions(session_);
  short events = 0;
  if (directions & LIBSSH2_SESSION_BLOCK_INBOUND) events |= POLLIN;
  if (directions & LIBSSH2_SESSION_BLOCK_OUTBOUND) events |= POLLOUT;
  if (events == 0) events = POLLIN;
  const Clock::time_point deadline = Clock::now() + stall_timeout_;
  for (;;) {
    std::vector<pollfd> fds = {{socket_fd_, events, 0}, {signal_fd_, POLLIN, 0}};
    background_->AddPollFds(&fds);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    const int timeout = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 60000));
    const int n = poll(fds.data(), static_cast<nfds_t>(fds.size()), timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Abandon({ExitCode::kInternal, ErrnoMessage("poll")});
    if (fds[1].revents & POLLIN) {
      interrupted_ = true;
      return Abandon({ExitCode::kOk, "stopped by a signal before the tunnel was up"});
    }
    Failure broken;
    if (!background_->Service(std::span<const pollfd>(fds).subspan(2), &broken)) {
      return Abandon(std::move(broken));
    }
    if (fds[0].revents != 0) return true;
    if (Clock::now() >= deadline) {
      return Abandon({ExitCode::kUnreachable,
                      "server did not answer during " + what_ + " for " +
                          std::to_string(stall_timeout_.count() / 1000) + "s"});
    }
  }
}

}  // namespace tether
