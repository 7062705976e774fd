#pragma once

#include <libssh2.h>

#include <cstdint>
#include <optional>
#include <string>

#include "tether/connection.h"
#include "tether/failure.h"
#include "tether/session_driver.h"
#include "tether/ssh_session.h"
#include "tether/unique_fd.h"

namespace tether {

/// Carries the next SSH connection of a jump chain: moves bytes between a jump host's
/// direct-tcpip channel and the local end of a socketpair whose other end the next libssh2
/// session uses as its socket. The jump host's session carries nothing else; its libssh2 calls
/// are made by a SessionDriver, as the tunnel's are. Non-blocking throughout; the owner polls
/// (setup) or watches (epoll loop) the two fds with the events asked for and calls Service on any
/// of them.
class ChannelPump {
 public:
  /// Takes `channel` (open on `session`) and `local`; `session` must outlive the pump.
  ChannelPump(SshSession* session, LIBSSH2_CHANNEL* channel, UniqueFd local);
  ChannelPump(const ChannelPump&) = delete;
  ChannelPump& operator=(const ChannelPump&) = delete;

  int session_fd() const { return session_->fd(); }
  /// -1 once the local end is closed.
  int local_fd() const { return connection_.client_fd(); }
  /// epoll events (EPOLLIN, EPOLLOUT) wanted on each fd; 0 = do not watch it.
  uint32_t SessionEvents() const { return broken_ ? 0 : driver_.SocketEvents(); }
  uint32_t LocalEvents() const;

  /// Moves what it can both ways. `session_readable`: the jump host's socket was reported
  /// readable (or hung up). Returns false once the jump host's session is broken; then
  /// failure() says why (kConnectionLost).
  bool Service(bool session_readable);
  /// Asks the jump host for a reply (see SessionDriver::Probe).
  void SendKeepalive();

  /// Everything the next session wrote is sent, with EOF after it (once its end shut down).
  bool Drained() const { return connection_.eof_sent() || local_fd() < 0; }
  /// The far end hung up (its EOF came through the channel), or nothing more can come.
  bool FarEndClosed() const { return connection_.channel_eof() || local_fd() < 0 || broken_; }
  bool broken() const { return broken_; }
  const Failure& failure() const { return failure_; }
  const SshSession& session() const { return *session_; }

 private:
  void ReadLocal();
  void WriteLocal();
  void Break(const std::string& why);

  SshSession* session_;
  Connection connection_;  ///< the socketpair end is its "client"
  SessionDriver driver_;
  bool broken_ = false;
  Failure failure_;
};

}  // namespace tether
