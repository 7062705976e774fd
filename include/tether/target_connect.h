#pragma once

#include <string>

#include "tether/forward_spec.h"
#include "tether/unique_fd.h"

namespace tether {

/// Starts a connection from this machine to a remote forward's target (-R ...:host:hostport
/// or ...:/path.sock) for one connection the server forwarded: a non-blocking,
/// close-on-exec socket, connected or still connecting (a failure that shows later is a
/// socket error on it). A host name is resolved here, as ssh does, and its addresses are
/// tried in turn until one does not refuse at once. An invalid fd with *reason when none
/// could be started.
UniqueFd StartTargetConnect(const Endpoint& target, std::string* reason);

}  // namespace tether
