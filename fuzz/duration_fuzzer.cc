// --ttl, --idle-timeout, --keepalive and -o ConnectTimeout/ServerAliveInterval values.
// Checks: no crash; a parsed value lies in [0, 100 years]; FormatDuration of it parses back
// to the same value; a failure message is one line naming the text; and FormatDuration of
// any value in range (taken from the first 8 bytes) parses back to that value.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/duration.h"

using std::chrono::seconds;
using tether::fuzz::Check;

namespace {

constexpr int64_t kMaxSeconds = int64_t{100} * 365 * 86400;  // ParseDuration's documented cap

void CheckRoundTrip(seconds value, std::string_view origin) {
  const std::string text = tether::FormatDuration(value);
  std::string error;
  const std::optional<seconds> again = tether::ParseDuration(text, &error);
  Check(again.has_value(), "FormatDuration output parses", text + " from " + std::string(origin));
  Check(*again == value, "ParseDuration(FormatDuration(d)) == d", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string error;
  const std::optional<seconds> parsed = tether::ParseDuration(input, &error);
  if (parsed) {
    Check(parsed->count() >= 0 && parsed->count() <= kMaxSeconds, "value within 0..100 years",
          input);
    CheckRoundTrip(*parsed, input);
  } else {
    Check(error.starts_with("bad duration '"), "error names the duration", error);
    Check(tether::fuzz::IsOneLine(error), "error is one printable line", error);
  }

  if (size >= sizeof(uint64_t)) {
    uint64_t raw = 0;
    std::memcpy(&raw, data, sizeof(raw));
    CheckRoundTrip(seconds(static_cast<int64_t>(raw % (kMaxSeconds + 1))), "first 8 bytes");
  }
  return 0;
}
