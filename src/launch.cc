#include "tether/launch.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "tether/fd_pair.h"
#include "tether/lifetime.h"
#include "tether/runner.h"
#include "tether/standard_output.h"
#include "tether/stop_reason.h"

namespace tether {
namespace {

constexpr char kReadyLine[] = "ready\n";

// Reads `fd` to its end, unless a stop signal arrives first (then *stopped is set).
std::string ReadAll(int fd, int signal_fd, bool* stopped) {
  std::string text;
  char buffer[512];
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return text;
    }
    if (fds[1].revents & POLLIN) {
      *stopped = true;
      return text;
    }
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

int ExitCodeOf(pid_t child) {
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return ToInt(ExitCode::kInternal);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// The foreground half of -f: waits for "ready" (then prints what follows) or for the
// background process to fail, whose code it returns (the error is already on stderr).
// A tunnel whose addresses could not be handed over is stopped: the script that started
// it would never learn where it listens, and nobody would stop it.
// Ctrl-C or SIGTERM while it waits stops the background process too, which says so.
int WaitForBackground(pid_t child, UniqueFd ready_read, int signal_fd) {
  bool stopped = false;
  std::string report = ReadAll(ready_read.get(), signal_fd, &stopped);
  if (stopped) {
    kill(child, SIGTERM);
    return ExitCodeOf(child);
  }
  if (report.rfind(kReadyLine, 0) != 0) return ExitCodeOf(child);
  std::string addresses = report.substr(sizeof(kReadyLine) - 1);
  std::string error;
  if (!WriteToStdout(addresses, &error)) {
    // SIGTERM stops it as `tether stop` does: listeners closed, registry entry removed.
    kill(child, SIGTERM);
    ExitCodeOf(child);
    return ReportFailure({ExitCode::kCannotWrite, error + "; the background tunnel was stopped"});
  }
  return 0;
}

int LaunchInBackground(const TunnelPlan& plan, SignalSet* signals, pid_t parent_at_start) {
  RunContext context;
  std::string error;
  pid_t starter = plan.options.tie_to.value_or(parent_at_start);
  context.follow_pidfd = OpenPidfd(starter, &error);
  if (!context.follow_pidfd) {
    return ReportFailure({ExitCode::kUsage, plan.options.tie_to ? "--tie-to: " + error : error});
  }
  // Opened after the pid was read: if the parent died in between, the pid may be reused.
  if (!plan.options.tie_to && getppid() != parent_at_start) return 0;
  context.follow_pid = starter;
  context.follow_description =
      plan.options.tie_to ? "followed process" : "the process that started tether -f";
  std::optional<FdPair> ready = OpenPipe(&error);
  if (!ready) return ReportFailure({ExitCode::kInternal, error});
  UniqueFd ready_read = std::move(ready->first);
  context.ready_pipe = std::move(ready->second);
  pid_t child = fork();
  if (child < 0) return ReportFailure({ExitCode::kInternal, ErrnoMessage("fork")});
  if (child > 0) {
    context.ready_pipe.Reset();
    return WaitForBackground(child, std::move(ready_read), signals->fd());
  }
  ready_read.Reset();
  setsid();
  return RunTunnel(plan, signals, std::move(context));
}

}  // namespace

int Launch(const TunnelPlan& plan, SignalSet* signals, pid_t parent_at_start) {
  if (plan.options.fork_after_ready) return LaunchInBackground(plan, signals, parent_at_start);
  RunContext context;
  if (plan.options.tie_to) {
    std::string error;
    context.follow_pidfd = OpenPidfd(*plan.options.tie_to, &error);
    if (!context.follow_pidfd) return ReportFailure({ExitCode::kUsage, "--tie-to: " + error});
    context.follow_pid = *plan.options.tie_to;
    context.follow_description = "followed process";
  } else if (!ArmParentDeathSignal(parent_at_start)) {
    return ReportStopReason(
        StopReason::Requested("parent process already exited; not starting", "parent_exited"));
  }
  return RunTunnel(plan, signals, std::move(context));
}

}  // namespace tether
