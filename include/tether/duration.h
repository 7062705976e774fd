#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tether {

/// Parses "90s", "5m", "1h30m", "2d", "1d2h3m4s" or plain seconds ("45"). Units in
/// decreasing order, each at most once. Rejects empty text, signs, overflow (over 100 years).
/// On failure returns nullopt and sets *error to one line.
std::optional<std::chrono::seconds> ParseDuration(std::string_view text, std::string* error);

/// "1h30m", "45s", "2d" — the shortest form ParseDuration reads back to the same value.
std::string FormatDuration(std::chrono::seconds duration);

}  // namespace tether
