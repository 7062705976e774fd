// tether: a safe replacement for `ssh -N -L`. Parses the command line, builds the plan,
// runs the tunnel, and turns the outcome into an exit code (see tether(1)).
#include <cstdio>
#include <iostream>

#include "tether/exit_code.h"
#include "tether/logging.h"
#include "tether/options.h"
#include "tether/runner.h"
#include "tether/signal_set.h"
#include "tether/ssh_handles.h"
#include "tether/tunnel_plan.h"

int main(int argc, char** argv) {
  using namespace tether;  // NOLINT: the one file where it keeps the code short
  // Block the stop signals before anything else, so none is lost to a default handler.
  SignalSet signals;
  std::string error;
  if (!signals.Install({SIGINT, SIGTERM, SIGHUP}, &error)) {
    std::fprintf(stderr, "tether: %s\n", error.c_str());
    return ToInt(ExitCode::kInternal);
  }
  CommandLine command_line = ParseCommandLine(argc, argv);
  if (command_line.exit_code) {
    std::FILE* out = *command_line.exit_code == 0 ? stdout : stderr;
    std::fputs(command_line.output.c_str(), out);
    if (!command_line.output.empty() && command_line.output.back() != '\n') std::fputc('\n', out);
    return *command_line.exit_code;
  }
  const Options& options = command_line.options;
  ConfigureLogging(options.verbosity, options.quiet);
  Libssh2Library library;
  if (!library.ok()) {
    std::fprintf(stderr, "tether: libssh2_init failed\n");
    return ToInt(ExitCode::kInternal);
  }
  TunnelPlan plan;
  Failure failure;
  if (!MakeTunnelPlan(options, &plan, &failure)) {
    std::fprintf(stderr, "tether: %s\n", failure.message.c_str());
    return ToInt(failure.code);
  }
  return RunTunnel(plan, &signals);
}
