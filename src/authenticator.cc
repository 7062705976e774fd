#include "tether/authenticator.h"

#include <unistd.h>

#include <cstring>
#include <optional>

#include "tether/key_file.h"
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
  // libssh2 frees the responses with its allocator, which is malloc by default.
  char* copy = static_cast<char*>(malloc(text.size() + 1));
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
  auto* context = static_cast<KbdContext*>(*abstract);
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
    *failure = waiter_->abandoned() ? waiter_->failure()
                                    : Failure{ExitCode::kNotTrusted,
                                              "server refused to list authentication methods: " +
                                                  LastSshError(session_)};
    return Authenticated();
  }
  if (Authenticated()) return true;
  using Step = Outcome (Authenticator::*)();
  for (Step step : {&Authenticator::TryAgent, &Authenticator::TryKeyFiles,
                    &Authenticator::TryKeyboardInteractive, &Authenticator::TryPassword}) {
    Outcome outcome = (this->*step)();
    if (outcome == Outcome::kAccepted) return true;
    if (outcome == Outcome::kAbandoned) {
      *failure = waiter_->failure();
      return false;
    }
  }
  *failure = {ExitCode::kNotTrusted, Summary()};
  return false;
}

bool Authenticator::RefreshMethods() {
  char* list = waiter_->RunForPointer<char>([&] {
    return libssh2_userauth_list(session_, config_.user.c_str(), ToUint(config_.user.size()));
  });
  if (list == nullptr) return Authenticated();
  server_methods_ = list;
  return true;
}

bool Authenticator::ServerOffers(const std::string& method) const {
  std::string padded = "," + server_methods_ + ",";
  return padded.find("," + method + ",") != std::string::npos;
}

Authenticator::Outcome Authenticator::TryAgent() {
  if (config_.agent_socket.empty() || !config_.allow_publickey || !ServerOffers("publickey")) {
    return Outcome::kRejected;
  }
  AgentPtr agent(libssh2_agent_init(session_));
  if (!agent) return Outcome::kRejected;
  libssh2_agent_set_identity_path(agent.get(), config_.agent_socket.c_str());
  if (libssh2_agent_connect(agent.get()) != 0 || libssh2_agent_list_identities(agent.get()) != 0) {
    tried_.push_back("ssh-agent (could not be reached at " + config_.agent_socket + ")");
    return Outcome::kRejected;
  }
  int offered = 0;
  libssh2_agent_publickey* identity = nullptr;
  while (libssh2_agent_get_identity(agent.get(), &identity, identity) == 0) {
    ++offered;
    int rc = waiter_->Run([&] {
      return libssh2_agent_userauth(agent.get(), config_.user.c_str(), identity);
    });
    if (rc == 0) return Outcome::kAccepted;
    if (waiter_->abandoned()) return Outcome::kAbandoned;
  }
  tried_.push_back("ssh-agent (" + std::to_string(offered) + " key" + (offered == 1 ? "" : "s") +
                   ")");
  return Outcome::kRejected;
}

Authenticator::Outcome Authenticator::TryKeyFiles() {
  if (!config_.allow_publickey || !ServerOffers("publickey")) return Outcome::kRejected;
  bool explicit_files = !config_.identity_files.empty();
  const auto& files = explicit_files ? config_.identity_files : config_.default_identity_files;
  for (const std::string& path : files) {
    if (!explicit_files && access(path.c_str(), R_OK) != 0) continue;
    Outcome outcome = TryKeyFile(path);
    if (outcome != Outcome::kRejected) return outcome;
  }
  return Outcome::kRejected;
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
    if (rc == 0) return Outcome::kAccepted;
    if (waiter_->abandoned()) return Outcome::kAbandoned;
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
    return Outcome::kRejected;
  }
  KbdContext context{&config_.prompts};
  void** abstract = libssh2_session_abstract(session_);
  void* saved = *abstract;
  *abstract = &context;
  for (int attempt = 0; attempt < config_.password_prompts && !context.gave_up; ++attempt) {
    int rc = waiter_->Run([&] {
      return libssh2_userauth_keyboard_interactive_ex(session_, config_.user.c_str(),
                                                      ToUint(config_.user.size()),
                                                      &AnswerKeyboardInteractive);
    });
    if (rc == 0) {
      *abstract = saved;
      return Outcome::kAccepted;
    }
    if (waiter_->abandoned()) break;
  }
  *abstract = saved;
  tried_.push_back("keyboard-interactive");
  return waiter_->abandoned() ? Outcome::kAbandoned : Outcome::kRejected;
}

Authenticator::Outcome Authenticator::TryPassword() {
  if (!config_.allow_password || !ServerOffers("password") || !CanAskUser(config_.prompts)) {
    return Outcome::kRejected;
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
    if (rc == 0) return Outcome::kAccepted;
    if (waiter_->abandoned()) return Outcome::kAbandoned;
  }
  tried_.push_back("password");
  return Outcome::kRejected;
}

std::string Authenticator::Summary() const {
  std::string text = "authentication failed for " + config_.host_label + "; tried: ";
  if (tried_.empty()) text += "nothing usable";
  for (size_t i = 0; i < tried_.size(); ++i) text += (i ? ", " : "") + tried_[i];
  text += "; server accepts: " + (server_methods_.empty() ? "?" : server_methods_);
  for (const std::string& hint : hints_) text += "; " + hint;
  return text;
}

}  // namespace tether
