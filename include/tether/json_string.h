#pragma once

#include <string>
#include <string_view>

namespace tether {

/// `text` as a JSON string literal, quotes included: '"', '\' and control bytes escaped,
/// bytes that are not valid UTF-8 replaced by U+FFFD so the output is always valid JSON.
std::string JsonQuote(std::string_view text);

}  // namespace tether
