#pragma once

#include <string>
#include <string_view>

namespace tether {

/// User input as it may appear in a one-line message: control bytes (newline, NUL, ...)
/// shown as \xNN, so that a message always stays on one line.
std::string EscapeForMessage(std::string_view text);

/// EscapeForMessage in single quotes: "'5432:db'".
std::string QuoteForMessage(std::string_view text);

}  // namespace tether
