#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tether/unique_fd.h"

namespace tether::testing {

/// How Subprocess::Start sets up the child.
struct SubprocessOptions {
  /// Variables added to, or replacing those in, the environment (applied after env_unset).
  std::map<std::string, std::string> env_set;
  /// Variables removed from the inherited environment.
  std::vector<std::string> env_unset;
  /// Start from an empty environment instead of the test's own.
  bool clear_env = false;
  /// Where the child's stdout goes; empty captures it into an unlinked temp file.
  std::string stdout_path;
  /// Where the child's stderr goes; empty captures it. May equal stdout_path.
  std::string stderr_path;
  /// stdin from /dev/null; false inherits the test's stdin.
  bool stdin_null = true;
  /// setsid() in the child, so it leads its own session and process group.
  bool new_session = false;
  /// Working directory of the child; empty keeps the test's.
  std::string cwd;
  /// PR_SET_PDEATHSIG(SIGKILL) in the child, so nothing outlives a crashed test binary.
  /// The signal fires when the *thread* that called Start exits: turn it off when starting
  /// from a short-lived thread.
  bool die_with_parent = true;
};

/// A child process started with fork+execve. The owner decides when it ends; the destructor
/// SIGKILLs and reaps it if it still runs, so a failing test never leaves a process behind.
class Subprocess {
  struct PassKey {};  ///< Lets only Start construct, while make_unique can call the ctor.

 public:
  /// Starts argv[0] (searched in PATH when it has no '/'). Returns nullptr and sets *error
  /// when the program cannot be found or executed; exec failures are reported, not exit 127.
  static std::unique_ptr<Subprocess> Start(const std::vector<std::string>& argv,
                                           const SubprocessOptions& opts, std::string* error);
  /// Use Start(); public only for std::make_unique.
  explicit Subprocess(PassKey) {}
  /// SIGKILLs (its whole process group too, with new_session) and reaps.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  /// The child's pid; stays valid as a number after it has been reaped.
  pid_t pid() const { return pid_; }
  /// True while the child has not exited; reaps it (WNOHANG) once it has.
  bool Running();
  /// Waits up to `timeout` for the exit; returns the exit code, or 128+N when signal N ended
  /// it; nullopt while it still runs.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  /// The exit code (as WaitExit) if the child has been reaped; does not wait.
  std::optional<int> exit_code() const;
  /// The raw waitpid status, or -1 while the child has not been reaped.
  int ExitStatusRaw() const { return reaped_ ? status_ : -1; }
  /// kill(pid, sig), unless the child has already been reaped (its pid may be reused).
  void Signal(int sig);
  /// kill(-pid, sig): the whole process group; meaningful with new_session.
  void SignalGroup(int sig);
  /// What the child wrote to stdout so far (the file's content when stdout_path was given).
  std::string Stdout() const;
  /// What the child wrote to stderr so far.
  std::string Stderr() const;

 private:
  /// One output stream: a file named by the caller, or an unlinked temp file we own.
  struct Output {
    std::string path;  ///< Read by name when set.
    UniqueFd owned;    ///< The unlinked capture file otherwise.
    std::string Read() const;
  };

  /// Points stdout_/stderr_ at their files; sets the fds the child should dup2 from.
  bool OpenOutputs(const SubprocessOptions& opts, UniqueFd* named_out, UniqueFd* named_err,
                   int* child_out, int* child_err, std::string* error);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;  ///< Raw waitpid status; valid once reaped_.
  bool new_session_ = false;
  Output stdout_;
  Output stderr_;
};

/// Runs `argv` to completion, SIGKILLing it after `timeout`. True when it exited 0.
/// *output (if not null) receives its stdout followed by its stderr, for error messages;
/// *error says why it failed (could not start, timed out, or exit code N).
bool RunCommand(const std::vector<std::string>& argv, const SubprocessOptions& opts,
                std::chrono::milliseconds timeout, std::string* output, std::string* error);

/// Exit code from a raw waitpid status: the code, or 128+N for signal N.
int DecodeWaitStatus(int status);

/// True when `pid` no longer exists or is a zombie (exited but not yet reaped by its parent).
bool ProcessGone(pid_t pid);

/// Polls `pred` every 10 ms until it returns true or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace tether::testing
