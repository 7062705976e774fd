#include "tether/session_waiter.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace tether {

bool SessionWaiter::Wait() {
  const int directions = libssh2_session_block_directions(session_);
  short events = 0;
  if (directions & LIBSSH2_SESSION_BLOCK_INBOUND) events |= POLLIN;
  if (directions & LIBSSH2_SESSION_BLOCK_OUTBOUND) events |= POLLOUT;
  if (events == 0) events = POLLIN;
  pollfd fds[2] = {{socket_fd_, events, 0}, {signal_fd_, POLLIN, 0}};
  Failure broken;
  // A deadline, not a per-poll timeout: the background's own traffic must not keep a silent
  // server's wait alive.
  const auto now = std::chrono::steady_clock::now();
  auto until = now + stall_timeout_;
  if (deadline_ && *deadline_ < until) until = *deadline_;
  const int ready = PollServing(fds, background_, until, &broken);
  if (ready < 0) return Abandon(std::move(broken));
  if (ready > 0 && (fds[1].revents & POLLIN)) {
    interrupted_ = true;
    return Abandon({ExitCode::kOk, "stopped by a signal before the tunnel was up"});
  }
  // Past the deadline even when the socket is ready: a server (or a background) that keeps
  // it busy must not stretch the wait.
  if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) {
    deadline_passed_ = true;
    return Abandon({ExitCode::kUnreachable, what_ + " did not complete in time"});
  }
  if (ready == 0) {
    return Abandon({ExitCode::kUnreachable, "server did not answer during " + what_ + " for " +
                                                std::to_string(stall_timeout_.count() / 1000) +
                                                "s"});
  }
  return true;
}

bool SessionWaiter::PeerGone() const {
  pollfd socket = {socket_fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&socket, 1, 0) <= 0) return false;
  if (socket.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
  // Readable but not closed: a byte waiting means the server is still talking.
  char byte = 0;
  return (socket.revents & POLLIN) && recv(socket_fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

bool SessionWaiter::Abandon(Failure failure) {
  failure_ = std::move(failure);
  abandoned_ = true;
  return false;
}

int PollServing(std::span<pollfd> fds, WaitBackground* background,
                std::chrono::steady_clock::time_point deadline, Failure* failure) {
  using std::chrono::milliseconds;
  std::vector<pollfd> all;
  for (;;) {
    all.assign(fds.begin(), fds.end());
    milliseconds limit = milliseconds(60000);
    if (background != nullptr) {
      background->AddPollFds(&all);
      limit = std::min(limit, background->MaxWait());
    }
    const milliseconds left =
        std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
    const int timeout =
        static_cast<int>(std::clamp(std::min(left, limit).count(), int64_t{0}, int64_t{60000}));
    const int n = poll(all.data(), static_cast<nfds_t>(all.size()), timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *failure = {ExitCode::kInternal, ErrnoMessage("poll")};
      return -1;
    }
    if (background != nullptr &&
        !background->Service(std::span<const pollfd>(all).subspan(fds.size()), failure)) {
      return -1;
    }
    int ready = 0;
    for (size_t i = 0; i < fds.size(); ++i) {
      fds[i].revents = all[i].revents;
      if (fds[i].fd >= 0 && fds[i].revents != 0) ++ready;
    }
    if (ready > 0) return ready;
    if (std::chrono::steady_clock::now() >= deadline) return 0;
  }
}

}  // namespace tether
