#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tether/exit_code.h"

namespace tether {

/// The part of a parsed command line that says the program ends without running anything:
/// after --help or --version (exit 0, the text for stdout) or for bad input (exit 64, one
/// line for stderr). A tunnel's command line (CommandLine) and `tether list`/`stop`
/// (AdminCommandLine) both carry it, and main prints both through PrintCommandLineExit.
struct CommandLineExit {
  /// Unset when a command is to be run.
  std::optional<int> exit_code;
  std::string output;
};

/// "tether: <message>", escaped: a command line's own text may hold any byte.
std::string UsageErrorText(std::string_view message);

/// A Parsed (a struct deriving from CommandLineExit) that ends with exit 64 and `message`.
template <typename Parsed>
Parsed UsageError(std::string_view message) {
  Parsed parsed;
  parsed.exit_code = ToInt(ExitCode::kUsage);
  parsed.output = UsageErrorText(message);
  return parsed;
}

/// A Parsed that ends with exit 0 after printing `text` (help, version).
template <typename Parsed>
Parsed Finished(std::string_view text) {
  Parsed parsed;
  parsed.exit_code = ToInt(ExitCode::kOk);
  parsed.output = std::string(text);
  return parsed;
}

/// Prints what an ending command line says and returns its exit code: the text on stdout
/// for 0 (a failed write is exit 71, not a silent success), otherwise the message reported
/// as every failure is ("tether: ..." on stderr, or one event in --log-format json).
int PrintCommandLineExit(const CommandLineExit& exit);

}  // namespace tether
