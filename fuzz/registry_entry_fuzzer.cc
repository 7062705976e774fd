// A registry entry file (`tether list` reads every file in the registry directory).
// Checks: no crash; a parsed entry has a pid and a start time, formats back to text that
// parses to the same entry; a failure message is one printable line.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/registry.h"

using tether::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string error;
  std::optional<tether::RegistryEntry> entry = tether::ParseRegistryEntry(input, &error);
  if (!entry) {
    Check(tether::fuzz::IsOneLine(error), "error is one printable line", error);
    return 0;
  }
  Check(entry->pid > 0 && entry->start_ticks > 0, "pid and start time set", input);
  const std::string text = tether::FormatRegistryEntry(*entry);
  std::optional<tether::RegistryEntry> again = tether::ParseRegistryEntry(text, &error);
  Check(again.has_value() && *again == *entry, "entry round trip", text);
  return 0;
}
