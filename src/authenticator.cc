#include "tether/authenticator.h"

#include <unistd.h>

#include <cstring>
#include <optional>

#include "tether/agent_client.h"
#include "tether/key_file.h"
#include "tether/logging.h"
#include "tether/message_text.h"
#include "tether/packet_pool.h"
#include "tether/rsa_key.h"
#include "tether/rsa_sha2_auth.h"
#include "tether/session_events.h"
#include "tether/ssh_handles.h"
#include "tether/ssh_wire.h"

namespace tether {
namespace {

#if LIBSSH2_VERSION_NUM < 0x010b00
// The key type a public key blob names ("ssh-rsa", "ssh-ed25519", ...), or "".
std::string BlobType(std::string_view blob) {
  std::string type;
  WireReader(blob).ReadString(&type);
  return type;
}
#else
// libssh2 1.11 picks the RSA signature itself, from server-sig-algs: it is given the rsa
// algorithms PubkeyAcceptedAlgorithms allows, in their order.
void PreferSignatureAlgorithms(LIBSSH2_SESSION* session, const std::vector<std::string>& accepted) {
  std::string list;
  for (const std::string& entry : accepted) {
    for (const char* variant : {"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}) {
      if (entry == variant) list += (list.empty() ? "" : ",") + entry;
    }
  }
  if (!list.empty()) libssh2_session_method_pref(session, LIBSSH2_METHOD_SIGN_ALGO, list.c_str());
}
#endif

std::string Octal(unsigned mode) {
  char text[8];
  snprintf(text, sizeof(text), "%04o", mode & 0777);
  return text;
}

#if LIBSSH2_VERSION_NUM < 0x010b00
constexpr std::chrono::seconds kAgentTimeout(30);
#endif

void LogAccepted(const std::string& key, const std::string& algorithm) {
  LogEvent(spdlog::level::debug, "publickey_accepted",
           "server accepted {key} with signature algorithm {algorithm}",
           {{"key", key}, {"algorithm", algorithm}});
}

// Context for the synchronous keyboard-interactive callback, passed through the session's
// abstract pointer.
struct KbdContext {
  const PromptChannel* prompts;
  bool gave_up = false;
};

unsigned int ToUint(size_t n) { return static_cast<unsigned int>(n); }

char* CopyForLibssh2(const std::string& text) {
  // libssh2 frees the responses with the session's allocator (SshSession installs
  // packet_pool's), so they must come from it.
  char* copy = static_cast<char*>(packet_pool::Allocate(text.size() + 1, nullptr));
  if (copy != nullptr) memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

// The signature of LIBSSH2_USERAUTH_KBDINT_RESPONSE_FUNC, spelled out for the analyzers.
void AnswerKeyboardInteractive(const char* name, int name_len, const char* instruction,
                               int instruction_len, int num_prompts,
                               const LIBSSH2_USERAUTH_KBDINT_PROMPT* prompts,
                               LIBSSH2_USERAUTH_KBDINT_RESPONSE* responses, void** abstract) {
  (void)name;
  (void)name_len;
  auto* events = static_cast<SessionEvents*>(*abstract);
  auto* context = static_cast<KbdContext*>(events->keyboard_interactive);
  if (instruction_len > 0) {
    // The server's text (PAM instructions may take several lines).
    const std::string text =
        EscapeLinesForMessage(std::string_view(instruction, static_cast<size_t>(instruction_len))) +
        "\n";
    (void)!write(STDERR_FILENO, text.data(), text.size());
  }
  for (int i = 0; i < num_prompts; ++i) {
    std::string question(prompts[i].text, prompts[i].length);
    std::optional<std::string> answer =
        context->gave_up ? std::nullopt
                         : AskUser(*context->prompts, question, prompts[i].echo != 0);
    if (!answer) context->gave_up = true;
    responses[i].text = CopyForLibssh2(answer.value_or(""));
    responses[i].length = ToUint(answer ? answer->size() : 0);
    if (answer) WipeSecret(&*answer);
  }
}

}  // namespace

bool Authenticator::Run(Failure* failure) {
  accepted_ = ResolvePubkeyAlgorithms(config_.pubkey_accepted_algorithms);
#if LIBSSH2_VERSION_NUM >= 0x010b00
  PreferSignatureAlgorithms(session_, accepted_);
#endif
  if (!RefreshMethods()) {
    *failure = stop_;
    return false;
  }
  using Step = Outcome (Authenticator::*)();
  for (Step step : {&Authenticator::TryAgent, &Authenticator::TryKeyFiles,
                    &Authenticator::TryKeyboardInteractive, &Authenticator::TryPassword}) {
    if (Authenticated()) return true;
    Outcome outcome = (this->*step)();
    if (outcome == Outcome::kAccepted) return true;
    if (outcome == Outcome::kAbandoned || (outcome == Outcome::kRejected && !AfterRejection())) {
      *failure = stop_;
      return false;
    }
  }
  if (Authenticated()) return true;
  *failure = {ExitCode::kNotTrusted, Summary()};
  return false;
}

bool Authenticator::RefreshMethods() {
  // libssh2 1.10 keeps the list it returned and, asked again, overwrites its pointer to it
  // without freeing it; only the last one is freed with the session.
  if (listed_ != nullptr) {
    libssh2_free(session_, listed_);
    listed_ = nullptr;
  }
  char* list = waiter_->RunForPointer<char>([&] {
    return libssh2_userauth_list(session_, config_.user.c_str(), ToUint(config_.user.size()));
  });
  if (list != nullptr) {
    listed_ = list;
    server_methods_ = list;
    return true;
  }
  if (Authenticated()) return true;  // the server accepted "none"
  if (waiter_->abandoned()) {
    stop_ = waiter_->failure();
  } else if (IsSessionError(libssh2_session_last_errno(session_)) || waiter_->PeerGone()) {
    stop_ = ServerEnded();
  } else {
    stop_ = {ExitCode::kNotTrusted,
             "server refused to list authentication methods: " + LastSshError(session_)};
  }
  return false;
}

bool Authenticator::AfterRejection() {
  // libssh2 1.10 reports a partial success (AuthenticationMethods "publickey,password": the
  // key was accepted as a first factor) as a plain failure and drops the list of methods that
  // may follow. Asking again tells; each ask costs one of the server's MaxAuthTries, so only
  // when a method we would still try is missing from what the server offered.
  bool may_unlock = false;
  for (const char* method : {"publickey", "keyboard-interactive", "password"}) {
    if (WouldTry(method) && !ServerOffers(method)) may_unlock = true;
  }
  if (!may_unlock) return true;
  std::string before = server_methods_;
  if (!RefreshMethods()) return false;
  if (server_methods_ != before && !Authenticated()) {
    partial_.push_back("partial success after " + tried_.back() + ", then the server asked for " +
                       server_methods_);
  }
  return true;
}

bool Authenticator::WouldTry(const std::string& method) const {
  if (method == "publickey") return config_.allow_publickey;
  if (!CanAskUser(config_.prompts)) return false;
  if (method == "password") return config_.allow_password;
  return config_.allow_keyboard_interactive;
}

Authenticator::Outcome Authenticator::Judge(int rc) {
  if (rc == 0) return Outcome::kAccepted;
  if (waiter_->abandoned()) {
    stop_ = waiter_->failure();
    return Outcome::kAbandoned;
  }
  if (IsSessionError(rc) || waiter_->PeerGone()) {
    stop_ = ServerEnded();
    return Outcome::kAbandoned;
  }
  return Outcome::kRejected;
}

Failure Authenticator::ServerEnded() const {
  const SessionEvents* events = EventsOf(session_);
  if (events != nullptr && events->server_disconnect) {
    // OpenSSH says goodbye this way after MaxAuthTries refusals: a refusal like any other.
    return {ExitCode::kNotTrusted,
            Summary("the server disconnected (" + *events->server_disconnect + ")")};
  }
  // libssh2's own text names the request it was waiting for, not what happened to it.
  std::string reason = IsSessionError(libssh2_session_last_errno(session_))
                           ? LastSshError(session_)
                           : "the server closed the connection";
  return {ExitCode::kConnectionLost,
          "connection to " + config_.host_label + " lost during authentication: " + reason};
}

bool Authenticator::ServerOffers(const std::string& method) const {
  std::string padded = "," + server_methods_ + ",";
  return padded.find("," + method + ",") != std::string::npos;
}

#if LIBSSH2_VERSION_NUM >= 0x010b00
// libssh2 1.11 and later make rsa-sha2 signatures themselves, for agent and file keys.
Authenticator::Outcome Authenticator::TryAgent() {
  if (config_.agent_socket.empty() || !config_.allow_publickey || !ServerOffers("publickey")) {
    return Outcome::kNotTried;
  }
  AgentPtr agent(libssh2_agent_init(session_));
  if (!agent) return Outcome::kNotTried;
  libssh2_agent_set_identity_path(agent.get(), config_.agent_socket.c_str());
  if (libssh2_agent_connect(agent.get()) != 0 || libssh2_agent_list_identities(agent.get()) != 0) {
    tried_.push_back("ssh-agent (could not be reached at " + config_.agent_socket + ")");
    return Outcome::kNotTried;
  }
  int offered = 0;
  libssh2_agent_publickey* identity = nullptr;
  while (libssh2_agent_get_identity(agent.get(), &identity, identity) == 0) {
    ++offered;
    int rc = waiter_->Run(
        [&] { return libssh2_agent_userauth(agent.get(), config_.user.c_str(), identity); });
    Outcome outcome = Judge(rc);
    if (outcome != Outcome::kRejected) return outcome;
  }
  tried_.push_back("ssh-agent (" + std::to_string(offered) + " key" + (offered == 1 ? "" : "s") +
                   ")");
  return offered > 0 ? Outcome::kRejected : Outcome::kNotTried;
}
#else
// libssh2 1.10's agent support signs RSA keys with SHA-1 only, which OpenSSH 8.8 and later
// refuse: tether asks the agent itself, for every key, with the rsa-sha2 flags for RSA.
Authenticator::Outcome Authenticator::TryAgent() {
  if (config_.agent_socket.empty() || !config_.allow_publickey || !ServerOffers("publickey")) {
    return Outcome::kNotTried;
  }
  std::string error;
  // A stop signal ends a wait for the agent too (one asking its user to confirm can take
  // long); kAgentTimeout bounds one that never answers.
  std::unique_ptr<AgentClient> agent =
      AgentClient::Connect(config_.agent_socket, &error, kAgentTimeout, waiter_->signal_fd());
  std::vector<AgentIdentity> identities;
  const bool listed = agent && agent->ListIdentities(&identities, &error);
  if (agent && agent->interrupted()) return AbandonForSignal();
  if (!listed) {
    tried_.push_back("ssh-agent (could not be reached at " + config_.agent_socket + ": " + error +
                     ")");
    return Outcome::kNotTried;
  }
  int offered = 0;
  for (const AgentIdentity& identity : identities) {
    const std::string type = BlobType(identity.blob);
    const std::string label = "agent key " + (identity.comment.empty() ? type : identity.comment);
    Outcome outcome = Outcome::kNotTried;
    if (type == "ssh-rsa") {
      std::string why;
      outcome = TryRsaKey(
          label, identity.blob,
          [&](const std::string& algorithm, std::string_view data, std::string* signature) {
            uint32_t flags = algorithm == "rsa-sha2-512"   ? AgentClient::kRsaSha2_512
                             : algorithm == "rsa-sha2-256" ? AgentClient::kRsaSha2_256
                                                           : 0;
            std::string made, sign_error;
            if (!agent->Sign(identity.blob, data, flags, &made, signature, &sign_error)) {
              hints_.push_back(label + ": " + sign_error + " with " + algorithm);
              return false;
            }
            // An agent that ignores the flags answers with a SHA-1 "ssh-rsa" signature.
            if (made != algorithm) {
              hints_.push_back(label + ": the agent signed with " + made + " when asked for " +
                               algorithm);
              return false;
            }
            return true;
          },
          &why, [&] { return agent->interrupted(); });
    } else if (AlgorithmAccepted(accepted_, type)) {
      PublickeySigner signer;
      signer.sign = [&](std::string_view data, std::string* signature) {
        std::string made, sign_error;
        return agent->Sign(identity.blob, data, 0, &made, signature, &sign_error) && made == type;
      };
      int rc = waiter_->Run(
          [&] { return UserauthWithSigner(session_, config_.user, identity.blob, &signer); });
      outcome = Judge(rc);
      if (outcome == Outcome::kAccepted) LogAccepted(label, type);
    }
    if (agent->interrupted()) return AbandonForSignal();
    if (outcome == Outcome::kNotTried) continue;
    ++offered;
    offered_blobs_.push_back(identity.blob);
    if (outcome != Outcome::kRejected) return outcome;
  }
  tried_.push_back("ssh-agent (" + std::to_string(offered) + " key" + (offered == 1 ? "" : "s") +
                   ")");
  return offered > 0 ? Outcome::kRejected : Outcome::kNotTried;
}

Authenticator::Outcome Authenticator::AbandonForSignal() {
  // The waiter words a stop by signal; one round of it sees the readable signal fd.
  bool first = true;
  int rc = waiter_->Run([&] {
    if (!first) return 0;
    first = false;
    return static_cast<int>(LIBSSH2_ERROR_EAGAIN);
  });
  stop_ = rc == SessionWaiter::kWaitFailed
              ? waiter_->failure()
              : Failure{ExitCode::kOk, "stopped by a signal before the tunnel was up"};
  return Outcome::kAbandoned;
}

Authenticator::Outcome Authenticator::TryRsaKey(const std::string& label, const std::string& blob,
                                                const RsaSignFunction& sign, std::string* why,
                                                const std::function<bool()>& stop_requested) {
  const char* banner = libssh2_session_banner_get(session_);
  std::vector<std::string> plan =
      RsaSignaturePlan(banner != nullptr ? banner : "", accepted_, rsa_fallback_left_);
  if (plan.empty()) {
    *why = "no RSA signature algorithm left in PubkeyAcceptedAlgorithms for this server";
    return Outcome::kNotTried;
  }
  std::string attempted;
  for (size_t i = 0; i < plan.size(); ++i) {
    const std::string& algorithm = plan[i];
    if (i > 0) {
      // Each refused attempt costs one of the server's MaxAuthTries: one retry with
      // "ssh-rsa" per connection at most, for servers that take only SHA-1.
      if (!rsa_fallback_left_) break;
      rsa_fallback_left_ = false;
    }
    PublickeySigner signer;
    signer.sign = [&](std::string_view data, std::string* signature) {
      return sign(algorithm, data, signature);
    };
    const std::string renamed = BlobForAlgorithm(blob, algorithm);
    int rc =
        waiter_->Run([&] { return UserauthWithSigner(session_, config_.user, renamed, &signer); });
    Outcome outcome = Judge(rc);
    attempted += (attempted.empty() ? "" : ", ") + algorithm;
    if (outcome == Outcome::kAccepted) LogAccepted(label, algorithm);
    if (outcome != Outcome::kRejected || stop_requested()) return outcome;
    if (signer.asked && !signer.failed) {
      // The server took the key and then refused a good signature: a partial success
      // (AuthenticationMethods), which AfterRejection recognises; no other variant helps.
      *why = "signed with " + algorithm + ", then refused";
      return Outcome::kRejected;
    }
    *why = signer.failed ? "could not be signed with " + attempted
                         : "refused by the server with " + attempted +
                               " (not in its authorized_keys, or the algorithm not allowed there)";
  }
  return Outcome::kRejected;
}

Authenticator::Outcome Authenticator::TryRsaKeyFile(const std::string& path,
                                                    const KeyFileInfo& info, bool* not_rsa,
                                                    std::string* passphrase) {
  EvpPkeyPtr key;
  int attempts = info.encrypted ? config_.password_prompts : 1;
  bool wrong_passphrase = false;
  for (int attempt = 0; attempt < attempts && !key; ++attempt) {
    WipeSecret(passphrase);
    if (info.encrypted) {
      std::optional<std::string> answer =
          AskUser(config_.prompts, "Enter passphrase for key '" + path + "': ", false);
      if (!answer) break;
      *passphrase = std::move(*answer);
    }
    std::string detail;
    KeyLoadError error = LoadRsaKeyFile(path, *passphrase, &key, &detail);
    if (error == KeyLoadError::kUnsupported && detail.rfind("not an RSA key", 0) == 0) {
      *not_rsa = true;
      return Outcome::kNotTried;
    }
    wrong_passphrase = error == KeyLoadError::kWrongPassphrase;
    if (error != KeyLoadError::kNone && !wrong_passphrase) {
      WipeSecret(passphrase);
      tried_.push_back(path + " (" + detail + ")");
      return Outcome::kRejected;
    }
  }
  WipeSecret(passphrase);
  if (!key) {
    tried_.push_back(path + (wrong_passphrase ? " (encrypted: incorrect passphrase)"
                                              : " (encrypted: no passphrase given)"));
    return Outcome::kRejected;
  }
  const std::string blob = RsaPublicBlob(key.get());
  if (std::find(offered_blobs_.begin(), offered_blobs_.end(), blob) != offered_blobs_.end()) {
    return Outcome::kNotTried;  // the agent offered this very key already
  }
  std::string why;
  Outcome outcome = TryRsaKey(
      path, blob,
      [&](const std::string& algorithm, std::string_view data, std::string* signature) {
        return RsaSign(key.get(), algorithm, data, signature);
      },
      &why);
  if (outcome == Outcome::kRejected || outcome == Outcome::kNotTried) {
    tried_.push_back(path + " (RSA key " + why + ")");
  }
  return outcome == Outcome::kNotTried ? Outcome::kRejected : outcome;
}
#endif

Authenticator::Outcome Authenticator::TryKeyFiles() {
  if (!config_.allow_publickey || !ServerOffers("publickey")) return Outcome::kNotTried;
  bool explicit_files = !config_.identity_files.empty();
  const auto& files = explicit_files ? config_.identity_files : config_.default_identity_files;
  Outcome result = Outcome::kNotTried;
  for (const std::string& path : files) {
    if (!explicit_files && access(path.c_str(), R_OK) != 0) continue;
    Outcome outcome = TryKeyFile(path);
    if (outcome == Outcome::kNotTried) continue;
    result = outcome;
    if (result != Outcome::kRejected) return result;
  }
  return result;
}

Authenticator::Outcome Authenticator::TryKeyFile(const std::string& path) {
  KeyFileInfo info = InspectKeyFile(path);
  if (!info.readable) {
    tried_.push_back(path + " (cannot read)");
    return Outcome::kRejected;
  }
  if (info.too_open) {
    // ssh's rule and words (sshkey_perm_ok): a key others may read is no secret any more.
    LogEventText(spdlog::level::warn, "private_key_unprotected",
                 "WARNING: UNPROTECTED PRIVATE KEY FILE! Permissions " + Octal(info.mode) +
                     " for '" + path +
                     "' are too open. It is required that your private key files are NOT "
                     "accessible by others. This private key will be ignored.",
                 {{"key", path}});
    tried_.push_back(path + " (ignored: permissions " + Octal(info.mode) + " are too open)");
    return Outcome::kRejected;
  }
  if (!info.key_type.empty() && info.key_type != "ecdsa" &&
      !AlgorithmAccepted(accepted_, info.key_type) && info.key_type != "ssh-rsa") {
    tried_.push_back(path + " (" + info.key_type + " is not in PubkeyAcceptedAlgorithms)");
    return Outcome::kNotTried;
  }
#if LIBSSH2_VERSION_NUM < 0x010b00
  if (info.key_type == "ssh-rsa" || info.format != "openssh") {
    bool not_rsa = false;
    std::string passphrase;
    Outcome outcome = TryRsaKeyFile(path, info, &not_rsa, &passphrase);
    if (!not_rsa) return outcome;
    // A PEM or PKCS#8 key of another type: libssh2 reads it, with the passphrase given.
    outcome = TryKeyFileWithLibssh2(path, info.encrypted ? passphrase.c_str() : nullptr);
    WipeSecret(&passphrase);
    if (outcome == Outcome::kRejected) tried_.push_back(path);
    return outcome;
  }
#endif
  int attempts = info.encrypted ? config_.password_prompts : 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    std::string passphrase;
    if (info.encrypted) {
      std::optional<std::string> answer =
          AskUser(config_.prompts, "Enter passphrase for key '" + path + "': ", false);
      if (!answer) break;
      passphrase = std::move(*answer);
    }
    int rc = waiter_->Run([&] {
      return libssh2_userauth_publickey_fromfile_ex(
          session_, config_.user.c_str(), ToUint(config_.user.size()), nullptr, path.c_str(),
          info.encrypted ? passphrase.c_str() : nullptr);
    });
    WipeSecret(&passphrase);
    Outcome outcome = Judge(rc);
    if (outcome == Outcome::kAccepted) LogAccepted(path, info.key_type);
    if (outcome != Outcome::kRejected) return outcome;
    // A wrong passphrase and an unreadable format both come back as a file error.
    if (rc != LIBSSH2_ERROR_FILE) break;
    if (!info.encrypted) {
      tried_.push_back(path + " (" + LastSshError(session_) + ")");
      return Outcome::kRejected;
    }
  }
  tried_.push_back(path + (info.encrypted ? " (encrypted)" : ""));
  return Outcome::kRejected;
}

Authenticator::Outcome Authenticator::TryKeyFileWithLibssh2(const std::string& path,
                                                            const char* passphrase) {
  int rc = waiter_->Run([&] {
    return libssh2_userauth_publickey_fromfile_ex(session_, config_.user.c_str(),
                                                  ToUint(config_.user.size()), nullptr,
                                                  path.c_str(), passphrase);
  });
  Outcome outcome = Judge(rc);
  if (outcome == Outcome::kAccepted) LogAccepted(path, "its key type");
  return outcome;
}

Authenticator::Outcome Authenticator::TryKeyboardInteractive() {
  if (!config_.allow_keyboard_interactive || !ServerOffers("keyboard-interactive") ||
      !CanAskUser(config_.prompts)) {
    return Outcome::kNotTried;
  }
  KbdContext context{&config_.prompts};
  SessionEvents* events = EventsOf(session_);
  events->keyboard_interactive = &context;
  Outcome outcome = Outcome::kRejected;
  for (int attempt = 0; attempt < config_.password_prompts && !context.gave_up; ++attempt) {
    int rc = waiter_->Run([&] {
      return libssh2_userauth_keyboard_interactive_ex(
          session_, config_.user.c_str(), ToUint(config_.user.size()), &AnswerKeyboardInteractive);
    });
    outcome = Judge(rc);
    if (outcome != Outcome::kRejected) break;
  }
  events->keyboard_interactive = nullptr;
  if (outcome == Outcome::kRejected) tried_.push_back("keyboard-interactive");
  return outcome;
}

Authenticator::Outcome Authenticator::TryPassword() {
  if (!config_.allow_password || !ServerOffers("password") || !CanAskUser(config_.prompts)) {
    return Outcome::kNotTried;
  }
  for (int attempt = 0; attempt < config_.password_prompts; ++attempt) {
    std::optional<std::string> password =
        AskUser(config_.prompts, config_.host_label + "'s password: ", false);
    if (!password) break;
    int rc = waiter_->Run([&] {
      return libssh2_userauth_password_ex(session_, config_.user.c_str(),
                                          ToUint(config_.user.size()), password->c_str(),
                                          ToUint(password->size()), nullptr);
    });
    WipeSecret(&*password);
    Outcome outcome = Judge(rc);
    if (outcome != Outcome::kRejected) return outcome;
  }
  tried_.push_back("password");
  return Outcome::kRejected;
}

std::string Authenticator::Summary(const std::string& reason) const {
  std::string text = "authentication failed for " + config_.host_label +
                     (reason.empty() ? "" : ": " + reason) + "; tried: ";
  if (tried_.empty()) text += "nothing usable";
  for (size_t i = 0; i < tried_.size(); ++i) text += (i ? ", " : "") + tried_[i];
  for (const std::string& step : partial_) text += "; " + step;
  text += "; server accepts: " + (server_methods_.empty() ? "?" : server_methods_);
  for (const std::string& hint : hints_) text += "; " + hint;
  return text;
}

}  // namespace tether
