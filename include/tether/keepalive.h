#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "tether/event_loop.h"
#include "tether/ssh_session.h"
#include "tether/stop_reason.h"

namespace tether {

/// Declares the server dead after `interval` x `count` without a single byte from it, and
/// asks for a reply (`probe`) whenever it has been quiet for `interval`. Silence is measured
/// at the socket (InboundMonitor), so it works even while our own sends are blocked.
class Keepalive {
 public:
  Keepalive(EventLoop* loop, const SshSession* session, std::chrono::seconds interval, int count,
            std::function<void()> probe, std::function<void(StopReason)> stop);
  ~Keepalive();
  Keepalive(const Keepalive&) = delete;
  Keepalive& operator=(const Keepalive&) = delete;

  void Start();

  /// When the next check is due, given the last arrival (exposed for table tests).
  static EventLoop::Clock::time_point NextCheck(EventLoop::Clock::time_point now,
                                                EventLoop::Clock::time_point last_arrival,
                                                std::chrono::seconds interval, int count);
  /// interval x count, saturated far below what the steady clock can represent.
  static std::chrono::seconds SilenceLimit(std::chrono::seconds interval, int count);

 private:
  void Check();

  EventLoop* loop_;
  const SshSession* session_;
  std::chrono::seconds interval_;
  int count_;
  std::function<void()> probe_;
  std::function<void(StopReason)> stop_;
  std::optional<EventLoop::TimerId> timer_;
};

}  // namespace tether
