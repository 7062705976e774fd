#pragma once

#include <libssh2.h>

#include <memory>
#include <string>

namespace tether {

/// Owners for libssh2 objects. The deleters free without any network round trip being
/// required to succeed: a polite disconnect is done explicitly before, with a bounded time.
struct SessionDeleter {
  void operator()(LIBSSH2_SESSION* session) const { libssh2_session_free(session); }
};
struct KnownHostsDeleter {
  void operator()(LIBSSH2_KNOWNHOSTS* hosts) const { libssh2_knownhost_free(hosts); }
};
struct AgentDeleter {
  void operator()(LIBSSH2_AGENT* agent) const {
    libssh2_agent_disconnect(agent);
    libssh2_agent_free(agent);
  }
};

using SessionPtr = std::unique_ptr<LIBSSH2_SESSION, SessionDeleter>;
using KnownHostsPtr = std::unique_ptr<LIBSSH2_KNOWNHOSTS, KnownHostsDeleter>;
using AgentPtr = std::unique_ptr<LIBSSH2_AGENT, AgentDeleter>;

/// libssh2's text for the session's last error, or "" if none.
std::string LastSshError(LIBSSH2_SESSION* session);

/// True for libssh2 errors after which the session cannot be used any more.
bool IsSessionError(int rc);

/// Initialises libssh2 once per process (libssh2_init), installs tether's AES-CTR provider
/// under it (SetUpCtrProvider), and cleans up at exit.
class Libssh2Library {
 public:
  Libssh2Library();
  ~Libssh2Library();
  Libssh2Library(const Libssh2Library&) = delete;
  Libssh2Library& operator=(const Libssh2Library&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

}  // namespace tether
