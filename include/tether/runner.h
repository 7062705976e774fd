#pragma once

#include <sys/types.h>

#include <string>

#include "tether/signal_set.h"
#include "tether/tunnel_plan.h"
#include "tether/unique_fd.h"

namespace tether {

/// How this run is tied to the world outside it.
struct RunContext {
  /// A process to follow instead of the parent (--tie-to, or the shell that ran `-f`).
  UniqueFd follow_pidfd;
  pid_t follow_pid = 0;
  std::string follow_description;  ///< "the process that started tether -f", ...
  /// -f: where to report readiness ("ready" and the auto-chosen addresses) before detaching.
  UniqueFd ready_pipe;
};

/// Runs one tunnel from binding its listeners to its single shutdown path, and returns the
/// process exit code. `signals` must already be installed; SIGINT/SIGTERM/SIGHUP stop it (or
/// go to the command), the parent-death signal stops it.
int RunTunnel(const TunnelPlan& plan, SignalSet* signals, RunContext context);

}  // namespace tether
