#pragma once

#include <libssh2.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tether/algorithms.h"
#include "tether/authenticator.h"
#include "tether/failure.h"
#include "tether/known_hosts.h"
#include "tether/session_config.h"
#include "tether/session_events.h"
#include "tether/session_waiter.h"
#include "tether/socket_reader.h"
#include "tether/ssh_handles.h"
#include "tether/tcp_connect.h"
#include "tether/unique_fd.h"

namespace tether {

/// One authenticated, non-blocking libssh2 session over its own TCP socket.
class SshSession {
 public:
  /// Connects, handshakes, verifies the host key and authenticates. `signal_fd` (or -1) aborts
  /// the attempt when readable; then *failure has code kOk. `background` (may be nullptr) is
  /// served during every wait, and aborts the attempt when it breaks. Warnings worth logging
  /// (unparsable known_hosts lines) are appended to *warnings.
  static std::unique_ptr<SshSession> Open(const SessionConfig& config, int signal_fd,
                                          WaitBackground* background, Failure* failure,
                                          std::vector<std::string>* warnings);
  /// The same over `socket`, already connected to the server (config.target is not used to
  /// connect): a socketpair end carried by a jump host's channel. `background` (may be
  /// nullptr) is served during every wait, so the jump hosts keep moving the bytes.
  static std::unique_ptr<SshSession> OpenOver(UniqueFd socket, const SessionConfig& config,
                                              int signal_fd, WaitBackground* background,
                                              Failure* failure, std::vector<std::string>* warnings);

  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  LIBSSH2_SESSION* get() const { return session_.get(); }
  int fd() const { return socket_.get(); }
  const std::string& host_label() const { return host_label_; }
  const InboundMonitor& inbound() const { return events_->inbound; }
  /// The socket's reads go through this: bytes it holds are readable data that no socket
  /// event announces.
  SocketReader& reader() { return *reader_; }
  const SocketReader& reader() const { return *reader_; }

  /// Says goodbye to the server, waiting at most `budget`; the session is unusable after.
  void Disconnect(const std::string& reason, std::chrono::milliseconds budget);

 private:
  SshSession(UniqueFd socket, SessionPtr session, std::string host_label)
      : socket_(std::move(socket)),
        session_(std::move(session)),
        host_label_(std::move(host_label)) {}
  bool Handshake(const SessionConfig& config, SessionWaiter* waiter, Failure* failure,
                 std::vector<std::string>* warnings);

  UniqueFd socket_;  // declared first: destroyed after the session that uses it
  SessionPtr session_;
  std::string host_label_;
  /// Owned here, outside the session object, so its address stays fixed for the callbacks.
  std::unique_ptr<SessionEvents> events_ = std::make_unique<SessionEvents>();
  std::unique_ptr<SocketReader> reader_ = std::make_unique<SocketReader>();
  bool disconnected_ = false;
};

}  // namespace tether
