#include "tether/rsa_sha2_auth.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "tether/packet_pool.h"
#include "tether/ssh_wire.h"

namespace tether {
namespace {

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

bool Matches(const std::string& pattern, std::string_view name) {
  return fnmatch(pattern.c_str(), std::string(name).c_str(), 0) == 0;
}

// The libssh2_userauth_publickey callback: asks the signer, hands libssh2 a copy made
// with the session's allocator (libssh2 frees it with the session's free).
int SignThroughSigner(LIBSSH2_SESSION* session, unsigned char** sig, size_t* sig_len,
                      const unsigned char* data, size_t data_len, void** abstract) {
  (void)session;
  auto* signer = static_cast<PublickeySigner*>(*abstract);
  signer->asked = true;
  std::string signature;
  if (!signer->sign(std::string_view(reinterpret_cast<const char*>(data), data_len), &signature)) {
    signer->failed = true;
    return -1;
  }
  void* copy = packet_pool::Allocate(signature.size(), nullptr);
  if (copy == nullptr) return -1;
  memcpy(copy, signature.data(), signature.size());
  *sig = static_cast<unsigned char*>(copy);
  *sig_len = signature.size();
  return 0;
}

}  // namespace

std::vector<std::string> ResolvePubkeyAlgorithms(std::string_view configured) {
  std::vector<std::string> defaults = SplitList(kDefaultPubkeyAlgorithms);
  if (configured.empty()) return defaults;
  char op = configured[0];
  std::vector<std::string> given =
      SplitList(configured.substr(op == '+' || op == '-' || op == '^'));
  if (op == '+') {
    for (const std::string& item : given) {
      if (std::find(defaults.begin(), defaults.end(), item) == defaults.end()) {
        defaults.push_back(item);
      }
    }
    return defaults;
  }
  if (op == '-') {
    std::erase_if(defaults, [&](const std::string& item) {
      return std::any_of(given.begin(), given.end(),
                         [&](const std::string& pattern) { return Matches(pattern, item); });
    });
    return defaults;
  }
  if (op == '^') {
    std::erase_if(defaults, [&](const std::string& item) {
      return std::find(given.begin(), given.end(), item) != given.end();
    });
    given.insert(given.end(), defaults.begin(), defaults.end());
  }
  return given;
}

bool AlgorithmAccepted(const std::vector<std::string>& accepted, std::string_view algorithm) {
  return std::any_of(accepted.begin(), accepted.end(),
                     [&](const std::string& pattern) { return Matches(pattern, algorithm); });
}

bool OpensshAtLeast(std::string_view banner, int major, int minor) {
  constexpr std::string_view kTag = "-OpenSSH_";
  size_t at = banner.find(kTag);
  if (at == std::string_view::npos) return false;
  std::string version(banner.substr(at + kTag.size(), 16));
  char* end = nullptr;
  long found_major = strtol(version.c_str(), &end, 10);
  if (end == version.c_str()) return false;
  long found_minor = *end == '.' ? strtol(end + 1, nullptr, 10) : 0;
  return found_major > major || (found_major == major && found_minor >= minor);
}

std::vector<std::string> RsaSignaturePlan(std::string_view banner,
                                          const std::vector<std::string>& accepted,
                                          bool allow_fallback) {
  std::vector<std::string> plan;
  if (OpensshAtLeast(banner, 7, 2)) {
    // Preference as listed, rsa-sha2-512 first by default, as ssh.
    for (const std::string& entry : accepted) {
      for (const char* variant : {"rsa-sha2-512", "rsa-sha2-256"}) {
        if (plan.empty() && Matches(entry, variant)) plan.emplace_back(variant);
      }
    }
    if (!plan.empty() && !allow_fallback) return plan;
  }
  if (AlgorithmAccepted(accepted, "ssh-rsa")) plan.emplace_back("ssh-rsa");
  return plan;
}

std::string BlobForAlgorithm(std::string_view ssh_rsa_blob, std::string_view algorithm) {
  WireReader reader(ssh_rsa_blob);
  std::string_view type;
  if (!reader.ReadString(&type) || type != "ssh-rsa" || algorithm == "ssh-rsa") {
    return std::string(ssh_rsa_blob);
  }
  WireWriter writer;
  writer.PutString(algorithm);
  writer.mutable_data().append(reader.rest());
  return writer.data();
}

int UserauthWithSigner(LIBSSH2_SESSION* session, const std::string& user, const std::string& blob,
                       PublickeySigner* signer) {
  void* abstract = signer;
  return libssh2_userauth_publickey(session, user.c_str(),
                                    reinterpret_cast<const unsigned char*>(blob.data()),
                                    blob.size(), &SignThroughSigner, &abstract);
}

}  // namespace tether
