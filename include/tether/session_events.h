#pragma once

#include <libssh2.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tether {

/// What arrives from the server, counted at the socket by a recv wrapper: libssh2 itself
/// never says whether its keepalives were answered, or whether a call read anything.
struct InboundMonitor {
  uint64_t bytes = 0;  ///< total bytes received on the SSH socket
  std::chrono::steady_clock::time_point last_arrival = std::chrono::steady_clock::now();
};

/// What libssh2's callbacks report about one session. The session's abstract pointer points
/// here for the session's whole life, so every callback finds its part.
struct SessionEvents {
  InboundMonitor inbound;
  /// The text of the server's SSH_MSG_DISCONNECT, once one arrived (escaped for messages).
  std::optional<std::string> server_disconnect;
  /// The keyboard-interactive prompt context while the Authenticator runs that method.
  void* keyboard_interactive = nullptr;
};

/// Points the session's abstract pointer at `events` and installs the recv and disconnect
/// callbacks that fill it in. `events` must outlive the session.
void InstallSessionEvents(LIBSSH2_SESSION* session, SessionEvents* events);

/// The SessionEvents installed on `session`, or nullptr.
SessionEvents* EventsOf(LIBSSH2_SESSION* session);

}  // namespace tether
