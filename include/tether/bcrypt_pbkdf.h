#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tether {

/// OpenBSD's bcrypt_pbkdf, the key derivation of passphrase-protected OpenSSH private keys
/// ("kdfname bcrypt"): SHA-512 of passphrase and salt fed through an expensive Blowfish key
/// schedule (eksblowfish), `rounds` times, with the output bytes spread across blocks.
/// OpenSSL has no such function. Fills key[0, key_length); false when the arguments are
/// out of range (no rounds, no salt, or key_length 0 or above 1024).
bool BcryptPbkdf(std::string_view passphrase, std::string_view salt, uint32_t rounds, uint8_t* key,
                 size_t key_length);

}  // namespace tether
