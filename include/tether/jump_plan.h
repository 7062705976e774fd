#pragma once

#include "tether/failure.h"
#include "tether/tunnel_plan.h"

namespace tether {

/// The most jump hosts one chain may have; more means a ProxyJump loop or a mistake.
inline constexpr size_t kMaxJumpHosts = 16;

/// Fills plan->jumps for a plan made by MakeTunnelPlan, as `ssh -J` would go: -J wins over
/// ssh_config ProxyJump, and "none" means no jump host. ssh reaches the jump list
/// "a,b,c" by running `ssh -J a,b -W target c`, and so on down to `ssh -W b a`, so:
///   - every hop takes HostName, User, Port, IdentityFile, known-hosts files, keepalive and
///     the rest from ssh_config for its own name (user and port from the list win);
///   - the first hop of a list also follows its own ssh_config ProxyJump (recursively), while
///     the later hops' ProxyJump is overridden by the list before them;
///   - -o, -i, -p and -l are the destination's only (ssh passes just -F to the jump ssh).
///     Two deliberate differences: BatchMode and the keepalive settings given on the command
///     line apply to every hop, since dead-peer detection and "never prompt" are meant for the
///     whole run.
/// A ProxyJump loop (a hop reached through itself) is an error (kConfig) naming the loop;
/// so is a chain of more than kMaxJumpHosts hops.
bool PlanJumpChain(TunnelPlan* plan, Failure* failure);

}  // namespace tether
