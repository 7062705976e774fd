#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tether/event_loop.h"
#include "tether/stop_reason.h"
#include "tether/unique_fd.h"

namespace tether {

/// Runs the `-- COMMAND` of a tunnel as a child that tether always reaps: its exit (seen
/// through a pidfd) ends the run with the command's status, 128+N when signal N killed it.
/// The child gets PR_SET_PDEATHSIG(SIGTERM), so it is not orphaned even if tether is killed.
class CommandRunner {
 public:
  CommandRunner(EventLoop* loop, std::function<void(StopReason)> on_exit)
      : loop_(loop), on_exit_(std::move(on_exit)) {}
  ~CommandRunner();
  CommandRunner(const CommandRunner&) = delete;
  CommandRunner& operator=(const CommandRunner&) = delete;

  /// Starts `argv` with `extra_env` added to tether's environment. False (with *error, and
  /// the exit status 127 or 126 as a shell would give) if it could not be executed.
  bool Start(const std::vector<std::string>& argv,
             const std::map<std::string, std::string>& extra_env, std::string* error,
             int* exec_status);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  /// Passes a signal on to the command.
  void Forward(int signal_number);
  /// SIGTERM now, SIGKILL after `grace` if it is still running.
  void Terminate(std::chrono::milliseconds grace);

  /// Exit status as a shell reports it: the code, or 128+N for signal N.
  static int ShellStatus(int wait_status);

 private:
  void OnExited();

  EventLoop* loop_;
  std::function<void(StopReason)> on_exit_;
  pid_t pid_ = -1;
  std::string name_;
  UniqueFd pidfd_;
  std::optional<EventLoop::TimerId> kill_timer_;
};

}  // namespace tether
