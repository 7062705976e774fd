#include "tether/message_text.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace tether {
namespace {

void AppendEscaped(std::string_view bytes, std::string* out) {
  for (char c : bytes) {
    char escaped[8];
    std::snprintf(escaped, sizeof(escaped), "\\x%02x", static_cast<unsigned char>(c));
    *out += escaped;
  }
}

// The length of the well-formed UTF-8 sequence at the start of `text` and its code point
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF); 0 when malformed.
size_t DecodeUtf8(std::string_view text, uint32_t* code_point) {
  const auto lead = static_cast<unsigned char>(text[0]);
  size_t length = 0;
  uint32_t value = 0;
  uint32_t smallest = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, value = lead & 0x1fu, smallest = 0x80;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, value = lead & 0x0fu, smallest = 0x800;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, value = lead & 0x07u, smallest = 0x10000;
  } else {
    return 0;  // a continuation byte, 0xc0/0xc1 (always overlong) or 0xf5 and above
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[i]);
    if ((next & 0xc0u) != 0x80u) return 0;
    value = (value << 6) | (next & 0x3fu);
  }
  if (value < smallest || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return 0;
  *code_point = value;
  return length;
}

// Code points a terminal acts on instead of showing: the C1 controls (U+009B is CSI, like
// ESC [), the bidirectional overrides and isolates that reorder what follows (U+202E makes
// "exe.txt" read "txt.exe"), and the line and paragraph separators.
bool IsInvisibleControl(uint32_t code_point) {
  return (code_point >= 0x80 && code_point <= 0x9f) || code_point == 0x061c ||
         code_point == 0x200e || code_point == 0x200f ||
         (code_point >= 0x2028 && code_point <= 0x202e) ||
         (code_point >= 0x2066 && code_point <= 0x2069);
}

}  // namespace

std::string EscapeForMessage(std::string_view text) {
  // A message is read by a person: the start of a 100 KB argument says enough.
  constexpr size_t kLongest = 1024;
  const size_t full_size = text.size();
  if (full_size > kLongest) text = text.substr(0, kLongest);
  std::string out;
  while (!text.empty()) {
    const auto byte = static_cast<unsigned char>(text[0]);
    size_t length = 1;
    if (byte < 0x20 || byte == 0x7f) {
      AppendEscaped(text.substr(0, 1), &out);
    } else if (byte < 0x80) {
      out += text[0];
    } else if (uint32_t code_point = 0; (length = DecodeUtf8(text, &code_point)) == 0) {
      length = 1;  // not UTF-8 (a raw 0x9b among them): each such byte is shown as \xNN
      AppendEscaped(text.substr(0, 1), &out);
    } else if (IsInvisibleControl(code_point)) {
      AppendEscaped(text.substr(0, length), &out);
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
  if (full_size > kLongest) out += "... (" + std::to_string(full_size) + " bytes)";
  return out;
}

std::string EscapeLinesForMessage(std::string_view text) {
  std::string escaped;
  for (size_t start = 0;;) {
    const size_t end = text.find('\n', start);
    escaped +=
        EscapeForMessage(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return escaped;
    escaped += '\n';
    start = end + 1;
  }
}

std::string QuoteForMessage(std::string_view text) { return "'" + EscapeForMessage(text) + "'"; }

bool HasControlCharacter(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

}  // namespace tether
