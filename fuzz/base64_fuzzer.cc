// Base64 decodes host keys from known_hosts and private key files, both outside tether's
// control. Checks: any text decodes without a crash; every byte string survives an
// encode/decode round trip, padded and unpadded; decoding is idempotent through re-encoding.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/base64.h"

using tether::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (const bool pad : {true, false}) {
    const std::string encoded = tether::Base64Encode(input, pad);
    Check(encoded.size() == (pad ? (size + 2) / 3 * 4 : (size * 4 + 2) / 3), "encoded length",
          encoded);
    const std::optional<std::string> decoded = tether::Base64Decode(encoded);
    Check(decoded.has_value() && *decoded == input, "Decode(Encode(x)) == x", encoded);
  }

  if (const std::optional<std::string> decoded = tether::Base64Decode(input)) {
    Check(decoded->size() <= size * 3 / 4, "decoded size at most 3/4 of the text", input);
    const std::optional<std::string> again = tether::Base64Decode(tether::Base64Encode(*decoded));
    Check(again == decoded, "Decode(Encode(Decode(t))) == Decode(t)", input);
  }
  return 0;
}
