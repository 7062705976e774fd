#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tether/command_line_exit.h"
#include "tether/control_protocol.h"
#include "tether/registry.h"

namespace tether {

/// `tether list [--json]` or `tether stop PID|:PORT|all`.
struct AdminCommand {
  enum class Kind { kList, kStop };
  Kind kind = Kind::kList;
  bool json = false;   ///< list --json
  std::string target;  ///< stop: "all", ":PORT" or "PID", already checked
};

/// What ParseAdminCommandLine decided: the command, or (exit_code set) the end of the
/// program after help or bad input, as for a tunnel's CommandLine.
struct AdminCommandLine : CommandLineExit {
  AdminCommand command;
};

/// nullopt unless argv[1] is exactly "list" or "stop": everything else (a host named
/// "list" given after its options included) is a tunnel command line.
std::optional<AdminCommandLine> ParseAdminCommandLine(int argc, const char* const* argv);

/// Which tunnels `tether stop` means.
struct StopTarget {
  enum class Kind { kAll, kPid, kPort };
  Kind kind = Kind::kAll;
  uint64_t value = 0;  ///< the pid or the port
};
std::optional<StopTarget> ParseStopTarget(std::string_view text, std::string* error);
bool StopTargetMatches(const StopTarget& target, const RegistryEntry& entry);

/// One row of `tether list`.
struct ListedTunnel {
  RegistryEntry entry;
  std::optional<TunnelStatus> status;  ///< nullopt when the tunnel did not answer
  std::string tied_command;            ///< the tied-to process's name, "" if unknown
};

/// The table (header always, one row per tunnel) and the JSON array; `now_unix` is used
/// for figures a tunnel that did not answer cannot give.
std::string FormatListTable(const std::vector<ListedTunnel>& tunnels, int64_t now_unix);
std::string FormatListJson(const std::vector<ListedTunnel>& tunnels, int64_t now_unix);

/// Runs the command against the registry of this user; prints to stdout/stderr and
/// returns the exit code.
int RunAdminCommand(const AdminCommand& command);

}  // namespace tether
