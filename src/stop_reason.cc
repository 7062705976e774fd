#include "tether/stop_reason.h"

#include <cstdio>

#include "tether/logging.h"

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

int LogStopReason(const StopReason& reason) {
  LogEventText(reason.is_error ? spdlog::level::err : spdlog::level::info, reason.EventName(),
               reason.message, {{"exit_code", reason.exit_code}});
  return reason.exit_code;
}

int ReportStopReason(const StopReason& reason) {
  if (ConfiguredLogFormat() == LogFormat::kJson) return LogStopReason(reason);
  std::fprintf(stderr, "tether: %s\n", reason.message.c_str());
  return reason.exit_code;
}

int ReportFailure(const Failure& failure) {
  return ReportStopReason(StopReason::FromFailure(failure));
}

}  // namespace tether
