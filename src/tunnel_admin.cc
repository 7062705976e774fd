#include "tether/tunnel_admin.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "tether/control_socket.h"
#include "tether/display_format.h"
#include "tether/duration.h"
#include "tether/exit_code.h"
#include "tether/json_text.h"
#include "tether/lifetime.h"
#include "tether/message_text.h"
#include "tether/standard_output.h"
#include "tether/text.h"

namespace tether {
namespace {

constexpr std::chrono::milliseconds kControlTimeout{2000};
// A stopping tunnel disconnects within a second, but ends a -- COMMAND with a 5 s grace.
constexpr std::chrono::milliseconds kStopWait{10000};
constexpr int kExitNoMatch = 1;

constexpr std::string_view kListHelp =
    R"(Usage: tether list [--json]

Shows this user's running tunnels: pid, forwards, destination, how long each
has run, the time left until its TTL, the process it is tied to, its open
connections, the bytes moved in (from the server) and out (to the server), and
its state: up, or reconnecting (--reconnect). --json prints the same as a JSON
array.)";

constexpr std::string_view kStopHelp =
    R"(Usage: tether stop PID | :PORT | all

Asks the matching tunnels of this user to stop, as Ctrl-C would, and waits for
them to end: the tunnel with that pid, the tunnel(s) with a forward on local
port PORT, or all of them. Exits 1 when no tunnel matches.)";

AdminCommandLine ParseList(const std::vector<std::string>& args) {
  AdminCommandLine result;
  for (const std::string& arg : args) {
    if (arg == "-h" || arg == "--help") return Finished<AdminCommandLine>(kListHelp);
    if (arg != "--json")
      return UsageError<AdminCommandLine>("list: unexpected argument " + QuoteForMessage(arg));
    result.command.json = true;
  }
  return result;
}

AdminCommandLine ParseStop(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "-h" || arg == "--help") return Finished<AdminCommandLine>(kStopHelp);
  }
  if (args.size() != 1) return UsageError<AdminCommandLine>("usage: tether stop PID | :PORT | all");
  std::string error;
  if (!ParseStopTarget(args[0], &error)) return UsageError<AdminCommandLine>("stop: " + error);
  AdminCommandLine result;
  result.command.kind = AdminCommand::Kind::kStop;
  result.command.target = args[0];
  return result;
}

