#pragma once

#include <string>
#include <string_view>

namespace tether {

/// Appends `text` to *out as a JSON string literal, quotes included, that any JSON reader
/// accepts whatever the bytes: '"' and '\' are escaped, control characters and DEL become
/// \u00XX (\b \f \n \r \t their short forms), valid UTF-8 passes through unchanged, and each
/// byte that is not part of well-formed UTF-8 becomes \ufffd, the replacement character.
void AppendJsonString(std::string_view text, std::string* out);

/// AppendJsonString into a new string: "\"a\\nb\"" for "a\nb".
std::string JsonString(std::string_view text);

}  // namespace tether
