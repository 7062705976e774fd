#pragma once

#include <sys/types.h>

#include "tether/signal_set.h"
#include "tether/tunnel_plan.h"

namespace tether {

/// Ties the run to what it serves, then runs it: to `parent_at_start` through
/// PR_SET_PDEATHSIG by default, to --tie-to PID through a pidfd, and with -f to the process
/// that ran `tether -f` (a pidfd opened before forking). With -f the foreground process
/// returns 0 only once the background one reports that every listener is bound and the
/// server accepted us, printing auto-chosen addresses on stdout; else it returns the
/// background's failure code. Returns the exit code.
int Launch(const TunnelPlan& plan, SignalSet* signals, pid_t parent_at_start);

}  // namespace tether
