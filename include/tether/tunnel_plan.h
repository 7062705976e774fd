#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/options.h"
#include "tether/ssh_session.h"

namespace tether {

/// Everything a run needs, with every default and every "~" resolved: the command line
/// merged with the environment (HOME, SSH_AUTH_SOCK) and built-in defaults.
struct TunnelPlan {
  SessionConfig session;
  std::vector<ForwardSpec> forwards;
  bool gateway_ports = false;
  Options options;  ///< as given, for lifetime settings
  /// -G: the resolved settings as "key value" lines, like `ssh -G` prints them.
  std::string resolved_settings;
};

/// Builds the plan. Fails (kUsage) only for what cannot be resolved, e.g. no user name.
bool MakeTunnelPlan(const Options& options, TunnelPlan* plan, Failure* failure);

/// "~/x" -> "$HOME/x"; other paths unchanged.
std::string ExpandTilde(const std::string& path);

}  // namespace tether
