#pragma once

#include <libssh2.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tether/failure.h"
#include "tether/key_file.h"
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
  /// PubkeyAcceptedAlgorithms as configured ("" = tether's default; "+x", "-x", "^x" as ssh).
  std::string pubkey_accepted_algorithms;
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
  /// libssh2's own reading and signing of a key file (its passphrase, if any, given).
  Outcome TryKeyFileWithLibssh2(const std::string& path, const char* passphrase);
#if LIBSSH2_VERSION_NUM < 0x010b00
  /// Signs `data` with `algorithm` ("rsa-sha2-512", ..., "ssh-rsa"); false when it cannot.
  using RsaSignFunction = std::function<bool(const std::string& algorithm, std::string_view data,
                                             std::string* signature)>;
  /// One RSA key (`blob` is its "ssh-rsa" blob) through libssh2 1.10's publickey call with
  /// rsa-sha2 signatures: the algorithms RsaSignaturePlan picks, the "ssh-rsa" fallback at
  /// most once per connection. *why says why the key was refused.
  /// `stop_requested` says whether a signature could not be made because of a stop signal:
  /// then no other variant is tried.
  Outcome TryRsaKey(
      const std::string& label, const std::string& blob, const RsaSignFunction& sign,
      std::string* why, const std::function<bool()>& stop_requested = [] { return false; });
  /// Ends authentication for a stop signal noticed while waiting for the agent.
  Outcome AbandonForSignal();
  /// Loads an RSA key file (asking for its passphrase) and tries it; kNotTried with
  /// *not_rsa set when the file holds another type (then *passphrase is the one given).
  Outcome TryRsaKeyFile(const std::string& path, const KeyFileInfo& info, bool* not_rsa,
                        std::string* passphrase);
#endif
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
  std::string server_methods_;  ///< as last listed by the server, comma-separated
  char* listed_ = nullptr;      ///< libssh2 1.10 buffer behind server_methods_; see RefreshMethods
  std::vector<std::string> tried_;     ///< for the final message: "agent (2 keys)", ...
  std::vector<std::string> hints_;     ///< reasons worth telling the user (RSA, ciphers)
  std::vector<std::string> partial_;   ///< partial successes, for the final message
  std::vector<std::string> accepted_;  ///< PubkeyAcceptedAlgorithms, resolved
#if LIBSSH2_VERSION_NUM < 0x010b00
  std::vector<std::string> offered_blobs_;  ///< agent keys tried; their files are not again
  bool rsa_fallback_left_ = true;           ///< the one "ssh-rsa" retry a connection may spend
#endif
  Failure stop_;  ///< why authentication was abandoned
};

}  // namespace tether
