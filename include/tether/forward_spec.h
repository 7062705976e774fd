#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tether {

/// One side of a forward: a TCP address (host, port) or a Unix socket path.
struct Endpoint {
  /// Host name or address without brackets. On the listening side, empty means "no bind
  /// address given" (loopback unless -g), and "*" means all interfaces.
  std::string host;
  /// TCP port; 0 on the listening side means "any free port".
  uint16_t port = 0;
  /// Non-empty for a Unix socket endpoint; then host and port are unused.
  std::string unix_path;

  bool IsUnix() const { return !unix_path.empty(); }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

/// One -L: where tether listens and what the server connects to for each client; or one -D
/// (dynamic): a local SOCKS server, each client naming its own target.
struct ForwardSpec {
  Endpoint listen;       ///< local side
  Endpoint target;       ///< remote side, resolved by the server; unused when dynamic
  bool dynamic = false;  ///< -D / DynamicForward: the target comes from each SOCKS request
  friend bool operator==(const ForwardSpec&, const ForwardSpec&) = default;
};

/// Parses an ssh -L argument in any OpenSSH form:
///   [bind_address:]port:host:hostport, [bind_address:]port:remote_socket,
///   local_socket:host:hostport, local_socket:remote_socket
/// IPv6 addresses in brackets. A field starting with '/' is a Unix socket path.
/// On failure returns nullopt and sets *error to one line naming what is wrong.
std::optional<ForwardSpec> ParseForwardSpec(std::string_view spec, std::string* error);

/// Same rules as ParseForwardSpec, but *reason gets only what is wrong ("target port 0 is out
/// of range (1-65535)"), for callers that name the source themselves: LocalForward in
/// ssh_config or -o, whose two words are joined with ':' before the call.
std::optional<ForwardSpec> ParseForwardSpecReason(std::string_view spec, std::string* reason);

/// The shape of ParseForwardSpec, ParseDynamicForwardSpec and ParseRemoteForwardSpec.
using ForwardSpecParser = std::optional<ForwardSpec> (*)(std::string_view spec, std::string* error);

/// Parses an ssh -D argument, [bind_address:]port (IPv6 addresses in brackets); same error
/// style as ParseForwardSpec ("bad -D '...': ...").
std::optional<ForwardSpec> ParseDynamicForwardSpec(std::string_view spec, std::string* error);

/// As ParseDynamicForwardSpec, *reason naming only what is wrong: for DynamicForward in
/// ssh_config or -o.
std::optional<ForwardSpec> ParseDynamicForwardSpecReason(std::string_view spec,
                                                         std::string* reason);
/// Parses an ssh -R argument: [bind_address:]port:host:hostport or
/// [bind_address:]port:local_socket. The result's listen side is on the server (port 0 = the
/// server picks; empty host = loopback on the server, "*" = all its interfaces as its
/// GatewayPorts allows), its target side is reached from this machine. A remote Unix socket
/// (streamlocal-forward@openssh.com) and the one-field remote SOCKS form are refused:
/// libssh2 1.10 has no API for either. On failure returns nullopt and sets *error.
std::optional<ForwardSpec> ParseRemoteForwardSpec(std::string_view spec, std::string* error);

/// ParseRemoteForwardSpec with only what is wrong in *reason (RemoteForward in ssh_config or
/// -o, whose two words are joined with ':' before the call).
std::optional<ForwardSpec> ParseRemoteForwardSpecReason(std::string_view spec, std::string* reason);

/// What the server is asked to bind for a remote forward's listen side, as ssh asks:
/// "localhost" when no bind address was given, "" (all interfaces) for "*", else as given.
std::string RemoteBindAddress(const Endpoint& listen);

/// "127.0.0.1:5432", "[::1]:8080", "db:5432", "/run/x.sock" — for logs and messages.
std::string FormatEndpoint(const Endpoint& endpoint);

/// What the forward reaches, for logs, `tether list` and the status line: the target's
/// FormatEndpoint, or "socks" for a dynamic forward.
std::string FormatTarget(const ForwardSpec& forward);

}  // namespace tether
