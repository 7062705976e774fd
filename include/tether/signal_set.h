#pragma once

#include <signal.h>

#include <initializer_list>
#include <optional>
#include <string>

#include "tether/unique_fd.h"

namespace tether {

/// Blocks a set of signals for the whole process and delivers them through a signalfd, so
/// that they are handled as ordinary events of the loop and never interrupt work. The
/// previous mask is restored when destroyed.
class SignalSet {
 public:
  SignalSet() = default;
  SignalSet(const SignalSet&) = delete;
  SignalSet& operator=(const SignalSet&) = delete;
  ~SignalSet();

  /// Blocks `signals` and opens the signalfd. Also ignores SIGPIPE: a closed peer is
  /// reported by write() as EPIPE.
  bool Install(std::initializer_list<int> signals, std::string* error);

  int fd() const { return fd_.get(); }
  /// Reads one pending signal; nullopt when none is pending.
  std::optional<int> Read();

  /// Leaves the signals blocked when destroyed. For main(): unblocking at exit would let a
  /// stop signal that arrived during shutdown kill the process and replace its exit code.
  void KeepBlockedOnExit() { installed_ = false; }

  /// The signalfd of the set installed last (-1 before any): for waits that no caller hands
  /// the fd to, such as a passphrase prompt, which must end on Ctrl-C or SIGTERM too.
  static int StopFd();

  /// The mask a child process should start with (nothing blocked); call in the child.
  static void ResetInChild();

 private:
  UniqueFd fd_;
  sigset_t previous_mask_{};
  bool installed_ = false;
};

}  // namespace tether
