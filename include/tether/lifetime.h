#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "tether/event_loop.h"
#include "tether/stop_reason.h"
#include "tether/unique_fd.h"

namespace tether {

/// The signal PR_SET_PDEATHSIG delivers: a real-time one, so that it cannot be confused
/// with a SIGHUP from a closed terminal and always ends in the normal shutdown.
int ParentDeathSignal();

/// Arms PR_SET_PDEATHSIG for the calling process. Returns false if the parent recorded
/// before (`expected_parent`) is already gone, in which case the signal will never come.
bool ArmParentDeathSignal(pid_t expected_parent);

/// A pidfd for `pid` (readable once the process has exited); invalid with *error set.
UniqueFd OpenPidfd(pid_t pid, std::string* error);

/// The time limits of a run: TTL (with a warning one minute before), idle timeout, and a
/// followed process (pidfd). Each limit reports its end through `stop`.
class Lifetime {
 public:
  using StopCallback = std::function<void(StopReason)>;

  Lifetime(EventLoop* loop, StopCallback stop) : loop_(loop), stop_(std::move(stop)) {}
  ~Lifetime();
  Lifetime(const Lifetime&) = delete;
  Lifetime& operator=(const Lifetime&) = delete;

  /// Starts the TTL on CLOCK_BOOTTIME, so time spent suspended counts too.
  bool StartTtl(std::chrono::seconds ttl, std::string* error);
  /// Stops the run after `idle` without client connections; see ConnectionCountChanged.
  void EnableIdleTimeout(std::chrono::seconds idle);
  void ConnectionCountChanged(size_t open_connections);
  /// Stops the run when the process behind `pidfd` exits.
  void Follow(UniqueFd pidfd, pid_t pid, std::string description);

 private:
  void OnTtlTimer();
  void ArmIdleTimer();

  EventLoop* loop_;
  StopCallback stop_;
  UniqueFd ttl_timer_;
  std::chrono::seconds ttl_{0};
  bool ttl_warned_ = false;
  std::optional<std::chrono::seconds> idle_;
  std::optional<EventLoop::TimerId> idle_timer_;
  UniqueFd followed_;
};

}  // namespace tether
