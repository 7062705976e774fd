#pragma once

#include <string>
#include <string_view>

#include "tether/openssh_key.h"

namespace tether {

/// What can be learnt about a private key file without its passphrase, so that tether asks
/// for a passphrase only when one is needed and names the real problem when a key is unusable.
struct KeyFileInfo {
  bool readable = false;
  bool encrypted = false;
  std::string key_type;  ///< "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", or "" if unknown
  std::string cipher;    ///< cipher protecting an OpenSSH-format key; "none" if not encrypted
  std::string format;    ///< "openssh", "pem" (PKCS#1 and the like) or "pkcs8"
  unsigned mode = 0;     ///< permission bits
  /// Owned by the user and readable or writable by group or others: ssh refuses such a key
  /// ("UNPROTECTED PRIVATE KEY FILE!", sshkey_perm_ok), and so does tether.
  bool too_open = false;
};

/// Reads the header of an OpenSSH or PEM private key file.
KeyFileInfo InspectKeyFile(const std::string& path);

/// Reads an RSA private key from a file in any format ssh-keygen writes: PEM (PKCS#1),
/// PKCS#8 (both through OpenSSL) and the OpenSSH format, decrypting it with `passphrase`
/// when it is encrypted. kUnsupported for a key of another type. *detail says why it failed.
KeyLoadError LoadRsaKeyFile(const std::string& path, std::string_view passphrase, EvpPkeyPtr* key,
                            std::string* detail);

}  // namespace tether
