#include "tether/loop_background.h"

namespace tether {

void LoopBackground::AddPollFds(std::vector<pollfd>* fds) const {
  fds->push_back({loop_->fd(), POLLIN, 0});
}

bool LoopBackground::Service(std::span<const pollfd> ready, Failure* failure) {
  (void)ready;  // due timers need a turn even when no fd is ready
  // Never blocks: the poll that called this has done the waiting.
  loop_->RunOnce(std::chrono::milliseconds(0));
  std::optional<Failure> abandoned = abandon_();
  if (!abandoned) return true;
  *failure = std::move(*abandoned);
  return false;
}

std::chrono::milliseconds LoopBackground::MaxWait() const {
  if (loop_->has_deferred_work()) return std::chrono::milliseconds(0);
  const std::chrono::milliseconds until = loop_->TimeUntilNextTimer(std::chrono::milliseconds(-1));
  return until.count() < 0 ? WaitBackground::MaxWait() : until;
}

}  // namespace tether
