#include "tether/message_text.h"

#include <cstdio>
#include <string>

namespace tether {

std::string EscapeForMessage(std::string_view text) {
  // A message is read by a person: the start of a 100 KB argument says enough.
  constexpr size_t kLongest = 1024;
  const size_t full_size = text.size();
  if (full_size > kLongest) text = text.substr(0, kLongest);
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  if (full_size > kLongest) out += "... (" + std::to_string(full_size) + " bytes)";
  return out;
}

std::string QuoteForMessage(std::string_view text) {
  return "'" + EscapeForMessage(text) + "'";
}

bool HasControlCharacter(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

}  // namespace tether
