#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

/// One hop of a -J / ProxyJump list, as typed: "[user@]host[:port]" or
/// "ssh://[user@]host[:port]". The host is the name looked up in ssh_config for that hop.
struct JumpSpec {
  std::string user;              ///< empty = not given (ssh_config User, else the login name)
  std::string host;              ///< brackets of an IPv6 literal removed
  std::optional<uint16_t> port;  ///< nullopt = not given (ssh_config Port, else 22)

  bool operator==(const JumpSpec&) const = default;
};

/// Parses a comma-separated jump list, first hop first, with OpenSSH's grammar (the last
/// '@' splits off the user; IPv6 literals go in brackets; every element must name a host).
/// "none" (any case) gives an empty list: connect directly. On failure returns nullopt and
/// *error names the element and what is wrong with it.
std::optional<std::vector<JumpSpec>> ParseJumpList(std::string_view text, std::string* error);

/// An ssh_config ProxyJump value as ssh reads it: a '#' starts a comment, and trailing
/// blanks go.
std::string_view JumpListText(std::string_view config_value);

/// The hop as a user would write it: "alice@[::1]:2222", "bastion".
std::string FormatJumpSpec(const JumpSpec& spec);

}  // namespace tether
