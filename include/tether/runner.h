#pragma once

#include "tether/signal_set.h"
#include "tether/tunnel_plan.h"

namespace tether {

/// Runs one tunnel from binding its listeners to its single shutdown path, and returns the
/// process exit code (ExitCode values). `signals` must already be installed; they stop it.
int RunTunnel(const TunnelPlan& plan, SignalSet* signals);

}  // namespace tether
