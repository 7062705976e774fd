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

/// Logs `reason` through the logger, so that --log-format and -E decide where and how: one
/// line, an error or information, event EventName() with the member "exit_code". Returns
/// the exit code.
int LogStopReason(const StopReason& reason);

/// A failure while tether starts (or in the foreground of -f): in --log-format json one
/// LogStopReason event, so that a log shipper reads nothing but JSON; in text the line
/// "tether: message" on stderr, even with -E, where whoever started tether sees it.
/// Returns the exit code.
int ReportFailure(const Failure& failure);
/// ReportFailure for a reason that may be no error ("parent process already exited").
int ReportStopReason(const StopReason& reason);

}  // namespace tether
