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
  enum class Outcome { kAccepted, kRejected, kAbandoned };

  Outcome TryAgent();
  Outcome TryKeyFiles();
  Outcome TryKeyFile(const std::string& path);
  Outcome TryKeyboardInteractive();
  Outcome TryPassword();
  bool ServerOffers(const std::string& method) const;
  bool RefreshMethods();
  bool Authenticated() const { return libssh2_userauth_authenticated(session_) != 0; }
  std::string Summary() const;

  LIBSSH2_SESSION* session_;
  const AuthConfig& config_;
  SessionWaiter* waiter_;
  std::string server_methods_;     ///< as last listed by the server, comma-separated
  std::vector<std::string> tried_;  ///< for the final message: "agent (2 keys)", ...
  std::vector<std::string> hints_;  ///< reasons worth telling the user (RSA, ciphers)
};

}  // namespace tether
