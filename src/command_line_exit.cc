#include "tether/command_line_exit.h"

#include "tether/message_text.h"
#include "tether/standard_output.h"
#include "tether/stop_reason.h"

namespace tether {

std::string UsageErrorText(std::string_view message) {
  // Escaping again is harmless: quoted arguments hold no control bytes any more, and this
  // also covers the text of CLI11's own messages.
  return "tether: " + EscapeForMessage(message);
}

int PrintCommandLineExit(const CommandLineExit& exit) {
  const int code = exit.exit_code.value_or(ToInt(ExitCode::kOk));
  if (code == ToInt(ExitCode::kOk)) {
    std::string text = exit.output;
    if (!text.empty() && text.back() != '\n') text += '\n';
    std::string error;
    if (WriteToStdout(text, &error)) return code;
    return ReportFailure({ExitCode::kCannotWrite, error});
  }
  // The message without the "tether: " that ReportFailure puts back.
  constexpr std::string_view kPrefix = "tether: ";
  std::string_view message = exit.output;
  if (message.substr(0, kPrefix.size()) == kPrefix) message.remove_prefix(kPrefix.size());
  return ReportFailure({static_cast<ExitCode>(code), std::string(message)});
}

}  // namespace tether
