#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tether/unique_fd.h"

namespace tether {

/// One key an ssh-agent holds.
struct AgentIdentity {
  std::string blob;     ///< the public key in the SSH wire format
  std::string comment;  ///< usually the file it was added from
};

/// A small client of the ssh-agent protocol (draft-miller-ssh-agent): listing keys and
/// asking for signatures, with the flags that select rsa-sha2 signatures for RSA keys,
/// which libssh2 1.10's agent support cannot send. Blocking, with a timeout per reply.
class AgentClient {
 public:
  /// SSH_AGENT_RSA_SHA2_256 and SSH_AGENT_RSA_SHA2_512: sign with SHA-256/512, not SHA-1.
  static constexpr uint32_t kRsaSha2_256 = 2;
  static constexpr uint32_t kRsaSha2_512 = 4;

  /// Connects to the agent's Unix socket; nullptr and *error when it cannot. Every wait
  /// for the agent ends early, failing with interrupted() set, when `abort_fd` (e.g. the
  /// stop-signal fd; -1 = none) becomes readable.
  static std::unique_ptr<AgentClient> Connect(
      const std::string& socket_path, std::string* error,
      std::chrono::milliseconds timeout = std::chrono::seconds(30), int abort_fd = -1);

  AgentClient(UniqueFd fd, std::chrono::milliseconds timeout, int abort_fd)
      : fd_(std::move(fd)), timeout_(timeout), abort_fd_(abort_fd) {}

  /// True when a wait was ended by abort_fd.
  bool interrupted() const { return interrupted_; }

  /// SSH2_AGENTC_REQUEST_IDENTITIES.
  bool ListIdentities(std::vector<AgentIdentity>* identities, std::string* error);

  /// SSH2_AGENTC_SIGN_REQUEST for `blob` over `data` with `flags`. On success *algorithm is
  /// the signature's type ("rsa-sha2-512", "ssh-ed25519", ...) and *signature the bytes
  /// inside the signature blob. False with *error when the agent refuses or fails.
  bool Sign(std::string_view blob, std::string_view data, uint32_t flags, std::string* algorithm,
            std::string* signature, std::string* error);

 private:
  /// Sends one message and reads the reply's payload (type byte first).
  bool Exchange(const std::string& request, std::string* reply, std::string* error);
  /// Waits until the agent's socket is ready for `events`; false on timeout or abort.
  bool WaitFor(short events);
  bool WriteAll(std::string_view data);
  bool ReadAll(char* out, size_t size);

  UniqueFd fd_;
  std::chrono::milliseconds timeout_;
  int abort_fd_;
  bool interrupted_ = false;
};

}  // namespace tether
