#include "tether/forward_spec.h"

#include <sys/un.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <vector>

#include "tether/message_text.h"
#include "tether/text.h"

namespace tether {
namespace {

// RFC 1035 caps a full domain name at 255 octets; anything longer is a typo or an attack on
// the log, never a host the server could resolve.
constexpr size_t kMaxHostLength = 255;
// bind(2) needs the path plus its terminating NUL inside sun_path.
constexpr size_t kMaxUnixPathLength = sizeof(sockaddr_un::sun_path) - 1;
constexpr uint32_t kMaxPort = 65535;
constexpr std::string_view kShapeHint = "expected [bind_address:]port:host:hostport";

/// One ':'-separated piece of a spec, brackets removed.
struct Field {
  std::string text;
  bool is_path = false;  ///< began with '/' outside brackets
};

/// Which end of the forward a port or host belongs to; the rules differ for each.
enum class Side { kListen, kTarget };

bool IsControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// A bracketed field is taken literally so that an IPv6 address may contain ':'.
bool TakeBracketedField(std::string_view* rest, std::vector<Field>* fields, std::string* reason) {
  const size_t close = rest->find(']');
  if (close == std::string_view::npos) {
    *reason = "unclosed '['";
    return false;
  }
  if (close + 1 < rest->size() && (*rest)[close + 1] != ':') {
    *reason = "expected ':' after ']'";
    return false;
  }
  fields->push_back({std::string(rest->substr(1, close - 1)), false});
  rest->remove_prefix(close + 1);
  return true;
}

// Unlike OpenSSH, no backslash escapes: a path may not contain ':', which keeps the
// grammar one a reader can check by eye. A control character is refused anywhere.
bool SplitFields(std::string_view spec, std::vector<Field>* fields, std::string* reason) {
  if (std::any_of(spec.begin(), spec.end(), IsControl)) {
    *reason = "contains a control character";
    return false;
  }
  std::string_view rest = spec;
  for (;;) {
    if (!rest.empty() && rest.front() == '[') {
      if (!TakeBracketedField(&rest, fields, reason)) return false;
    } else {
      const size_t colon = std::min(rest.find(':'), rest.size());
      fields->push_back({std::string(rest.substr(0, colon)), rest.substr(0, 1) == "/"});
      rest.remove_prefix(colon);
    }
    if (rest.empty()) return true;
    rest.remove_prefix(1);  // the ':' that ends this field; an empty last field follows it
  }
}

bool ParsePortField(const Field& field, Side side, uint16_t* port, std::string* reason) {
  const std::string label = side == Side::kListen ? "port" : "target port";
  const uint32_t min = side == Side::kListen ? 0 : 1;
  const std::string& text = field.text;
  if (text.empty()) {
    *reason = "missing " + label;
    return false;
  }
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *reason = label + " " + QuoteForMessage(text) + " is not a number";
    return false;
  }
  const std::optional<uint64_t> value = ParseDecimal(text, kMaxPort);
  if (!value || *value < min) {
    *reason = label + " " + text + " is out of range (" + std::to_string(min) + "-65535)";
    return false;
  }
  *port = static_cast<uint16_t>(*value);
  return true;
}

std::string DescribeChar(char c) { return c == ' ' ? "a space" : "'" + std::string(1, c) + "'"; }

// Control bytes were rejected for the whole spec already; these are the printable characters
// that can never be part of a host name or address and mostly come from a mistyped spec.
bool CheckHost(const std::string& host, std::string_view label, std::string* reason) {
  if (host.size() > kMaxHostLength) {
    *reason = std::string(label) + " is longer than 255 characters";
    return false;
  }
  const size_t bad = host.find_first_of(" /[]");
  if (bad != std::string::npos) {
    *reason =
        std::string(label) + " " + QuoteForMessage(host) + " contains " + DescribeChar(host[bad]);
    return false;
  }
  return true;
}

bool ParsePath(const Field& field, Endpoint* endpoint, std::string* reason) {
  if (field.text.size() > kMaxUnixPathLength) {
    *reason = "socket path " + QuoteForMessage(field.text) + " is " +
              std::to_string(field.text.size()) + " bytes, more than the " +
              std::to_string(kMaxUnixPathLength) + " a socket allows";
    return false;
  }
  endpoint->unix_path = field.text;
  return true;
}

// fields: [port] or [bind_address, port]. An empty bind address means all interfaces, as
// in ssh; no bind address at all leaves host empty (loopback unless -g).
bool ParseTcpListen(std::span<const Field> fields, Endpoint* endpoint, std::string* reason) {
  if (fields.size() == 2) {
    endpoint->host = fields[0].text.empty() ? "*" : fields[0].text;
    if (!CheckHost(endpoint->host, "bind address", reason)) return false;
  }
  return ParsePortField(fields.back(), Side::kListen, &endpoint->port, reason);
}

bool ParseTcpTarget(std::span<const Field> fields, Endpoint* endpoint, std::string* reason) {
  endpoint->host = fields[0].text;
  if (endpoint->host.empty()) {
    *reason = "missing target host";
    return false;
  }
  if (!CheckHost(endpoint->host, "target host", reason)) return false;
  return ParsePortField(fields[1], Side::kTarget, &endpoint->port, reason);
}

bool AnyPath(std::span<const Field> fields) {
  return std::any_of(fields.begin(), fields.end(), [](const Field& f) { return f.is_path; });
}

// The target is the last field when it is a socket path, else the last two (host, port);
// what precedes it is the listening side: a socket path, a port, or bind address and port.
bool SplitSides(const std::vector<Field>& fields, std::span<const Field>* listen,
                std::span<const Field>* target, std::string* reason) {
  const size_t target_count = fields.back().is_path ? 1 : 2;
  const size_t listen_count = fields.size() - std::min(target_count, fields.size());
  *listen = std::span<const Field>(fields).first(listen_count);
  *target = std::span<const Field>(fields).subspan(listen_count);
  const bool listen_ok = listen_count == 1 || (listen_count == 2 && !AnyPath(*listen));
  const bool target_ok = target_count == 1 || !AnyPath(*target);
  if (listen_ok && target_ok && target->size() == target_count) return true;
  *reason = std::string(kShapeHint);
  // The likeliest cause of too many fields is an IPv6 address typed without brackets.
  if (fields.size() > 4) *reason += "; put an IPv6 address in [brackets]";
  return false;
}

// A flag's parse: `parse`, with its reason turned into "bad FLAG 'SPEC': REASON".
std::optional<ForwardSpec> ParseFlag(std::string_view flag, ForwardSpecParser parse,
                                     std::string_view spec, std::string* error) {
  std::string reason;
  std::optional<ForwardSpec> result = parse(spec, &reason);
  if (!result) *error = "bad " + std::string(flag) + " " + QuoteForMessage(spec) + ": " + reason;
  return result;
}

}  // namespace

