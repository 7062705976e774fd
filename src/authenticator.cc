#include "tether/authenticator.h"

#include <unistd.h>

#include <cstring>
#include <optional>

#include "tether/key_file.h"
#include "tether/packet_pool.h"
#include "tether/session_events.h"
#include "tether/ssh_handles.h"

namespace tether {
namespace {

constexpr char kRsaHint[] =
    "RSA keys need rsa-sha2 signatures, which libssh2 1.10 cannot make; use an ed25519 or "
    "ecdsa key";

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
    std::string text(instruction, static_cast<size_t>(instruction_len));
    (void)!write(STDERR_FILENO, (text + "\n").data(), text.size() + 1);
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
    int rc = waiter_->Run([&] {
      return libssh2_agent_userauth(agent.get(), config_.user.c_str(), identity);
    });
    Outcome outcome = Judge(rc);
    if (outcome != Outcome::kRejected) return outcome;
  }
  tried_.push_back("ssh-agent (" + std::to_string(offered) + " key" + (offered == 1 ? "" : "s") +
                   ")");
  return offered > 0 ? Outcome::kRejected : Outcome::kNotTried;
}

Authenticator::Outcome Authenticator::TryKeyFiles() {
  if (!config_.allow_publickey || !ServerOffers("publickey")) return Outcome::kNotTried;
  bool explicit_files = !config_.identity_files.empty();
  const auto& files = explicit_files ? config_.identity_files : config_.default_identity_files;
  Outcome result = Outcome::kNotTried;
  for (const std::string& path : files) {
    if (!explicit_files && access(path.c_str(), R_OK) != 0) continue;
    result = TryKeyFile(path);
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
    if (outcome != Outcome::kRejected) return outcome;
    // A wrong passphrase and an unreadable format both come back as a file error.
    if (rc != LIBSSH2_ERROR_FILE) break;
    if (!info.encrypted) {
      tried_.push_back(path + " (" + LastSshError(session_) + ")");
      return Outcome::kRejected;
    }
  }
  if (info.key_type == "ssh-rsa") hints_.push_back(path + ": " + kRsaHint);
  tried_.push_back(path + (info.encrypted ? " (encrypted)" : ""));
  return Outcome::kRejected;
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
      return libssh2_userauth_keyboard_interactive_ex(session_, config_.user.c_str(),
                                                      ToUint(config_.user.size()),
                                                      &AnswerKeyboardInteractive);
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
