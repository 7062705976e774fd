#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace tether {

using Sha1Digest = std::array<uint8_t, 20>;

/// SHA-1 (FIPS 180-4). Only for what the known_hosts format fixes: hashed host names.
Sha1Digest Sha1(std::string_view data);

/// HMAC-SHA1 (RFC 2104): how OpenSSH hashes a host name with a salt in known_hosts
/// ("|1|base64(salt)|base64(HMAC-SHA1(salt, name))").
Sha1Digest HmacSha1(std::string_view key, std::string_view data);

}  // namespace tether
