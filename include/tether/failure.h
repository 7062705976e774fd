#pragma once

#include <string>
#include <utility>

#include "tether/exit_code.h"

namespace tether {

/// Why an operation failed, and the exit code it would end the process with. The message
/// is one line for the user: it names what was attempted and the reason.
struct Failure {
  ExitCode code = ExitCode::kInternal;
  std::string message;
};

/// "what: strerror(errno)" for the current errno.
std::string ErrnoMessage(const std::string& what);

}  // namespace tether
