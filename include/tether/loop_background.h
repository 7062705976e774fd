#pragma once

#include <functional>
#include <optional>
#include <span>

#include "tether/event_loop.h"
#include "tether/failure.h"
#include "tether/session_waiter.h"

namespace tether {

/// Keeps an EventLoop serving its fds and timers while a blocking setup step waits, e.g. a
/// reconnect: listeners keep accepting, `tether list` keeps answering, signals and timers
/// still arrive. Its fds are polled through the loop's epoll fd and its next timer bounds
/// each poll. The wait is abandoned as soon as `abandon` returns a failure (a stop was
/// requested by one of the loop's callbacks).
class LoopBackground : public WaitBackground {
 public:
  using AbandonCheck = std::function<std::optional<Failure>()>;
  LoopBackground(EventLoop* loop, AbandonCheck abandon)
      : loop_(loop), abandon_(std::move(abandon)) {}

  void AddPollFds(std::vector<pollfd>* fds) const override;
  bool Service(std::span<const pollfd> ready, Failure* failure) override;
  std::chrono::milliseconds MaxWait() const override;

 private:
  EventLoop* loop_;
  AbandonCheck abandon_;
};

}  // namespace tether
