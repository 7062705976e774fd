// tether: a safe replacement for `ssh -N -L`. Parses the command line, builds the plan,
// runs the tunnel, and turns the outcome into an exit code (see tether(1)).
#include <signal.h>
#include <unistd.h>

#include <cstdio>

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

int Fail(const std::string& message, tether::ExitCode code);

// Text a script may read (--help, --version, -G) goes to stdout, and a failed write is an
// error (exit 71), not a silent success.
int PrintToStdout(const std::string& text) {
  std::string error;
  if (!tether::WriteToStdout(text, &error)) return Fail(error, tether::ExitCode::kCannotWrite);
  return 0;
}

int PrintAndReturn(const tether::CommandLine& command_line) {
  std::string text = command_line.output;
  if (!text.empty() && text.back() != '\n') text += '\n';
  if (*command_line.exit_code == 0) return PrintToStdout(text);
  std::fputs(text.c_str(), stderr);
  return *command_line.exit_code;
}

int Fail(const std::string& message, tether::ExitCode code) {
  std::fprintf(stderr, "tether: %s\n", message.c_str());
  return tether::ToInt(code);
}

// After logging is configured: in JSON the failure is one more event, so that a log shipper
// reads nothing but JSON; the text stays the line it always was, on stderr.
int FailAfterLogSetup(const tether::Options& options, const tether::Failure& failure) {
  if (options.log_format != tether::LogFormat::kJson) return Fail(failure.message, failure.code);
  const tether::StopReason reason = tether::StopReason::FromFailure(failure);
  tether::LogEventText(spdlog::level::err, reason.EventName(), reason.message,
                       {{"exit_code", reason.exit_code}});
  return reason.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // Recorded first: the parent may die at any moment, and PR_SET_PDEATHSIG armed later must
  // be checked against the parent we had.
  pid_t parent_at_start = getppid();
  // `tether list` and `tether stop` talk to running tunnels and run none themselves;
  // they keep the default signal handling, so Ctrl-C ends a waiting `tether stop`.
  if (std::optional<tether::AdminCommandLine> admin = tether::ParseAdminCommandLine(argc, argv)) {
    if (admin->exit_code) {
      if (*admin->exit_code == 0) return PrintToStdout(admin->output + "\n");
      std::fprintf(stderr, "%s\n", admin->output.c_str());
      return *admin->exit_code;
    }
    return tether::RunAdminCommand(admin->command);
  }
  // Block the stop signals before anything else, so none is lost to a default handler.
  // SIGQUIT (Ctrl-\) too: by default it would end tether at a prompt with echo off, and
  // leave its socket files and registry entry behind.
  tether::SignalSet signals;
  std::string error;
  if (!signals.Install({SIGINT, SIGTERM, SIGHUP, SIGQUIT, tether::ParentDeathSignal()}, &error)) {
    return Fail(error, tether::ExitCode::kInternal);
  }
  signals.KeepBlockedOnExit();
  tether::CommandLine command_line = tether::ParseCommandLine(argc, argv);
  if (command_line.exit_code) return PrintAndReturn(command_line);
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
  if (!tether::MakeTunnelPlan(options, &plan, &failure)) return FailAfterLogSetup(options, failure);
  if (options.print_config) return PrintToStdout(plan.resolved_settings);
  if (!tether::PlanJumpChain(&plan, &failure)) return Fail(failure.message, failure.code);
  return tether::Launch(plan, &signals, parent_at_start);
}
