#include "support/param_text.h"

#include <cstdio>
#include <string>

namespace tether {

std::string ParamText(std::string_view text) {
  // Long enough to tell the cases of one table apart, short enough for a test name.
  constexpr size_t kLongest = 48;
  std::string shown;
  size_t used = 0;
  for (; used < text.size(); ++used) {
    const auto byte = static_cast<unsigned char>(text[used]);
    std::string piece(1, text[used]);
    if (byte < 0x20 || byte >= 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      piece = escaped;
    }
    if (shown.size() + piece.size() > kLongest) break;
    shown += piece;
  }
  std::string out = "'" + shown + "'";
  if (used < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace tether
