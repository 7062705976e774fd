// known_hosts files: written by ssh and by hand, shared between tools, sometimes merged
// from elsewhere. The input is written as a user known_hosts file in a private scratch
// directory and loaded through libssh2's knownhost API with a session that never connects.
// Two fixed throwaway host keys (ed25519, ECDSA) are then verified for db.example.com on
// port 22 and on port 2222, always under kStrict (kAcceptNew would write to the file).
// Checks: no crash or leak; a key is trusted only when its base64 is in the file; a key on
// an @revoked line is never trusted; a refusal carries kNotTrusted and a message; strict
// checking never modifies the file; warnings are one printable line each.

#include <libssh2.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tether/base64.h"
#include "tether/failure.h"
#include "tether/known_hosts.h"
#include "tether/ssh_handles.h"

using tether::fuzz::Check;

namespace {

constexpr std::string_view kHost = "db.example.com";

struct TestKey {
  std::string_view base64;  ///< as in a known_hosts line
  int libssh2_type;
  std::string_view algorithm;
  std::string_view fingerprint;
};

// Public halves of keys generated for this fuzzer and thrown away.
constexpr TestKey kKeys[] = {
    {"AAAAC3NzaC1lZDI1NTE5AAAAIFsQQD25z9b1JNytC6QC5o9nix+bbzuKHLNjMlAxf1I0",
     LIBSSH2_HOSTKEY_TYPE_ED25519, "ssh-ed25519",
     "SHA256:XBW+0qS44Wk593thRhrA49DWvEq6X0eSZuD+0H53r24"},
    {"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOvsNK/1AD0fOtx8QBB08pgkv9Z5dP4qGHHAli/"
     "c0rowsV4LDIfyvXUJQwT45UrYYmHaY5CeOeFc2ZPlaYm5aUg=",
     LIBSSH2_HOSTKEY_TYPE_ECDSA_256, "ecdsa-sha2-nistp256",
     "SHA256:gW9rgg8IXc8Z9nVQWguAmfZ4K4ocy5RWA0S72iW9TJg"},
};

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

std::string OnlyBase64Chars(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (IsBase64Char(c)) out += c;
  }
  return out;
}

// libssh2 skips characters outside the alphabet when it decodes a key, so a key counts as
// present when its base64 appears once everything else is removed.
bool KeyPresent(std::string_view input, std::string_view base64) {
  return OnlyBase64Chars(input).find(OnlyBase64Chars(base64)) != std::string::npos;
}

// A line "@revoked HOSTS TYPE KEY" naming exactly this key (fields split as ssh splits them).
bool KeyRevoked(std::string_view input, std::string_view base64) {
  std::istringstream lines{std::string(input)};
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string marker, hosts, type, key;
    fields >> marker >> hosts >> type >> key;
    if (marker.starts_with("@revoked") && key == base64) return true;
  }
  return false;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Fixture {
  tether::Libssh2Library library;
  tether::SessionPtr session{libssh2_session_init()};
  tether::fuzz::ScratchDir scratch;
  std::string path = scratch.path() + "/known_hosts";
};

void VerifyKey(tether::KnownHosts* known, const TestKey& test_key, std::string_view input) {
  tether::ServerHostKey key;
  key.blob = tether::Base64Decode(test_key.base64).value();
  key.libssh2_type = test_key.libssh2_type;
  key.algorithm = std::string(test_key.algorithm);
  key.fingerprint = std::string(test_key.fingerprint);
  tether::Failure failure;
  if (known->Verify(key, &failure)) {
    Check(KeyPresent(input, test_key.base64), "a trusted key is in the file", input);
    Check(!KeyRevoked(input, test_key.base64), "a revoked key is never trusted", input);
  } else {
    Check(failure.code == tether::ExitCode::kNotTrusted && !failure.message.empty(),
          "a refusal is kNotTrusted with a message", failure.message);
  }
}

void VerifyKeys(const Fixture& fixture, uint16_t port, std::string_view input) {
  tether::HostKeyCheckConfig config;
  config.host = std::string(kHost);
  config.port = port;
  config.user_files = {fixture.path};
  config.policy = tether::HostKeyPolicy::kStrict;
  std::vector<std::string> warnings;
  std::unique_ptr<tether::KnownHosts> known =
      tether::KnownHosts::Load(fixture.session.get(), config, &warnings);
  Check(known != nullptr, "Load returns a KnownHosts", input);
  for (const std::string& warning : warnings) {
    Check(tether::fuzz::IsOneLine(warning), "warning is one printable line", warning);
  }
  (void)known->PreferredAlgorithms(fixture.session.get());
  for (const TestKey& key : kKeys) VerifyKey(known.get(), key, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture;
  Check(fixture.library.ok() && fixture.session != nullptr, "libssh2 session without a socket");
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tether::fuzz::WriteFile(fixture.path, input);

  for (const uint16_t port : {uint16_t{22}, uint16_t{2222}}) VerifyKeys(fixture, port, input);
  Check(ReadFile(fixture.path) == input, "strict checking never writes known_hosts", input);
  return 0;
}
