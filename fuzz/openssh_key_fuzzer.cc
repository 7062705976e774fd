// The OpenSSH private key parser reads any file named by -i or IdentityFile, before and
// while decrypting it. Input that is not armored already is taken as the decoded body and
// armored, so that the fuzzer works on the binary format itself. Checks: no crash, no
// hang (bcrypt rounds are capped low here); a key that loads matches its public blob.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/base64.h"
#include "tether/openssh_key.h"
#include "tether/rsa_key.h"

using tether::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string text(input);
  if (input.find("-----BEGIN OPENSSH PRIVATE KEY-----") == std::string_view::npos) {
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + tether::Base64Encode(input) +
           "\n-----END OPENSSH PRIVATE KEY-----\n";
  }
  tether::OpensshKeyHeader header;
  std::string detail;
  const tether::KeyLoadError parsed = tether::ParseOpensshKeyHeader(text, &header, &detail);
  Check(parsed != tether::KeyLoadError::kWrongPassphrase, "the header needs no passphrase", detail);

  tether::OpensshKeyLimits limits;
  limits.max_rounds = 2;  // each round costs milliseconds; a fuzzed count must not hang
  tether::EvpPkeyPtr key;
  // The seed corpus' encrypted keys use this passphrase, so decryption is reached too.
  const tether::KeyLoadError loaded =
      tether::LoadOpensshRsaKey(text, "fuzz-pass", &key, &detail, limits);
  Check((loaded == tether::KeyLoadError::kNone) == (key != nullptr),
        "a key exactly when loading succeeds", detail);
  if (loaded == tether::KeyLoadError::kNone) {
    Check(parsed == tether::KeyLoadError::kNone, "a loaded key has a valid header");
    Check(tether::RsaPublicBlob(key.get()) == header.public_blob,
          "the loaded key is the public key of the header");
  }
  return 0;
}
