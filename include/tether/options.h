#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tether/command_line_exit.h"
#include "tether/forward_spec.h"
#include "tether/host_key_policy.h"
#include "tether/logging.h"

namespace tether {

/// Everything the command line asked for. Values left unset here fall back to ssh_config
/// and then to built-in defaults when the tunnel is planned.
struct Options {
  std::vector<ForwardSpec> forwards;  ///< in command-line order (LocalForward may add more)
  /// -R, then -o RemoteForward (RemoteForward in ssh_config may add more): listen is on the
  /// server, target is reached from this machine.
  std::vector<ForwardSpec> remote_forwards;
  std::string host;                                 ///< destination as typed (without user@)
  std::string user;                                 ///< -l, user@host or -o User; empty = not given
  std::optional<uint16_t> port;                     ///< -p or -o Port
  std::vector<std::string> identity_files;          ///< -i, then -o IdentityFile
  std::vector<std::string> user_known_hosts_files;  ///< -o UserKnownHostsFile (split on spaces)
  std::optional<std::string> global_known_hosts_file;   ///< -o GlobalKnownHostsFile
  std::optional<HostKeyPolicy> host_key_policy;         ///< -o StrictHostKeyChecking
  std::optional<std::chrono::seconds> connect_timeout;  ///< -o ConnectTimeout
  std::string config_file;  ///< -F: replaces ~/.ssh/config and /etc/ssh/ssh_config
  /// ssh_config lines from -c, -m, -b, -4, -6 and the -o keys not kept above, in the order
  /// they win; read before the configuration files.
  std::vector<std::string> ssh_config_lines;
  bool print_config = false;  ///< -G: print the resolved settings and exit
  /// -J, else -o ProxyJump, as typed (already checked): the jump hosts, first hop first;
  /// "none" connects directly. nullopt = not given (ssh_config ProxyJump may apply).
  std::optional<std::string> jump_hosts;
  bool batch_mode = false;     ///< -o BatchMode=yes: never prompt
  bool gateway_ports = false;  ///< -g or -o GatewayPorts=yes
  int verbosity = 0;           ///< number of -v
  bool quiet = false;          ///< -q

  // Lifetime (tether(1): the options of its own).
  std::optional<std::chrono::seconds> ttl = std::chrono::hours(8);  ///< nullopt = --ttl none
  std::optional<std::chrono::seconds> idle_timeout;                 ///< nullopt = never
  std::chrono::seconds keepalive_interval{15};  ///< --keepalive / -o ServerAliveInterval; 0 = off
  int keepalive_count = 3;                      ///< --keepalive-count / -o ServerAliveCountMax
  bool keepalive_interval_given = false;        ///< set on the command line (else ssh_config may)
  bool keepalive_count_given = false;
  int max_sessions = 4;           ///< --sessions: SSH sessions the channels may be spread over
  bool reconnect = false;         ///< --reconnect
  std::optional<pid_t> tie_to;    ///< --tie-to PID
  bool fork_after_ready = false;  ///< -f
  std::string log_file;           ///< -E FILE; empty = stderr
  LogFormat log_format = LogFormat::kText;  ///< --log-format
  std::vector<std::string> command;         ///< after "--"; empty = none
};

/// What ParseCommandLine decided: the options of a tunnel to run, or (exit_code set) the
/// end of the program without one.
struct CommandLine : CommandLineExit {
  Options options;
};

/// Parses argv with ssh-compatible flags. Never touches the network or the file system.
CommandLine ParseCommandLine(int argc, const char* const* argv);

/// The --log-format argv asks for (the last one given before "--"), read even when the rest
/// of argv is wrong, so that a usage error is reported in that format too; text when none
/// is given or its value is not "json".
LogFormat LogFormatOnCommandLine(int argc, const char* const* argv);

}  // namespace tether
