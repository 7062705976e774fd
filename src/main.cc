// tether: a safe replacement for `ssh -N -L`. Parses the command line, builds the plan,
// runs the tunnel, and turns the outcome into an exit code (see tether(1)).
#include <signal.h>
#include <unistd.h>

#include "tether/exit_code.h"
#include "tether/jump_plan.h"
#include "tether/launch.h"
#include "tether/lifetime.h"
#include "tether/logging.h"
#include "tether/options.h"
#include "tether/signal_set.h"
#include "tether/ssh_handles.h"
#include "tether/standard_output.h"
#include "tether/stop_reason.h"
#include "tether/tunnel_admin.h"
#include "tether/tunnel_plan.h"

namespace {

// Every failure is reported alike: "tether: message" on stderr in text, one event through
// the logger in --log-format json, so that a log shipper reads nothing but JSON.
int Fail(const std::string& message, tether::ExitCode code) {
  return tether::ReportFailure({code, message});
}

// Text a script may read (--help, --version, -G) goes to stdout, and a failed write is an
// error (exit 71), not a silent success.
int PrintToStdout(const std::string& text) {
  std::string error;
  if (!tether::WriteToStdout(text, &error)) return Fail(error, tether::ExitCode::kCannotWrite);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Recorded first: the parent may die at any moment, and PR_SET_PDEATHSIG armed later must
  // be checked against the parent we had.
  pid_t parent_at_start = getppid();
  // `tether list` and `tether stop` talk to running tunnels and run none themselves;
  // they keep the default signal handling, so Ctrl-C ends a waiting `tether stop`.
  if (std::optional<tether::AdminCommandLine> admin = tether::ParseAdminCommandLine(argc, argv)) {
    if (admin->exit_code) return tether::PrintCommandLineExit(*admin);
    return tether::RunAdminCommand(admin->command);
  }
  // Block the stop signals before anything else, so none is lost to a default handler.
  // SIGQUIT (Ctrl-\) too: by default it would end tether at a prompt with echo off, and
  // leave its socket files and registry entry behind.
  // Until the options are read, failures go to stderr in the format the command line asks
  // for (a stderr logger never fails to start).
  std::string error;
  tether::ConfigureLogging(0, false, tether::LogFormatOnCommandLine(argc, argv), "", &error);
  tether::SignalSet signals;
  if (!signals.Install({SIGINT, SIGTERM, SIGHUP, SIGQUIT, tether::ParentDeathSignal()}, &error)) {
    return Fail(error, tether::ExitCode::kInternal);
  }
  signals.KeepBlockedOnExit();
  tether::CommandLine command_line = tether::ParseCommandLine(argc, argv);
  if (command_line.exit_code) return tether::PrintCommandLineExit(command_line);
  const tether::Options& options = command_line.options;
  if (!tether::ConfigureLogging(options.verbosity, options.quiet, options.log_format,
                                options.log_file, &error)) {
    // 73 is sysexits' EX_CANTCREAT: a user-specified output file cannot be created.
    return Fail(error, tether::ExitCode::kCannotListen);
  }
  tether::Libssh2Library library;
  if (!library.ok()) return Fail("libssh2_init failed", tether::ExitCode::kInternal);
  tether::TunnelPlan plan;
  tether::Failure failure;
  if (!tether::MakeTunnelPlan(options, &plan, &failure)) return tether::ReportFailure(failure);
  if (options.print_config) return PrintToStdout(plan.resolved_settings);
  if (!tether::PlanJumpChain(&plan, &failure)) return tether::ReportFailure(failure);
  return tether::Launch(plan, &signals, parent_at_start);
}
