#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/options.h"
#include "tether/session_config.h"

namespace tether {

/// One jump host on the way to the server (-J / ProxyJump), planned from its own ssh_config.
struct JumpHop {
  std::string name;  ///< as typed in the jump list ("bastion"), for messages
  SessionConfig session;
  std::chrono::seconds keepalive_interval{15};  ///< 0 = off
  int keepalive_count = 3;
};

/// Everything a run needs, with every default and every "~" resolved: the command line
/// merged with the environment (HOME, SSH_AUTH_SOCK) and built-in defaults.
struct TunnelPlan {
  SessionConfig session;
  std::vector<ForwardSpec> forwards;
  /// -R and RemoteForward: listen is on the server, target is reached from here.
  std::vector<ForwardSpec> remote_forwards;
  bool gateway_ports = false;
  Options options;  ///< as given, for lifetime settings
  /// -G: the resolved settings as "key value" lines, like `ssh -G` prints them.
  std::string resolved_settings;
  /// ssh_config ProxyJump for this host, as written; -J (options.jump_hosts) wins over it.
  std::optional<std::string> config_proxy_jump;
  /// The jump hosts to go through, first hop first; empty = connect directly. Filled by
  /// PlanJumpChain (jump_plan.h), not by MakeTunnelPlan.
  std::vector<JumpHop> jumps;
};

/// Builds the plan. Fails (kUsage) only for what cannot be resolved, e.g. no user name.
bool MakeTunnelPlan(const Options& options, TunnelPlan* plan, Failure* failure);

/// MakeTunnelPlan without requiring a forward: the plan of a jump host (jump_plan.h).
bool MakeSessionPlan(const Options& options, TunnelPlan* plan, Failure* failure);

/// "~/x" -> "$HOME/x"; other paths unchanged.
std::string ExpandTilde(const std::string& path);

}  // namespace tether
