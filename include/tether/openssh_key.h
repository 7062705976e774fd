#pragma once

#include <openssl/crypto.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "tether/rsa_key.h"

namespace tether {

/// Why a private key could not be read.
enum class KeyLoadError {
  kNone,
  kMalformed,        ///< not a well-formed key file (truncated, bad padding, ...)
  kUnsupported,      ///< well-formed, but a cipher, KDF or key type tether cannot read
  kWrongPassphrase,  ///< decryption did not give a consistent key
};

/// The unencrypted part of an OpenSSH-format private key ("openssh-key-v1").
struct OpensshKeyHeader {
  std::string cipher;       ///< "none", "aes256-ctr", ...
  std::string kdf;          ///< "none" or "bcrypt"
  std::string salt;         ///< bcrypt's salt
  uint32_t rounds = 0;      ///< bcrypt's rounds
  std::string public_blob;  ///< the public key, in the SSH wire format
  std::string key_type;     ///< the public blob's type: "ssh-rsa", "ssh-ed25519", ...
  std::string sealed;       ///< the (possibly encrypted) private section
  std::string tag;          ///< the authentication tag of an AEAD cipher

  OpensshKeyHeader() = default;
  OpensshKeyHeader(const OpensshKeyHeader&) = delete;
  OpensshKeyHeader& operator=(const OpensshKeyHeader&) = delete;
  /// An unencrypted key's private section is the key itself: wiped.
  ~OpensshKeyHeader() { OPENSSL_cleanse(sealed.data(), sealed.size()); }

  bool encrypted() const { return cipher != "none"; }
};

/// What the parser accepts; the fuzzer lowers max_rounds to stay fast.
struct OpensshKeyLimits {
  /// bcrypt rounds refused above this: ssh-keygen's default is 16, and 100000 already
  /// takes minutes.
  uint32_t max_rounds = 100000;
};

/// Parses the armored text ("-----BEGIN OPENSSH PRIVATE KEY-----" ...) up to the private
/// section, without decrypting it.
KeyLoadError ParseOpensshKeyHeader(std::string_view text, OpensshKeyHeader* header,
                                   std::string* detail);

/// Reads an RSA private key in the OpenSSH format, decrypting it with `passphrase` when it
/// is encrypted (bcrypt_pbkdf; aes128/192/256 in ctr, cbc or gcm@openssh.com mode). The
/// decrypted bytes are wiped before returning; the key lives only in *key.
/// kUnsupported for a key of another type (libssh2 reads those itself).
KeyLoadError LoadOpensshRsaKey(std::string_view text, std::string_view passphrase, EvpPkeyPtr* key,
                               std::string* detail,
                               const OpensshKeyLimits& limits = OpensshKeyLimits());

}  // namespace tether
