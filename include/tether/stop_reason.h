#pragma once

#include <string>

#include "tether/exit_code.h"
#include "tether/failure.h"

namespace tether {

/// Why a run ended: one log line and one exit code. Every way to stop produces one.
struct StopReason {
  int exit_code = 0;
  std::string message;
  bool is_error = false;  ///< logged as an error (else as information)

  static StopReason Requested(std::string message) {
    return {ToInt(ExitCode::kOk), std::move(message), false};
  }
  /// `tether stop` asked over the control socket; `requester` is its pid.
  static StopReason StopCommand(int requester) {
    return Requested("stopped by tether stop (pid " + std::to_string(requester) + ")");
  }
  static StopReason FromFailure(const Failure& failure) {
    return {ToInt(failure.code), failure.message, failure.code != ExitCode::kOk};
  }
};

}  // namespace tether
