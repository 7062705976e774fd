#pragma once

#include <libssh2.h>
#include <poll.h>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tether/failure.h"

namespace tether {

/// Work that must go on while a setup step waits: the jump hosts that carry the session's
/// bytes (jump_chain.h). Their fds are polled together with the session's socket.
class WaitBackground {
 public:
  virtual ~WaitBackground() = default;
  /// Appends the fds to poll, with the events wanted (an fd of -1 is skipped by poll).
  virtual void AddPollFds(std::vector<pollfd>* fds) const = 0;
  /// Serves what poll reported for the fds AddPollFds appended, in the same order, without
  /// blocking; false with *failure when the background broke and the wait must end.
  virtual bool Service(std::span<const pollfd> ready, Failure* failure) = 0;
  /// The longest one poll may block before Service must run anyway (the background's own
  /// timers are due then); by default there is no such limit.
  virtual std::chrono::milliseconds MaxWait() const { return std::chrono::milliseconds::max(); }
};

/// Polls the caller's `fds` until one of them is ready or `deadline` passes, serving
/// `background` (nullptr = none) after every poll. Returns how many of `fds` are ready (0:
/// the deadline passed), with their revents set; -1 with *failure when poll failed or the
/// background broke.
int PollServing(std::span<pollfd> fds, WaitBackground* background,
                std::chrono::steady_clock::time_point deadline, Failure* failure);

/// Drives libssh2 calls of the setup phase (handshake, authentication) on a non-blocking
/// session: after LIBSSH2_ERROR_EAGAIN it waits for the directions libssh2 asked for, and
/// repeats the same call. A stop signal (readable signal fd), a broken background or
/// `stall_timeout` without the socket becoming ready abandons the wait.
class SessionWaiter {
 public:
  SessionWaiter(LIBSSH2_SESSION* session, int socket_fd, int signal_fd,
                std::chrono::milliseconds stall_timeout, std::string what)
      : session_(session),
        socket_fd_(socket_fd),
        signal_fd_(signal_fd),
        stall_timeout_(stall_timeout),
        what_(std::move(what)) {}

  /// Calls `call` until it returns something other than EAGAIN; returns that, or
  /// kWaitFailed when the wait was abandoned (then failure() says why).
  template <typename Call>
  int Run(Call call) {
    for (;;) {
      int rc = call();
      if (rc != LIBSSH2_ERROR_EAGAIN) return rc;
      if (!Wait()) return kWaitFailed;
    }
  }

  /// The same for calls that return a pointer and report EAGAIN via last_errno.
  template <typename T, typename Call>
  T* RunForPointer(Call call) {
    for (;;) {
      T* result = call();
      if (result != nullptr || libssh2_session_last_errno(session_) != LIBSSH2_ERROR_EAGAIN) {
        return result;
      }
      if (!Wait()) return nullptr;
    }
  }

  /// True when the server has closed or reset the connection. libssh2 reports a connection
  /// lost in the middle of authentication as a plain authentication failure; this tells them
  /// apart.
  bool PeerGone() const;

  /// Names the step in a timeout message ("handshake", "authentication").
  void set_what(std::string what) { what_ = std::move(what); }
  /// Ends every wait at `deadline` too, however often the socket became ready before: the
  /// handshake must be done by then, even with a server that sends one byte at a time.
  /// nullopt removes it.
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> deadline) {
    deadline_ = deadline;
  }
  /// True when the wait was abandoned because the deadline passed.
  bool deadline_passed() const { return deadline_passed_; }
  /// Serves `background` (not owned; nullptr = none) during every wait.
  void set_background(WaitBackground* background) { background_ = background; }
  bool abandoned() const { return abandoned_; }
  /// The stop-signal fd, for waits of the setup phase on other fds (e.g. the ssh-agent).
  int signal_fd() const { return signal_fd_; }
  bool interrupted() const { return interrupted_; }
  const Failure& failure() const { return failure_; }

  static constexpr int kWaitFailed = -10000;

 private:
  bool Wait();
  bool Abandon(Failure failure);

  LIBSSH2_SESSION* session_;
  int socket_fd_;
  int signal_fd_;
  std::chrono::milliseconds stall_timeout_;
  std::string what_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool abandoned_ = false;
  bool interrupted_ = false;
  bool deadline_passed_ = false;
  Failure failure_;
  WaitBackground* background_ = nullptr;
};

}  // namespace tether
