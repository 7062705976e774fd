#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

class SshConfig;

/// The algorithm lists to offer, comma-separated, best first; empty = tether's default.
struct AlgorithmPreferences {
  std::string kex;
  std::string host_key;  ///< when empty, the types known_hosts holds for the host go first
  std::string ciphers;
  std::string macs;
};

/// tether's defaults: the ctr ciphers and SHA-2 MACs OpenSSH still offers (libssh2's own
/// lists put CBC ciphers and SHA-1 first).
inline constexpr char kDefaultCiphers[] = "aes128-ctr,aes192-ctr,aes256-ctr";
inline constexpr char kDefaultMacs[] = "hmac-sha2-256,hmac-sha2-512,hmac-sha1";

/// Applies an ssh_config algorithm list to `defaults` as ssh does: "a,b" replaces it,
/// "+a,b" appends, "-a,b" removes, "^a,b" puts first; names may hold '*' and '?' wildcards,
/// matched against `supported`. A plain name that is not in `supported` is an error naming
/// it (`keyword` starts the message), and so is a result with nothing left.
std::optional<std::string> ResolveAlgorithms(std::string_view keyword, std::string_view spec,
                                             const std::vector<std::string>& supported,
                                             const std::vector<std::string>& defaults,
                                             std::string* error);

/// Reads Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms from `config`, checked against
/// what this libssh2 supports. False with *error ("Ciphers: ...") for a bad list.
bool PlanAlgorithms(const SshConfig& config, AlgorithmPreferences* preferences, std::string* error);

}  // namespace tether
