#pragma once

#include <string>
#include <string_view>

namespace tether {

/// User input as it may appear in a one-line message: control bytes (newline, NUL, ...)
/// shown as \xNN, so that a message always stays on one line; beyond 1024 bytes cut short
/// and the full size given.
std::string EscapeForMessage(std::string_view text);

/// EscapeForMessage in single quotes: "'5432:db'".
std::string QuoteForMessage(std::string_view text);

/// True when `text` holds a byte below 0x20 or DEL: never valid in a host or user name.
bool HasControlCharacter(std::string_view text);

}  // namespace tether
