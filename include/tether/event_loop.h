#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tether/unique_fd.h"

namespace tether {

/// A single-threaded epoll loop with per-fd callbacks and one-shot timers on the monotonic
/// clock. Callbacks may watch, unwatch and cancel anything, themselves included: an event for
/// an fd that was unwatched (or re-watched) during the same wake-up is dropped.
class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using FdCallback = std::function<void(uint32_t events)>;
  using TimerCallback = std::function<void()>;
  using TimerId = uint64_t;
  /// Runs once the events of a wake-up are dispatched and again before each wait (redis's
  /// beforeSleep): event handlers record what happened, a hook does the work. Returns true
  /// when it left work that no fd event will announce; the next wait then does not block.
  using BeforeWaitHook = std::function<bool()>;
  using HookId = uint64_t;

  /// Returns nullptr and sets *error if epoll_create1 fails.
  static std::unique_ptr<EventLoop> Create(std::string* error);

  /// Starts delivering `events` (EPOLLIN, EPOLLOUT; level-triggered) on `fd` to `callback`.
  bool Watch(int fd, uint32_t events, FdCallback callback);
  /// Changes the interest set of a watched fd; a no-op when unchanged.
  void SetEvents(int fd, uint32_t events);
  /// Stops watching `fd`; safe to call for an fd that is not watched.
  void Unwatch(int fd);
  bool IsWatched(int fd) const { return watches_.count(fd) != 0; }

  /// Calls `callback` once at `when` (or soon after). Returns an id for CancelTimer.
  TimerId AddTimer(Clock::time_point when, TimerCallback callback);
  void CancelTimer(TimerId id);

  HookId AddBeforeWait(BeforeWaitHook hook);
  /// Safe to call from inside a hook (the hook is not run again).
  void RemoveBeforeWait(HookId id);
  /// A hook left work for the next turn: a wait elsewhere (loop_background.h) must not block.
  bool has_deferred_work() const { return deferred_work_; }

  /// Runs until Stop() is called from a callback.
  void Run();
  void Stop() { stopping_ = true; }
  bool stopping() const { return stopping_; }
  /// Undoes Stop(): Run() and RunOnce() dispatch again.
  void Resume() { stopping_ = false; }

  /// Waits at most `max_wait` for events and dispatches them and the due timers.
  void RunOnce(std::chrono::milliseconds max_wait);

  /// The epoll fd: readable when a watched fd has an event, so that another poll can wait
  /// for the loop's fds too (see loop_background.h).
  int fd() const { return epoll_fd_.get(); }
  /// How long until the first timer is due (0 when overdue); `max_wait` when sooner or when
  /// there is no timer (negative = no limit).
  std::chrono::milliseconds TimeUntilNextTimer(std::chrono::milliseconds max_wait) const {
    return std::chrono::milliseconds(TimeoutUntilNextTimer(max_wait));
  }

 private:
  struct Watch_ {
    uint32_t events = 0;
    uint32_t generation = 0;
    FdCallback callback;
  };
  struct Timer {
    Clock::time_point when;
    TimerCallback callback;
  };

  explicit EventLoop(UniqueFd epoll_fd) : epoll_fd_(std::move(epoll_fd)) {}
  int TimeoutUntilNextTimer(std::chrono::milliseconds max_wait) const;
  void DispatchDueTimers();
  /// Runs the hooks; true when any of them left work.
  bool RunHooks();

  UniqueFd epoll_fd_;
  std::unordered_map<int, Watch_> watches_;
  uint32_t next_generation_ = 1;
  std::map<std::pair<Clock::time_point, TimerId>, TimerId> timer_queue_;
  std::unordered_map<TimerId, Timer> timers_;
  TimerId next_timer_id_ = 1;
  std::map<HookId, BeforeWaitHook> hooks_;
  HookId next_hook_id_ = 1;
  bool deferred_work_ = false;
  bool stopping_ = false;
};

}  // namespace tether
