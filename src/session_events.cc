#include "tether/session_events.h"

#include <sys/socket.h>

#include <cerrno>

#include "tether/message_text.h"

namespace tether {
namespace {

// Receives like libssh2's own recv, and records every arrival.
ssize_t RecvAndRecord(libssh2_socket_t socket, void* buffer, size_t length, int flags,
                      void** abstract) {
  ssize_t n = recv(socket, buffer, length, flags);
  if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  if (n > 0) {
    InboundMonitor& monitor = static_cast<SessionEvents*>(*abstract)->inbound;
    monitor.bytes += static_cast<uint64_t>(n);
    monitor.last_arrival = std::chrono::steady_clock::now();
  }
  return n;
}

// The signature of LIBSSH2_DISCONNECT_FUNC, spelled out for the analyzers.
void RecordDisconnect(LIBSSH2_SESSION* session, int reason, const char* message,
                      int message_length, const char* language, int language_length,
                      void** abstract) {
  (void)session;
  (void)reason;
  (void)language;
  (void)language_length;
  std::string text;
  if (message != nullptr && message_length > 0) {
    text.assign(message, static_cast<size_t>(message_length));
  }
  static_cast<SessionEvents*>(*abstract)->server_disconnect = EscapeForMessage(text);
}

}  // namespace

void InstallSessionEvents(LIBSSH2_SESSION* session, SessionEvents* events) {
  *libssh2_session_abstract(session) = events;
  libssh2_session_callback_set(session, LIBSSH2_CALLBACK_RECV,
                               reinterpret_cast<void*>(&RecvAndRecord));
  libssh2_session_callback_set(session, LIBSSH2_CALLBACK_DISCONNECT,
                               reinterpret_cast<void*>(&RecordDisconnect));
}

SessionEvents* EventsOf(LIBSSH2_SESSION* session) {
  return static_cast<SessionEvents*>(*libssh2_session_abstract(session));
}

}  // namespace tether
