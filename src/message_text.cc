#include "tether/message_text.h"

#include <cstdio>

namespace tether {

std::string EscapeForMessage(std::string_view text) {
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
  return out;
}

std::string QuoteForMessage(std::string_view text) {
  return "'" + EscapeForMessage(text) + "'";
}

}  // namespace tether
