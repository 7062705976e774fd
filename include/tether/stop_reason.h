#pragma once

#include <string>
#include <string_view>

#include "tether/exit_code.h"
#include "tether/failure.h"

namespace tether {

/// Why a run ended: one log line and one exit code. Every way to stop produces one.
struct StopReason {
  int exit_code = 0;
  std::string message;
  bool is_error = false;  ///< logged as an error (else as information)
  /// The event name for --log-format json ("ttl_reached"); empty: EventName() derives one.
  std::string event = {};

  static StopReason Requested(std::string message, std::string event = "stopping") {
    return {ToInt(ExitCode::kOk), std::move(message), false, std::move(event)};
  }
  /// `tether stop` asked over the control socket; `requester` is its pid.
  static StopReason StopCommand(int requester) {
    return Requested("stopped by tether stop (pid " + std::to_string(requester) + ")");
  }
  static StopReason FromFailure(const Failure& failure) {
    return {ToInt(failure.code), failure.message, failure.code != ExitCode::kOk};
  }

  /// `event`, or else "stopping" for a stop on request and a name for the kind of failure
  /// (by exit code) for an error: "server_unreachable", "listen_failed", "connection_lost"...
  std::string_view EventName() const;
};

}  // namespace tether
