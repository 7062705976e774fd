#include "tether/remote_listener.h"

#include <utility>

#include "tether/message_text.h"
#include "tether/ssh_handles.h"

namespace tether {
namespace {

// Connections the server may forward before tether accepts them; libssh2 refuses more
// (RESOURCE_SHORTAGE). The driver accepts at every step, so this only bounds a burst.
constexpr int kAcceptQueue = 64;

}  // namespace

RemoteListener::RemoteListener(LIBSSH2_SESSION* session, std::string bind_address, uint16_t port)
    : session_(session), bind_address_(std::move(bind_address)), port_(port) {}

RemoteListenResult RemoteListener::Classify(int rc) const {
  if (rc == LIBSSH2_ERROR_EAGAIN) {
    const bool outbound =
        libssh2_session_block_directions(session_) & LIBSSH2_SESSION_BLOCK_OUTBOUND;
    return outbound ? RemoteListenResult::kSendPending : RemoteListenResult::kWaiting;
  }
  if (rc == LIBSSH2_ERROR_REQUEST_DENIED) return RemoteListenResult::kRefused;
  return RemoteListenResult::kSessionError;
}

RemoteListenResult RemoteListener::Request() {
  if (listener_ != nullptr) return RemoteListenResult::kDone;
  int bound = 0;
  listener_ = libssh2_channel_forward_listen_ex(session_, bind_address_.c_str(), port_, &bound,
                                                kAcceptQueue);
  if (listener_ == nullptr) return Classify(libssh2_session_last_errno(session_));
  // A server that grants port 0 without naming a port leaves 0 here: the caller reports it.
  bound_port_ = bound > 0 && bound <= 65535 ? static_cast<uint16_t>(bound) : port_;
  return RemoteListenResult::kDone;
}

LIBSSH2_CHANNEL* RemoteListener::Accept(RemoteListenResult* result) {
  if (listener_ == nullptr) {
    *result = RemoteListenResult::kSessionError;
    return nullptr;
  }
  LIBSSH2_CHANNEL* channel = libssh2_channel_forward_accept(listener_);
  if (channel != nullptr) {
    *result = RemoteListenResult::kDone;
    return channel;
  }
  const int rc = libssh2_session_last_errno(session_);
  // libssh2 says "channel not found" both when nothing is queued and when its read of the
  // socket failed: the session's other calls (the driver's channel reads) report a broken
  // session, not this one.
  *result = rc == LIBSSH2_ERROR_CHANNEL_UNKNOWN ? RemoteListenResult::kWaiting : Classify(rc);
  return nullptr;
}

RemoteListenResult RemoteListener::Cancel() {
  if (listener_ == nullptr) return RemoteListenResult::kDone;
  const int rc = libssh2_channel_forward_cancel(listener_);
  if (rc == LIBSSH2_ERROR_EAGAIN) return Classify(rc);
  // Any other outcome freed the listener (a failed send included): never touch it again.
  listener_ = nullptr;
  return rc == 0 ? RemoteListenResult::kDone : RemoteListenResult::kSessionError;
}

std::unique_ptr<RemoteListener> ListenRemote(LIBSSH2_SESSION* session, const ForwardSpec& forward,
                                             const std::string& server, SessionWaiter* waiter,
                                             Failure* failure) {
  auto listener = std::make_unique<RemoteListener>(session, RemoteBindAddress(forward.listen),
                                                   forward.listen.port);
  RemoteListenResult result = RemoteListenResult::kWaiting;
  const int rc = waiter->Run([&] {
    result = listener->Request();
    const bool again =
        result == RemoteListenResult::kWaiting || result == RemoteListenResult::kSendPending;
    return again ? LIBSSH2_ERROR_EAGAIN : 0;
  });
  const std::string what = "remote forward " + QuoteForMessage(FormatEndpoint(forward.listen)) +
                           " -> " + FormatEndpoint(forward.target);
  if (rc == SessionWaiter::kWaitFailed) {
    *failure = waiter->failure();
    return nullptr;
  }
  if (result == RemoteListenResult::kRefused) {
    *failure = {ExitCode::kCannotListen,
                what + ": " + server +
                    " refused to listen (the port is in use there, or its sshd_config forbids "
                    "it: AllowTcpForwarding, PermitListen, GatewayPorts)"};
    return nullptr;
  }
  if (result != RemoteListenResult::kDone) {
    *failure = {ExitCode::kConnectionLost,
                "connection to " + server + " lost during " + what + ": " + LastSshError(session)};
    return nullptr;
  }
  return listener;
}

std::string RemoteListenAddress(const RemoteListener& listener) {
  const std::string& host = listener.bind_address();
  return FormatEndpoint(Endpoint{host.empty() ? "*" : host, listener.bound_port(), ""});
}

}  // namespace tether
