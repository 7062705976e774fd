#pragma once

#include <libssh2.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace tether {

class SocketReader;

/// What arrives from the server, counted at the socket by a recv wrapper: libssh2 itself
/// never says whether its keepalives were answered, or whether a call read anything.
struct InboundMonitor {
  uint64_t bytes = 0;  ///< total bytes received on the SSH socket
  std::chrono::steady_clock::time_point last_arrival = std::chrono::steady_clock::now();
};

/// The server's identification ("SSH-2.0-..." line) as it arrives, watched at the socket.
/// ssh accepts other lines before it, within bounds (OpenSSH: 1024 lines of at most 8192
/// bytes); so does this watch, after which it refuses the connection. libssh2 1.10 itself
/// takes the first line as the banner.
struct BannerWatch {
  static constexpr size_t kMaxLinesBefore = 1024;
  static constexpr size_t kMaxLineBytes = 8192;

  /// Looks at `n` received bytes; false once the server broke a bound (then refusal says
  /// how). Bytes after the banner line are not looked at.
  bool Watch(const char* bytes, size_t n);

  bool seen = false;        ///< the "SSH-" line has arrived
  size_t lines_before = 0;  ///< complete lines before it
  size_t line_bytes = 0;    ///< bytes of the current line so far
  std::string line_start;   ///< the current line's first four bytes
  std::optional<std::string> refusal;
};

/// What libssh2's callbacks report about one session. The session's abstract pointer points
/// here for the session's whole life, so every callback finds its part.
struct SessionEvents {
  InboundMonitor inbound;
  BannerWatch banner;
  /// The text of the server's SSH_MSG_DISCONNECT, once one arrived (escaped for messages).
  std::optional<std::string> server_disconnect;
  /// The keyboard-interactive prompt context while the Authenticator runs that method.
  void* keyboard_interactive = nullptr;
  /// When set, the socket is read through it (larger reads, served from its buffer); the
  /// counts above then see bytes as libssh2 takes them.
  SocketReader* reader = nullptr;
};

/// Points the session's abstract pointer at `events` and installs the recv and disconnect
/// callbacks that fill it in. `events` must outlive the session.
void InstallSessionEvents(LIBSSH2_SESSION* session, SessionEvents* events);

/// The SessionEvents installed on `session`, or nullptr.
SessionEvents* EventsOf(LIBSSH2_SESSION* session);

}  // namespace tether
