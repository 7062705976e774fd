#pragma once

#include <libssh2.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/session_waiter.h"

namespace tether {

/// What one non-blocking libssh2 call of a RemoteListener left behind.
enum class RemoteListenResult {
  kDone,         ///< the call finished (for Accept: a channel was returned)
  kWaiting,      ///< waiting for the server: repeat when the socket is readable
  kSendPending,  ///< a packet is partly sent: repeat this same call first, when writable
  kRefused,      ///< the server answered no (port in use, forwarding not allowed)
  kSessionError  ///< the session is broken
};

/// One remote listener (an SSH "tcpip-forward" request) on a non-blocking session, as
/// libssh2 1.10 does it. Each call is repeated as its result says; libssh2 keeps the state
/// of a listen request in the session, so only one may be in flight per session. Request
/// it before any want-reply global request (a keepalive) is sent on the session: libssh2
/// 1.10 takes the first queued global answer as the listen's, the answer to that keepalive.
/// The object must not outlive its session; libssh2_session_free frees the listener.
class RemoteListener {
 public:
  /// `bind_address` as the server is to be asked (RemoteBindAddress), never null: libssh2
  /// reads a null one as "0.0.0.0". `port` 0 lets the server choose.
  RemoteListener(LIBSSH2_SESSION* session, std::string bind_address, uint16_t port);
  RemoteListener(const RemoteListener&) = delete;
  RemoteListener& operator=(const RemoteListener&) = delete;

  /// Sends the request, or goes on waiting for its answer. kDone: listening on bound_port().
  RemoteListenResult Request();
  /// The next connection the server forwarded, already confirmed by libssh2 (window 2 MiB,
  /// packet 32768), or nullptr with *result kWaiting (none yet) or an error. Reads the
  /// session's socket.
  LIBSSH2_CHANNEL* Accept(RemoteListenResult* result);
  /// Asks the server to stop listening (no answer is awaited) and frees the listener and
  /// the connections not accepted yet. kDone: the listener is gone.
  RemoteListenResult Cancel();

  bool listening() const { return listener_ != nullptr; }
  /// The port the server listens on (the one it chose for port 0); 0 before kDone.
  uint16_t bound_port() const { return bound_port_; }
  const std::string& bind_address() const { return bind_address_; }
  uint16_t requested_port() const { return port_; }

 private:
  RemoteListenResult Classify(int rc) const;

  LIBSSH2_SESSION* session_;
  std::string bind_address_;
  uint16_t port_;
  uint16_t bound_port_ = 0;
  LIBSSH2_LISTENER* listener_ = nullptr;
};

/// Sets up `forward`'s listener on the server during the session's setup, waiting with
/// `waiter` (whose session is `session`): nothing else may run on the session meanwhile, and
/// no want-reply global request (keepalive) may have been sent on it. nullptr with *failure:
/// kCannotListen when the server refused (it gives no reason; the message names the usual
/// ones), kConnectionLost when the session broke, or the waiter's failure.
std::unique_ptr<RemoteListener> ListenRemote(LIBSSH2_SESSION* session, const ForwardSpec& forward,
                                             const std::string& server, SessionWaiter* waiter,
                                             Failure* failure);

/// Where the server listens, for messages and `tether list`: the bind address as the server
/// was asked (RemoteBindAddress; "*" for all interfaces) and the bound port.
std::string RemoteListenAddress(const RemoteListener& listener);

}  // namespace tether
