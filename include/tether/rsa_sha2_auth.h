#pragma once

#include <libssh2.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

/// tether's PubkeyAcceptedAlgorithms when none is configured: OpenSSH's default key types
/// (certificates aside), then "ssh-rsa" last, kept for servers that cannot be asked for
/// rsa-sha2 through libssh2 1.10 (see RsaSignaturePlan).
inline constexpr char kDefaultPubkeyAlgorithms[] =
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256,"
    "ssh-rsa";

/// The list PubkeyAcceptedAlgorithms `configured` stands for, as ssh reads it: empty for the
/// default; "+a,b" appends to the default, "-a,b" removes (patterns allowed), "^a,b" puts
/// in front; otherwise the list itself (its entries may be patterns with * and ?).
std::vector<std::string> ResolvePubkeyAlgorithms(std::string_view configured);

/// True when `algorithm` matches an entry of `accepted`.
bool AlgorithmAccepted(const std::vector<std::string>& accepted, std::string_view algorithm);

/// True when the server's identification string names OpenSSH `major`.`minor` or later.
bool OpensshAtLeast(std::string_view banner, int major, int minor);

/// Which signature algorithms to try for one RSA key, in order, on a server with this banner.
/// On OpenSSH 7.2 or later (which takes an rsa-sha2 name in the key blob, the only way
/// libssh2 1.10 can send one): the first rsa-sha2 variant of `accepted` and then, if
/// `allow_fallback`, "ssh-rsa". Elsewhere only "ssh-rsa". Each entry filtered by `accepted`.
std::vector<std::string> RsaSignaturePlan(std::string_view banner,
                                          const std::vector<std::string>& accepted,
                                          bool allow_fallback);

/// The key blob libssh2 1.10 must be given to send `algorithm`: it takes the userauth
/// algorithm name from the blob's first string, so an rsa-sha2 name replaces "ssh-rsa"
/// (OpenSSH accepts that; RFC 8332 would keep "ssh-rsa" inside).
std::string BlobForAlgorithm(std::string_view ssh_rsa_blob, std::string_view algorithm);

/// Makes the signature for one publickey attempt: the raw signature bytes over `data`
/// (without the algorithm name, which libssh2 adds).
struct PublickeySigner {
  std::function<bool(std::string_view data, std::string* signature)> sign;
  bool asked = false;   ///< the server took the key (PK_OK) and a signature was asked for
  bool failed = false;  ///< sign returned false
};

/// libssh2_userauth_publickey with `blob` and signatures from `signer`; returns libssh2's
/// code (LIBSSH2_ERROR_EAGAIN while the session would block, as with every call).
int UserauthWithSigner(LIBSSH2_SESSION* session, const std::string& user, const std::string& blob,
                       PublickeySigner* signer);

}  // namespace tether
