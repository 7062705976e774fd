#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "tether/control_protocol.h"
#include "tether/event_loop.h"
#include "tether/listener.h"
#include "tether/unique_fd.h"

namespace tether {

/// The tunnel's side of the control socket, served inside the event loop: a Unix socket
/// (mode 0600) that accepts peers of the same uid only (SO_PEERCRED), reads one bounded
/// request line without blocking, answers it and hangs up. A peer that sends nothing
/// useful in time, or too much, is dropped; at most a few peers are served at once.
class ControlServer {
  struct PassKey {};

 public:
  struct Handlers {
    std::function<TunnelStatus()> status;
    /// Called after the "ok stopping" reply went out; `requester` is the peer's pid.
    std::function<void(pid_t requester)> stop;
  };

  /// Binds and listens at `path` (replacing a file left there) and starts serving;
  /// nullptr with *error on failure.
  static std::unique_ptr<ControlServer> Listen(EventLoop* loop, const std::string& path,
                                               Handlers handlers, std::string* error);
  /// Use Listen(); public only for std::make_unique.
  ControlServer(PassKey, EventLoop* loop, UniqueFd fd, SocketFile file, Handlers handlers);
  /// Stops serving, closes every peer and unlinks the socket file.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Peer {
    UniqueFd fd;
    pid_t pid = 0;
    std::string received;
    EventLoop::TimerId deadline = 0;
  };

  void OnAcceptable();
  void OnPeerReadable(int fd);
  void Answer(int fd, const std::string& line);
  void Drop(int fd);

  EventLoop* loop_;
  UniqueFd fd_;
  SocketFile file_;  ///< declared after fd_: unlinked before the socket closes
  Handlers handlers_;
  std::map<int, Peer> peers_;
};

/// The client side, for `tether list` and `tether stop`: connects to `path`, checks that
/// the listening process is `expected_pid` and runs as this user, sends `request` and
/// returns the reply line (without newline) in *reply. Blocking, bounded by `timeout` per
/// step. False with *error on any failure.
bool ControlExchange(const std::string& path, pid_t expected_pid, ControlRequest request,
                     std::chrono::milliseconds timeout, std::string* reply, std::string* error);

}  // namespace tether
