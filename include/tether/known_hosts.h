#pragma once

#include <libssh2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tether/failure.h"
#include "tether/host_key_policy.h"
#include "tether/ssh_handles.h"

namespace tether {

/// Which known_hosts files to consult and what to do with an unknown key.
struct HostKeyCheckConfig {
  std::string host;  ///< the name the user connects to (before address resolution)
  uint16_t port = 22;
  std::vector<std::string> user_files;    ///< read; the first also receives accepted keys
  std::vector<std::string> global_files;  ///< read only
  HostKeyPolicy policy = HostKeyPolicy::kStrict;
  bool hash_new_entries = false;  ///< HashKnownHosts: accepted keys are stored hashed
};

/// The server's host key as received in the handshake.
struct ServerHostKey {
  std::string blob;         ///< raw SSH wire encoding
  int libssh2_type = 0;     ///< LIBSSH2_HOSTKEY_TYPE_*
  std::string algorithm;    ///< "ssh-ed25519", "ecdsa-sha2-nistp256", ...
  std::string fingerprint;  ///< "SHA256:..." as ssh prints it
};

/// known_hosts as OpenSSH reads it, checked through libssh2's knownhost API. Lines libssh2
/// cannot parse are skipped one by one (libssh2_knownhost_readfile would stop at the first).
class KnownHosts {
 public:
  /// Loads every file in `config` that exists. Skipped lines are described in *warnings.
  static std::unique_ptr<KnownHosts> Load(LIBSSH2_SESSION* session, HostKeyCheckConfig config,
                                          std::vector<std::string>* warnings);

  /// Host key algorithms for LIBSSH2_METHOD_HOSTKEY: those already known for this host first,
  /// so a host known by one key type is not reported as unknown for another.
  std::string PreferredAlgorithms(LIBSSH2_SESSION* session) const;

  /// Checks the key the server presented. Unknown keys are refused (kStrict), or appended to
  /// the first user file (kAcceptNew, kOff). A changed key is always refused: every use of
  /// tether forwards ports, which ssh also disables on a changed key.
  bool Verify(const ServerHostKey& key, Failure* failure);

  /// "[host]:port" for a non-22 port, else "host" — the name known_hosts stores.
  std::string HostPattern() const;
  /// How a new entry names the host: HostPattern(), hashed when HashKnownHosts asks.
  std::string StoredHostName() const;

 private:
  KnownHosts(KnownHostsPtr hosts, HostKeyCheckConfig config)
      : hosts_(std::move(hosts)), config_(std::move(config)) {}
  void LoadFile(const std::string& path, std::vector<std::string>* warnings);
  int Check(const std::string& blob, int key_mask) const;
  std::vector<int> KnownKeyMasks() const;
  bool AppendKey(const ServerHostKey& key, Failure* failure);

  KnownHostsPtr hosts_;
  HostKeyCheckConfig config_;
  std::vector<std::string> revoked_blobs_;  ///< keys from @revoked lines (base64)
};

/// Reads the presented host key from a session after its handshake.
bool GetServerHostKey(LIBSSH2_SESSION* session, ServerHostKey* key, Failure* failure);

}  // namespace tether
