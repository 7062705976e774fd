#include "tether/session_events.h"

#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "tether/message_text.h"
#include "tether/socket_reader.h"

namespace tether {
namespace {

// Receives like libssh2's own recv, and records every arrival. Before the server's banner
// it also bounds what the server may send instead (libssh2 would wait for it forever).
ssize_t RecvAndRecord(libssh2_socket_t socket, void* buffer, size_t length, int flags,
                      void** abstract) {
  auto* events = static_cast<SessionEvents*>(*abstract);
  if (events->banner.refusal) return -EPROTO;
  ssize_t n = 0;
  if (events->reader != nullptr) {
    n = events->reader->Read(socket, buffer, length, flags);
    if (n < 0) return n;
  } else {
    n = recv(socket, buffer, length, flags);
    if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
  if (n > 0) {
    InboundMonitor& monitor = events->inbound;
    monitor.bytes += static_cast<uint64_t>(n);
    monitor.last_arrival = std::chrono::steady_clock::now();
    if (!events->banner.seen &&
        !events->banner.Watch(static_cast<const char*>(buffer), static_cast<size_t>(n))) {
      return -EPROTO;
    }
  }
  return n;
}

// The signature of LIBSSH2_DISCONNECT_FUNC, spelled out for the analyzers.
void RecordDisconnect(LIBSSH2_SESSION* session, int reason, const char* message, int message_length,
                      const char* language, int language_length, void** abstract) {
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

bool BannerWatch::Watch(const char* bytes, size_t n) {
  for (size_t i = 0; i < n && !seen; ++i) {
    const char c = bytes[i];
    if (line_start.size() < 4) line_start += c;
    if (c != '\n') {
      if (++line_bytes > kMaxLineBytes) {
        refusal = "the server sent a line longer than " + std::to_string(kMaxLineBytes) +
                  " bytes instead of an SSH banner";
        return false;
      }
      continue;
    }
    if (line_start.rfind("SSH-", 0) == 0) {
      seen = true;
      break;
    }
    if (++lines_before > kMaxLinesBefore) {
      refusal = "the server sent no SSH banner in its first " + std::to_string(kMaxLinesBefore) +
                " lines";
      return false;
    }
    line_bytes = 0;
    line_start.clear();
  }
  return true;
}

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
