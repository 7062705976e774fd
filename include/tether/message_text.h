#pragma once

#include <string>
#include <string_view>

namespace tether {

/// Text tether did not write (user input, a server's disconnect message, another process's
/// name) as it may appear in a one-line message: every byte a terminal could act on is
/// shown as \xNN: C0 controls and DEL, bytes that are not well-formed UTF-8 (a raw 0x9b is
/// CSI on some terminals), and the UTF-8 of the C1 controls U+0080-U+009F, the bidi
/// controls (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069) and U+2028/U+2029. A message
/// thus stays on one line and reads as sent. Beyond 1024 bytes it is cut short and the
/// full size given.
std::string EscapeForMessage(std::string_view text);

/// EscapeForMessage of each line of `text`, the line breaks kept: for text meant to span
/// lines, such as a server's keyboard-interactive instruction.
std::string EscapeLinesForMessage(std::string_view text);

/// EscapeForMessage in single quotes: "'5432:db'".
std::string QuoteForMessage(std::string_view text);

/// True when `text` holds a byte below 0x20 or DEL: never valid in a host or user name.
bool HasControlCharacter(std::string_view text);

}  // namespace tether
