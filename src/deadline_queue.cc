#include "tether/deadline_queue.h"

namespace tether {

DeadlineQueue::~DeadlineQueue() {
  if (timer_) loop_->CancelTimer(*timer_);
}

void DeadlineQueue::Add(EventLoop::Clock::time_point deadline, uint64_t id) {
  deadlines_.emplace_back(deadline, id);
  Arm();
}

void DeadlineQueue::Arm() {
  if (timer_ || deadlines_.empty()) return;
  timer_ = loop_->AddTimer(deadlines_.front().first, [this] {
    timer_.reset();
    ExpireDue();
  });
}

void DeadlineQueue::ExpireDue() {
  const EventLoop::Clock::time_point now = EventLoop::Clock::now();
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    const uint64_t id = deadlines_.front().second;
    deadlines_.pop_front();
    expire_(id);
  }
  Arm();
}

}  // namespace tether
