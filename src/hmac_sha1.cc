#include "tether/hmac_sha1.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace tether {

// OpenSSL's, which tether links for its ciphers anyway; the digests cannot fail for inputs
// this small, and a failure would leave the digest zero, which matches no host.

Sha1Digest Sha1(std::string_view data) {
  Sha1Digest digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha1(), nullptr);
  return digest;
}

Sha1Digest HmacSha1(std::string_view key, std::string_view data) {
  Sha1Digest digest{};
  unsigned int length = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(), &length);
  return digest;
}

}  // namespace tether
