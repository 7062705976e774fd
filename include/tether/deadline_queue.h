#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>

#include "tether/event_loop.h"

namespace tether {

/// Things given up at a deadline, by id, with one timer of the loop at a time. The deadlines
/// must come in order (each is "now plus one fixed span"), which keeps this a plain queue:
/// adding and expiring cost O(1), however many wait. An id whose thing has ended meanwhile
/// is simply reported too: the callback looks it up and ignores what is gone.
class DeadlineQueue {
 public:
  using Expire = std::function<void(uint64_t id)>;

  DeadlineQueue(EventLoop* loop, Expire expire) : loop_(loop), expire_(std::move(expire)) {}
  ~DeadlineQueue();
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  /// `id` expires at `deadline`, which is no earlier than any added before.
  void Add(EventLoop::Clock::time_point deadline, uint64_t id);
  size_t size() const { return deadlines_.size(); }

 private:
  void Arm();
  void ExpireDue();

  EventLoop* loop_;
  Expire expire_;
  std::deque<std::pair<EventLoop::Clock::time_point, uint64_t>> deadlines_;
  std::optional<EventLoop::TimerId> timer_;
};

}  // namespace tether
