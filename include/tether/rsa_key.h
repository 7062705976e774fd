#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace tether {

/// Owner of an OpenSSL key. EVP_PKEY_free clears the private numbers before freeing them.
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

/// The six numbers of an RSA private key as OpenSSH stores them, big-endian magnitudes.
struct RsaParts {
  std::string_view n, e, d, iqmp, p, q;
};

/// An RSA key pair built from its parts (the CRT exponents are derived); nullptr when the
/// parts do not make a usable key.
EvpPkeyPtr RsaKeyFromParts(const RsaParts& parts);

/// An RSA public key from an "ssh-rsa" public key blob; nullptr when malformed.
EvpPkeyPtr RsaPublicKeyFromBlob(std::string_view blob);

/// True for an RSA key.
bool IsRsaKey(EVP_PKEY* key);

/// The SSH public key blob string("ssh-rsa") mpint(e) mpint(n), with `type_name` in place of
/// "ssh-rsa" when given; "" when the key is not RSA.
std::string RsaPublicBlob(EVP_PKEY* key, std::string_view type_name = "ssh-rsa");

/// The digest an RSA signature algorithm uses: SHA-512 for "rsa-sha2-512", SHA-256 for
/// "rsa-sha2-256", SHA-1 for "ssh-rsa"; nullptr for anything else.
const EVP_MD* RsaDigestFor(std::string_view algorithm);

/// The raw PKCS#1 v1.5 signature over `data` (the bytes inside the SSH signature blob).
bool RsaSign(EVP_PKEY* key, std::string_view algorithm, std::string_view data,
             std::string* signature);

/// Checks a raw PKCS#1 v1.5 signature made with `algorithm`.
bool RsaVerify(EVP_PKEY* key, std::string_view algorithm, std::string_view data,
               std::string_view signature);

}  // namespace tether