// Display width of UTF-8 text: continuation bytes take no column.
size_t Columns(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

std::string Destination(const RegistryEntry& entry) {
  return entry.user.empty() ? entry.destination : entry.user + "@" + entry.destination;
}

uint64_t UpSeconds(const ListedTunnel& tunnel, int64_t now_unix) {
  if (tunnel.status) return tunnel.status->up_seconds;
  return static_cast<uint64_t>(std::max<int64_t>(now_unix - tunnel.entry.started_unix, 0));
}

std::optional<uint64_t> TtlLeft(const ListedTunnel& tunnel, int64_t now_unix) {
  if (tunnel.status) return tunnel.status->ttl_left_seconds;
  if (!tunnel.entry.ttl_end_unix) return std::nullopt;
  return static_cast<uint64_t>(std::max<int64_t>(*tunnel.entry.ttl_end_unix - now_unix, 0));
}

std::string Seconds(uint64_t seconds) {
  return FormatDuration(std::chrono::seconds(static_cast<int64_t>(seconds)));
}

std::string TiedTo(const ListedTunnel& tunnel) {
  std::string text = std::to_string(tunnel.entry.tied_to);
  return tunnel.tied_command.empty() ? text : text + " (" + tunnel.tied_command + ")";
}

std::vector<std::string> TableRow(const ListedTunnel& tunnel, int64_t now_unix) {
  const std::optional<uint64_t> ttl = TtlLeft(tunnel, now_unix);
  const std::optional<TunnelStatus>& status = tunnel.status;
  return {std::to_string(tunnel.entry.pid),
          FormatForwards(tunnel.entry.forwards),
          EscapeForMessage(Destination(tunnel.entry)),
          Seconds(UpSeconds(tunnel, now_unix)),
          ttl ? Seconds(*ttl) : "none",
          TiedTo(tunnel),
          status ? std::to_string(status->connections) : "?",
          status ? FormatBytes(status->bytes_in) : "?",
          status ? FormatBytes(status->bytes_out) : "?",
          status ? EscapeForMessage(status->state) : "?"};
}

std::string JsonNumberOrNull(const std::optional<uint64_t>& value) {
  return value ? std::to_string(*value) : "null";
}

std::string JsonObject(const ListedTunnel& tunnel, int64_t now_unix) {
  const RegistryEntry& entry = tunnel.entry;
  const std::optional<TunnelStatus>& status = tunnel.status;
  std::string forwards;
  for (const RegistryForward& forward : entry.forwards) {
    forwards += std::string(forwards.empty() ? "" : ", ") +
                "{\"listen\": " + JsonString(forward.listen) +
                ", \"target\": " + JsonString(forward.target) +
                ", \"port\": " + std::to_string(forward.port) +
                ", \"kind\": " + JsonString(ForwardKindName(forward.kind)) + "}";
  }
  auto figure = [&](uint64_t TunnelStatus::*field) {
    return status ? std::to_string((*status).*field) : std::string("null");
  };
  return "{\"pid\": " + std::to_string(entry.pid) + ", \"forwards\": [" + forwards + "]" +
         ", \"destination\": " + JsonString(entry.destination) +
         ", \"user\": " + JsonString(entry.user) +
         ", \"state\": " + (status ? JsonString(status->state) : "null") +
         ", \"started\": " + std::to_string(entry.started_unix) +
         ", \"up_seconds\": " + std::to_string(UpSeconds(tunnel, now_unix)) +
         ", \"ttl_left_seconds\": " + JsonNumberOrNull(TtlLeft(tunnel, now_unix)) +
         ", \"tied_to\": {\"pid\": " + std::to_string(entry.tied_to) +
         ", \"command\": " + JsonString(tunnel.tied_command) + "}" +
         ", \"connections\": " + figure(&TunnelStatus::connections) +
         ", \"bytes_in\": " + figure(&TunnelStatus::bytes_in) +
         ", \"bytes_out\": " + figure(&TunnelStatus::bytes_out) +
         ", \"sessions\": " + figure(&TunnelStatus::sessions) + "}";
}

std::string ProcessName(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return EscapeForMessage(name);
}

// The registry's live entries; false (message printed) when the directory is refused.
bool LoadRegistry(std::vector<RegistryEntry>* entries) {
  const std::string dir = RegistryDirPath();
  bool missing = false;
  std::string error;
  if (!CheckRegistryDir(dir, &missing, &error)) {
    if (missing) return true;  // no tunnel has run yet
    std::fprintf(stderr, "tether: %s\n", error.c_str());
    return false;
  }
  std::vector<std::string> warnings;
  *entries = LoadLiveEntries(dir, &warnings);
  for (const std::string& warning : warnings) std::fprintf(stderr, "tether: %s\n", warning.c_str());
  return true;
}

int RunList(bool json) {
  std::vector<RegistryEntry> entries;
  if (!LoadRegistry(&entries)) return kExitNoMatch;
  const std::string dir = RegistryDirPath();
  std::vector<ListedTunnel> tunnels;
  for (const RegistryEntry& entry : entries) {
    ListedTunnel tunnel{entry, std::nullopt, ProcessName(entry.tied_to)};
    std::string reply, error;
    if (ControlExchange(ControlSocketPath(dir, entry.pid, entry.start_ticks), entry.pid,
                        ControlRequest::kStatus, kControlTimeout, &reply, &error)) {
      tunnel.status = ParseStatusReply(reply, &error);
    }
    if (!tunnel.status) {
      std::fprintf(stderr, "tether: tunnel %d did not answer: %s\n", entry.pid, error.c_str());
    }
    tunnels.push_back(std::move(tunnel));
  }
  const int64_t now = static_cast<int64_t>(time(nullptr));
  std::string text = json ? FormatListJson(tunnels, now) : FormatListTable(tunnels, now);
  if (std::string error; !WriteToStdout(text, &error)) {
    std::fprintf(stderr, "tether: %s\n", error.c_str());
    return ToInt(ExitCode::kCannotWrite);
  }
  return 0;
}

// Waits for `pidfd` to report the exit; true once it has.
bool WaitForExit(int pidfd, std::chrono::milliseconds timeout) {
  pollfd entry{pidfd, POLLIN, 0};
  return poll(&entry, 1, static_cast<int>(timeout.count())) == 1;
}

bool StopOne(const std::string& dir, const RegistryEntry& entry, std::string* error) {
  // The pidfd pins the process: checked against the start time once it is open, it cannot
  // be a later process that reused the pid.
  UniqueFd pidfd = OpenPidfd(entry.pid, error);
  if (!pidfd) return false;
  if (ProcessStartTicks(entry.pid) != entry.start_ticks) {
    *error = "it has already ended";
    return false;
  }
  std::string reply;
  if (!ControlExchange(ControlSocketPath(dir, entry.pid, entry.start_ticks), entry.pid,
                       ControlRequest::kStop, kControlTimeout, &reply, error) ||
      !ParseStopReply(reply, error)) {
    return false;
  }
  if (WaitForExit(pidfd.get(), kStopWait)) return true;
  *error = "asked to stop, but still running after " +
           FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(kStopWait));
  return false;
}

