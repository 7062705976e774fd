#pragma once

#include <libssh2.h>

#include <string>
#include <vector>

#include "tether/failure.h"
#include "tether/prompt.h"
#include "tether/session_waiter.h"

namespace tether {

/// Who to log in as and which methods to use, in ssh's order.
struct AuthConfig {
  std::string user;
  std::string host_label;  ///< "user@host" for prompts and messages
  /// Explicit identities (-i, IdentityFile). When empty, the default files
  /// ~/.ssh/id_ed25519, id_ecdsa, id_rsa are tried if they exist.
  std::vector<std::string> identity_files;
  std::vector<std::string> default_identity_files;
  /// ssh-agent socket; empty = no agent.
  std::string agent_socket;
  PromptChannel prompts;
  /// PubkeyAuthentication, KbdInteractiveAuthentication, PasswordAuthentication.
  bool allow_publickey = true;
  bool allow_keyboard_interactive = true;
  bool allow_password = true;
  int password_prompts = 3;  ///< NumberOfPasswordPrompts
};

/// Authenticates a session whose handshake is done: ssh-agent, then key files (asking for
/// passphrases when a key is encrypted), then keyboard-interactive, then password, each only
/// if the server offers it. On failure *failure is kNotTrusted and names what was tried.
class Authenticator {
 public:
  Authenticator(LIBSSH2_SESSION* session, const AuthConfig& config, SessionWaiter* waiter)
      : session_(session), config_(config), waiter_(waiter) {}

  bool Run(Failure* failure);

 private:
  /// kRejected: tried and refused; kNotTried: not offered or not allowed; kAbandoned: stop_
  /// says why (signal, timeout, connection lost).
  enum class Outcome { kAccepted, kRejected, kNotTried, kAbandoned };

  Outcome TryAgent();
  Outcome TryKeyFiles();
  Outcome TryKeyFile(const std::string& path);
  Outcome TryKeyboardInteractive();
  Outcome TryPassword();
  bool ServerOffers(const std::string& method) const;
  bool WouldTry(const std::string& method) const;
  /// Lists the server's methods again (sets stop_ and returns false when that fails).
  bool RefreshMethods();
  /// After a refusal: notices a partial success. False (stop_ set) when the session failed.
  bool AfterRejection();
  Outcome Judge(int rc);
  /// Why the server ended the connection mid-authentication: a goodbye after refusals is a
  /// refusal (kNotTrusted); a connection just gone is kConnectionLost.
  Failure ServerEnded() const;
  bool Authenticated() const { return libssh2_userauth_authenticated(session_) != 0; }
  std::string Summary(const std::string& reason = "") const;

  LIBSSH2_SESSION* session_;
  const AuthConfig& config_;
  SessionWaiter* waiter_;
  std::string server_methods_;     ///< as last listed by the server, comma-separated
  char* listed_ = nullptr;  ///< libssh2 1.10 buffer behind server_methods_; see RefreshMethods
  std::vector<std::string> tried_;  ///< for the final message: "agent (2 keys)", ...
  std::vector<std::string> hints_;  ///< reasons worth telling the user (RSA, ciphers)
  std::vector<std::string> partial_;  ///< partial successes, for the final message
  Failure stop_;                    ///< why authentication was abandoned
};

}  // namespace tether
