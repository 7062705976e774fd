#pragma once

#include <string>

namespace tether {

/// What can be learnt about a private key file without its passphrase, so that tether asks
/// for a passphrase only when one is needed and names the real problem when a key is unusable.
struct KeyFileInfo {
  bool readable = false;
  bool encrypted = false;
  std::string key_type;  ///< "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", or "" if unknown
  std::string cipher;    ///< cipher protecting an OpenSSH-format key; "none" if not encrypted
};

/// Reads the header of an OpenSSH or PEM private key file.
KeyFileInfo InspectKeyFile(const std::string& path);

}  // namespace tether
