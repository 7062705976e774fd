#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace tether {

// Small text helpers shared by the parsers (command line, ssh_config, known_hosts, jump
// specs, the registry and the control protocol). ASCII only, as the keywords, host names
// and numbers they read are; no locale is consulted.

/// `text` with A-Z turned into a-z; every other byte unchanged.
std::string Lowercase(std::string_view text);

/// True when `a` and `b` differ at most in the case of ASCII letters.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

/// Decimal digits only (no sign, no blanks, not empty) whose value is at most `max`;
/// nullopt otherwise. Never overflows, however many digits `text` has.
std::optional<uint64_t> ParseDecimal(std::string_view text,
                                     uint64_t max = std::numeric_limits<uint64_t>::max());

/// A TCP port as digits: 1-65535. Service names are not looked up.
std::optional<uint16_t> ParsePort(std::string_view text);

}  // namespace tether