int RunStop(const std::string& target_text) {
  std::string error;
  const std::optional<StopTarget> target = ParseStopTarget(target_text, &error);
  std::vector<RegistryEntry> entries;
  if (!target || !LoadRegistry(&entries)) return kExitNoMatch;
  const std::string dir = RegistryDirPath();
  int matched = 0;
  int failed = 0;
  bool unwritten = false;
  for (const RegistryEntry& entry : entries) {
    if (!StopTargetMatches(*target, entry)) continue;
    ++matched;
    const std::string what =
        std::to_string(entry.pid) + " (" + FormatForwards(entry.forwards) + ")";
    if (StopOne(dir, entry, &error)) {
      std::string write_error;
      if (!unwritten && !WriteToStdout("stopped " + what + "\n", &write_error)) {
        std::fprintf(stderr, "tether: %s\n", write_error.c_str());
        unwritten = true;
      }
    } else {
      ++failed;
      std::fprintf(stderr, "tether: cannot stop %s: %s\n", what.c_str(), error.c_str());
    }
  }
  if (matched == 0) {
    std::fprintf(stderr, "tether: no running tunnel matches %s\n",
                 QuoteForMessage(target_text).c_str());
  }
  if (matched == 0 || failed > 0) return kExitNoMatch;
  return unwritten ? ToInt(ExitCode::kCannotWrite) : 0;
}

}  // namespace

std::optional<AdminCommandLine> ParseAdminCommandLine(int argc, const char* const* argv) {
  if (argc < 2) return std::nullopt;
  const std::string_view verb = argv[1];
  if (verb != "list" && verb != "stop") return std::nullopt;
  std::vector<std::string> args(argv + 2, argv + argc);
  return verb == "list" ? ParseList(args) : ParseStop(args);
}

std::optional<StopTarget> ParseStopTarget(std::string_view text, std::string* error) {
  if (text == "all") return StopTarget{StopTarget::Kind::kAll, 0};
  if (!text.empty() && text.front() == ':') {
    std::optional<uint64_t> port = ParseDecimal(text.substr(1), 65535);
    if (port && *port > 0) return StopTarget{StopTarget::Kind::kPort, *port};
    *error = "bad port " + QuoteForMessage(text) + " (expected :1-65535)";
    return std::nullopt;
  }
  std::optional<uint64_t> pid = ParseDecimal(text, uint64_t{1} << 30);
  if (pid && *pid > 0) return StopTarget{StopTarget::Kind::kPid, *pid};
  *error = "bad target " + QuoteForMessage(text) + " (expected PID, :PORT or all)";
  return std::nullopt;
}

bool StopTargetMatches(const StopTarget& target, const RegistryEntry& entry) {
  switch (target.kind) {
    case StopTarget::Kind::kAll:
      return true;
    case StopTarget::Kind::kPid:
      return static_cast<uint64_t>(entry.pid) == target.value;
    case StopTarget::Kind::kPort:
      return std::any_of(entry.forwards.begin(), entry.forwards.end(),
                         [&](const RegistryForward& f) {
                           // :PORT names a port of this machine; a remote forward's is the
                           // server's.
                           return f.kind != ForwardKind::kRemote && f.port == target.value;
                         });
  }
  return false;
}

std::string FormatListTable(const std::vector<ListedTunnel>& tunnels, int64_t now_unix) {
  std::vector<std::vector<std::string>> rows = {{"PID", "FORWARDS", "DESTINATION", "UP", "TTL LEFT",
                                                 "TIED TO", "CONNS", "IN", "OUT", "STATE"}};
  for (const ListedTunnel& tunnel : tunnels) rows.push_back(TableRow(tunnel, now_unix));
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Columns(row[i]));
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - Columns(row[i]) + 2, ' ');
    }
    text += line + "\n";
  }
  return text;
}

std::string FormatListJson(const std::vector<ListedTunnel>& tunnels, int64_t now_unix) {
  if (tunnels.empty()) return "[]\n";
  std::string text = "[\n";
  for (size_t i = 0; i < tunnels.size(); ++i) {
    text += "  " + JsonObject(tunnels[i], now_unix) + (i + 1 < tunnels.size() ? ",\n" : "\n");
  }
  return text + "]\n";
}

int RunAdminCommand(const AdminCommand& command) {
  return command.kind == AdminCommand::Kind::kList ? RunList(command.json)
                                                   : RunStop(command.target);
}

}  // namespace tether
