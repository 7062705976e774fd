#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tether {

/// Standard base64 (RFC 4648) with '=' padding, or without when `pad` is false (as ssh prints
/// SHA256 fingerprints).
std::string Base64Encode(std::string_view bytes, bool pad = true);

/// Decodes standard base64, ignoring whitespace; nullopt on any other invalid character.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace tether