std::optional<ForwardSpec> ParseForwardSpecReason(std::string_view spec, std::string* reason) {
  std::vector<Field> fields;
  std::span<const Field> listen, target;
  if (!SplitFields(spec, &fields, reason) || !SplitSides(fields, &listen, &target, reason)) {
    return std::nullopt;
  }
  ForwardSpec result;
  const bool listen_ok = listen[0].is_path ? ParsePath(listen[0], &result.listen, reason)
                                           : ParseTcpListen(listen, &result.listen, reason);
  if (!listen_ok) return std::nullopt;
  const bool target_ok = target.size() == 1 ? ParsePath(target[0], &result.target, reason)
                                            : ParseTcpTarget(target, &result.target, reason);
  if (!target_ok) return std::nullopt;
  return result;
}

std::optional<ForwardSpec> ParseForwardSpec(std::string_view spec, std::string* error) {
  return ParseFlag("-L", ParseForwardSpecReason, spec, error);
}

std::optional<ForwardSpec> ParseDynamicForwardSpecReason(std::string_view spec,
                                                         std::string* reason) {
  std::vector<Field> fields;
  if (!SplitFields(spec, &fields, reason)) return std::nullopt;
  if (fields.size() > 2 || AnyPath(fields)) {
    *reason = "expected [bind_address:]port";
    if (fields.size() > 2) *reason += "; put an IPv6 address in [brackets]";
    return std::nullopt;
  }
  ForwardSpec result;
  result.dynamic = true;
  if (!ParseTcpListen(fields, &result.listen, reason)) return std::nullopt;
  return result;
}

std::optional<ForwardSpec> ParseDynamicForwardSpec(std::string_view spec, std::string* error) {
  return ParseFlag("-D", ParseDynamicForwardSpecReason, spec, error);
}

std::string FormatTarget(const ForwardSpec& forward) {
  return forward.dynamic ? "socks" : FormatEndpoint(forward.target);
}

std::optional<ForwardSpec> ParseRemoteForwardSpecReason(std::string_view spec,
                                                        std::string* reason) {
  std::vector<Field> fields;
  if (!SplitFields(spec, &fields, reason)) return std::nullopt;
  // Checked before the shape so that each form gets its own reason, not "expected ...".
  if (fields.front().is_path) {
    *reason =
        "a remote Unix socket (streamlocal-forward@openssh.com) is not supported: libssh2 1.10 "
        "has no API for it";
    return std::nullopt;
  }
  if (fields.size() <= 2 && !fields.back().is_path) {
    *reason =
        "the remote SOCKS form -R [bind_address:]port is not supported; expected "
        "[bind_address:]port:host:hostport";
    return std::nullopt;
  }
  return ParseForwardSpecReason(spec, reason);
}

std::optional<ForwardSpec> ParseRemoteForwardSpec(std::string_view spec, std::string* error) {
  return ParseFlag("-R", ParseRemoteForwardSpecReason, spec, error);
}

std::string RemoteBindAddress(const Endpoint& listen) {
  if (listen.host.empty()) return "localhost";
  if (listen.host == "*") return "";
  return listen.host;
}

std::string FormatEndpoint(const Endpoint& endpoint) {
  if (endpoint.IsUnix()) return endpoint.unix_path;
  const std::string port = std::to_string(endpoint.port);
  if (endpoint.host.empty()) return "localhost:" + port;
  if (endpoint.host.find(':') != std::string::npos) return "[" + endpoint.host + "]:" + port;
  return endpoint.host + ":" + port;
}

}  // namespace tether
