#pragma once

#include "tether/algorithms.h"
#include "tether/authenticator.h"
#include "tether/known_hosts.h"
#include "tether/tcp_connect.h"

namespace tether {

/// Everything needed to reach and log in to one server: what a plan holds for each hop and
/// what SshSession::Open takes, without the plan depending on the session class.
struct SessionConfig {
  ConnectTarget target;
  HostKeyCheckConfig host_keys;
  AuthConfig auth;
  AlgorithmPreferences algorithms;
};

}  // namespace tether
