// -L and -R arguments, LocalForward and RemoteForward values. Checks: no crash; ParseForwardSpec
// and ParseForwardSpecReason agree; a parsed spec respects the documented bounds (target port
// 1-65535, host at most 255 bytes without blanks, slashes or brackets, socket paths that
// fit sun_path); it formats back to a -L string that parses to the same value; a -R spec is
// the same value as that -L spec, never listening on a socket; and every failure message is
// one printable line.

#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/forward_spec.h"

using tether::Endpoint;
using tether::ForwardSpec;
using tether::fuzz::Check;

namespace {

// The -L spelling of one side, the inverse of ParseForwardSpec for the values it returns.
// (FormatEndpoint is for messages: it shows "no bind address" as localhost.)
std::string SpecPart(const Endpoint& endpoint, bool listen) {
  if (endpoint.IsUnix()) return endpoint.unix_path;
  const std::string port = std::to_string(endpoint.port);
  if (listen && endpoint.host.empty()) return port;
  const bool bracket = endpoint.host.find(':') != std::string::npos;
  return (bracket ? "[" + endpoint.host + "]" : endpoint.host) + ":" + port;
}

void CheckEndpoint(const Endpoint& endpoint, bool listen, std::string_view input) {
  const std::string side = listen ? "listen" : "target";
  if (endpoint.IsUnix()) {
    Check(endpoint.unix_path.front() == '/', side + " socket path is absolute", input);
    Check(endpoint.unix_path.size() < sizeof(sockaddr_un::sun_path),
          side + " socket path fits sun_path", input);
    Check(endpoint.host.empty() && endpoint.port == 0, side + " socket has no host or port", input);
    return;
  }
  Check(listen || endpoint.port > 0, "target port above 0", input);
  Check(listen || !endpoint.host.empty(), "target host present", input);
  Check(endpoint.host.size() <= 255, side + " host at most 255 bytes", input);
  Check(endpoint.host.find_first_of(" /[]") == std::string::npos,
        side + " host without blanks, slashes or brackets", input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string error, reason;
  const std::optional<ForwardSpec> spec = tether::ParseForwardSpec(input, &error);

  // -R: the -L grammar without a socket on the server or the one-field SOCKS form.
  std::string remote_error, remote_reason;
  const std::optional<ForwardSpec> remote = tether::ParseRemoteForwardSpec(input, &remote_error);
  Check(remote == tether::ParseRemoteForwardSpecReason(input, &remote_reason),
        "ParseRemoteForwardSpec and its Reason form agree", input);
  if (remote) {
    Check(remote == spec, "a -R spec is the same value as the -L spec", input);
    Check(!remote->listen.IsUnix(), "a -R spec never listens on a socket", input);
    (void)tether::RemoteBindAddress(remote->listen);
  } else {
    Check(remote_error.starts_with("bad -R '") && remote_error.ends_with(remote_reason) &&
              !remote_reason.empty() && tether::fuzz::IsOneLine(remote_error),
          "a -R error names the spec and one printable reason", remote_error);
  }

  const std::optional<ForwardSpec> same = tether::ParseForwardSpecReason(input, &reason);
  Check(spec == same, "ParseForwardSpec and ParseForwardSpecReason agree", input);
  if (!spec) {
    Check(error.starts_with("bad -L '") && error.ends_with(reason), "error names spec and reason",
          error);
    Check(!reason.empty() && tether::fuzz::IsOneLine(error), "error is one printable line", error);
    return 0;
  }
  Check(tether::fuzz::IsOneLine(input), "accepted spec has no control bytes", input);
  CheckEndpoint(spec->listen, /*listen=*/true, input);
  CheckEndpoint(spec->target, /*listen=*/false, input);
  (void)tether::FormatEndpoint(spec->listen);
  (void)tether::FormatEndpoint(spec->target);

  const std::string formatted =
      SpecPart(spec->listen, /*listen=*/true) + ":" + SpecPart(spec->target, /*listen=*/false);
  std::string again_error;
  const std::optional<ForwardSpec> again = tether::ParseForwardSpec(formatted, &again_error);
  Check(again.has_value(), "formatted spec parses",
        formatted + " <- " + std::string(input) + " : " + again_error);
  Check(*again == *spec, "formatted spec parses to the same value", formatted);
  return 0;
}
