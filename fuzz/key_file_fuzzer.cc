// InspectKeyFile reads the header of a private key file named by -i or IdentityFile: any
// file the user points at. The input is written to a file in a private scratch directory.
// Checks: no crash; the file is reported readable; an encrypted key names its cipher; an
// unencrypted PEM key says "none".

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/key_file.h"

using tether::fuzz::Check;

namespace {
constexpr size_t kMaxRead = size_t{64} * 1024;  // InspectKeyFile reads no more than this
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tether::fuzz::ScratchDir scratch;
  static const std::string path = scratch.path() + "/id_key";
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tether::fuzz::WriteFile(path, input);

  const tether::KeyFileInfo info = tether::InspectKeyFile(path);
  Check(info.readable, "a regular file is readable", input);
  if (info.encrypted) {
    Check(!info.cipher.empty() && info.cipher != "none", "an encrypted key names its cipher",
          info.cipher);
  }
  const bool openssh =
      input.substr(0, kMaxRead).find("-----BEGIN OPENSSH PRIVATE KEY-----") != std::string::npos;
  if (!openssh) {
    Check(info.cipher == (info.encrypted ? "pem" : "none"), "PEM cipher is pem or none",
          info.cipher);
  }
  return 0;
}
