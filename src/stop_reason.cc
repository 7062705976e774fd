#include "tether/stop_reason.h"

namespace tether {

std::string_view StopReason::EventName() const {
  if (!event.empty()) return event;
  if (!is_error) return "stopping";
  switch (static_cast<ExitCode>(exit_code)) {
    case ExitCode::kUsage:
      return "usage_error";
    case ExitCode::kConfig:
      return "config_error";
    case ExitCode::kUnreachable:
      return "server_unreachable";
    case ExitCode::kCannotListen:
      return "listen_failed";
    case ExitCode::kConnectionLost:
      return "connection_lost";
    case ExitCode::kNotTrusted:
      return "not_trusted";
    case ExitCode::kInternal:
      return "internal_error";
    case ExitCode::kCannotWrite:
      return "output_failed";
    case ExitCode::kOk:
      break;
  }
  return "failed";
}

}  // namespace tether
