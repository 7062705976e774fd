#include "tether/ssh_session.h"

#include <sys/socket.h>

#include <cerrno>

#include "tether/logging.h"
#include "tether/packet_pool.h"

namespace tether {
namespace {

const char* OrDefault(const std::string& list, const char* fallback) {
  return list.empty() ? fallback : list.c_str();
}

Failure HandshakeFailure(LIBSSH2_SESSION* session, int rc, const SessionWaiter& waiter) {
  std::string reason = LastSshError(session);
  const SessionEvents* events = EventsOf(session);
  if (events != nullptr && events->banner.refusal) {
    reason = *events->banner.refusal;
  } else if (rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_METHOD_NONE) {
    reason += " (the server offers no host key type, key exchange, cipher or MAC that libssh2 " +
              std::string(LIBSSH2_VERSION) + " supports, or none of those tether was told to use)";
  } else if (events != nullptr && events->server_disconnect) {
    reason = "the server disconnected (" + *events->server_disconnect + ")";
  } else if (waiter.PeerGone()) {
    // libssh2 names the step it was in ("Unable to exchange encryption keys"), not the cause.
    reason = "the server closed the connection (" + reason + ")";
  }
  return {ExitCode::kUnreachable, "SSH handshake failed: " + reason};
}

// ssh's words for a server that has not identified itself in time.
Failure HandshakeTimeout(const SessionEvents& events, std::chrono::milliseconds timeout) {
  const std::string limit = std::to_string(timeout.count() / 1000) + "s";
  return {ExitCode::kUnreachable,
          "SSH handshake failed: " +
              (events.banner.seen ? "the server did not complete the key exchange within " + limit
                                  : "connection timed out during banner exchange (" + limit + ")")};
}

}  // namespace

std::unique_ptr<SshSession> SshSession::Open(const SessionConfig& config, int signal_fd,
                                             WaitBackground* background, Failure* failure,
                                             std::vector<std::string>* warnings) {
  bool interrupted = false;
  UniqueFd socket = ConnectTcp(config.target, {signal_fd, background}, &interrupted, failure);
  if (!socket) return nullptr;
  return OpenOver(std::move(socket), config, signal_fd, background, failure, warnings);
}

std::unique_ptr<SshSession> SshSession::OpenOver(UniqueFd socket, const SessionConfig& config,
                                                 int signal_fd, WaitBackground* background,
                                                 Failure* failure,
                                                 std::vector<std::string>* warnings) {
  SessionPtr handle(packet_pool::InitSession());
  if (!handle) {
    *failure = {ExitCode::kInternal, "libssh2_session_init_ex failed"};
    return nullptr;
  }
  libssh2_session_set_blocking(handle.get(), 0);
  std::unique_ptr<SshSession> session(
      new SshSession(std::move(socket), std::move(handle), config.auth.host_label));
  session->events_->reader = session->reader_.get();
  InstallSessionEvents(session->get(), session->events_.get());
  SessionWaiter waiter(session->get(), session->fd(), signal_fd, config.target.timeout,
                       "the SSH handshake");
  waiter.set_background(background);
  // ConnectTimeout bounds banner exchange and key exchange together, as ssh bounds its
  // banner exchange: a server that dribbles a byte now and then cannot hold tether here.
  waiter.set_deadline(std::chrono::steady_clock::now() + config.target.timeout);
  if (!session->Handshake(config, &waiter, failure, warnings)) return nullptr;
  waiter.set_deadline(std::nullopt);
  LogEvent(spdlog::level::debug, "connected", "connected to {host} port {port}",
           {{"host", config.target.host}, {"port", static_cast<int>(config.target.port)}});
  waiter.set_what("authentication");
  Authenticator authenticator(session->get(), config.auth, &waiter);
  if (!authenticator.Run(failure)) return nullptr;
  LogEvent(spdlog::level::debug, "authenticated", "authenticated to {server}",
           {{"server", config.auth.host_label}});
  return session;
}

bool SshSession::Handshake(const SessionConfig& config, SessionWaiter* waiter, Failure* failure,
                           std::vector<std::string>* warnings) {
  std::unique_ptr<KnownHosts> known = KnownHosts::Load(get(), config.host_keys, warnings);
  if (!known) {
    *failure = {ExitCode::kInternal, "libssh2_knownhost_init failed"};
    return false;
  }
  const AlgorithmPreferences& algorithms = config.algorithms;
  // An explicit HostKeyAlgorithms is taken as given, as ssh does; otherwise the key types
  // known_hosts holds for this host go first, so that a known host is not taken as changed.
  std::string host_key_order =
      algorithms.host_key.empty() ? known->PreferredAlgorithms(get()) : algorithms.host_key;
  if (!host_key_order.empty()) {
    libssh2_session_method_pref(get(), LIBSSH2_METHOD_HOSTKEY, host_key_order.c_str());
  }
  if (!algorithms.kex.empty()) {
    libssh2_session_method_pref(get(), LIBSSH2_METHOD_KEX, algorithms.kex.c_str());
  }
  const char* ciphers = OrDefault(algorithms.ciphers, kDefaultCiphers);
  const char* macs = OrDefault(algorithms.macs, kDefaultMacs);
  libssh2_session_method_pref(get(), LIBSSH2_METHOD_CRYPT_CS, ciphers);
  libssh2_session_method_pref(get(), LIBSSH2_METHOD_CRYPT_SC, ciphers);
  libssh2_session_method_pref(get(), LIBSSH2_METHOD_MAC_CS, macs);
  libssh2_session_method_pref(get(), LIBSSH2_METHOD_MAC_SC, macs);
  int rc = waiter->Run([&] { return libssh2_session_handshake(get(), fd()); });
  if (rc != 0) {
    *failure = waiter->deadline_passed() ? HandshakeTimeout(*events_, config.target.timeout)
               : waiter->abandoned()     ? waiter->failure()
                                         : HandshakeFailure(get(), rc, *waiter);
    return false;
  }
  ServerHostKey key;
  return GetServerHostKey(get(), &key, failure) && known->Verify(key, failure);
}

void SshSession::Disconnect(const std::string& reason, std::chrono::milliseconds budget) {
  if (disconnected_) return;
  disconnected_ = true;
  libssh2_session_set_timeout(get(), static_cast<long>(budget.count()));
  libssh2_session_set_blocking(get(), 1);
  libssh2_session_disconnect_ex(get(), SSH_DISCONNECT_BY_APPLICATION, reason.c_str(), "");
}

SshSession::~SshSession() {
  // Make every further send and receive fail at once, so that freeing the session (which
  // closes its channels) cannot wait on a dead server; a goodbye already queued by
  // Disconnect is still delivered.
  shutdown(fd(), SHUT_RDWR);
  libssh2_session_set_blocking(get(), 1);
  session_.reset();
}

}  // namespace tether
