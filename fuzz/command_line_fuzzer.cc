// tether's argv: the input is split on NUL bytes into arguments after argv[0] ("a\0b" is
// `tether a b`). ParseCommandLine touches neither the network nor the file system.
// Checks: no crash and no exception; the outcome is a tunnel, help/version (exit 0) or a
// usage error (exit 64) whose message is one printable line starting "tether: "; a tunnel
// has a destination host and at least one forward, each within the -L bounds (a -D forward:
// no target at all).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tether/message_text.h"
#include "tether/options.h"

using tether::fuzz::Check;

namespace {

std::vector<std::string> SplitOnNul(std::string_view input) {
  std::vector<std::string> args;
  if (input.empty()) return args;
  size_t start = 0;
  for (;;) {
    const size_t end = input.find('\0', start);
    args.emplace_back(input.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return args;
    start = end + 1;
  }
}

void CheckTunnel(const tether::Options& options, std::string_view input) {
  // Forwards may come from LocalForward in ssh_config alone: the plan checks for none.
  Check(!tether::HasControlCharacter(options.host), "host has no control character", input);
  Check(!tether::HasControlCharacter(options.user), "user has no control character", input);
  Check(!options.host.empty() && options.host.front() != '-', "a tunnel has a host", input);
  Check(options.host.find_first_of(" \t/[]") == std::string::npos, "host is a plain name", input);
  Check(!options.port || *options.port > 0, "server port above 0", input);
  Check(options.keepalive_count >= 1 && options.keepalive_count <= 1000, "keepalive count 1-1000",
        input);
  Check(options.keepalive_interval.count() >= 0, "keepalive interval not negative", input);
  Check(!options.ttl || options.ttl->count() > 0, "ttl above 0", input);
  Check(!options.idle_timeout || options.idle_timeout->count() > 0, "idle timeout above 0", input);
  Check(!options.tie_to || *options.tie_to > 0, "tie-to pid above 0", input);
  for (const tether::ForwardSpec& forward : options.forwards) {
    if (forward.dynamic) {
      Check(forward.target == tether::Endpoint{} && !forward.listen.IsUnix(),
            "a -D forward is a TCP listener without a target", input);
      continue;
    }
    Check(forward.target.IsUnix() || forward.target.port > 0, "forward target port", input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> args = SplitOnNul(input);
  std::vector<const char*> argv = {"tether"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);

  // An exception escaping ParseCommandLine would end tether with std::terminate: libFuzzer
  // reports that as a crash, which is what it is.
  const tether::CommandLine result =
      tether::ParseCommandLine(static_cast<int>(argv.size() - 1), argv.data());
  if (!result.exit_code) {
    CheckTunnel(result.options, input);
    return 0;
  }
  Check(*result.exit_code == 0 || *result.exit_code == 64, "exit code is 0 or 64", input);
  if (*result.exit_code == 64) {
    Check(result.output.starts_with("tether: "), "usage error starts with 'tether: '",
          result.output);
    Check(tether::fuzz::IsOneLine(result.output), "usage error is one printable line",
          result.output);
  }
  return 0;
}
