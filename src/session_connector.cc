#include "tether/session_connector.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <system_error>
#include <utility>

#include "tether/packet_pool.h"

namespace tether {
namespace {

void Signal(int fd) {
  const uint64_t one = 1;
  (void)!write(fd, &one, sizeof(one));
}

void Drain(int fd) {
  uint64_t count = 0;
  (void)!read(fd, &count, sizeof(count));
}

}  // namespace

SessionConnector::SessionConnector(EventLoop* loop, const TunnelPlan& plan, OnOutcome on_outcome)
    : loop_(loop),
      plan_(plan),
      on_outcome_(std::move(on_outcome)),
      cancel_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      done_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (ok()) loop_->Watch(done_.get(), EPOLLIN, [this](uint32_t) { Collect(); });
}

SessionConnector::~SessionConnector() {
  CancelAll();
  if (done_.valid()) loop_->Unwatch(done_.get());
}

bool SessionConnector::Start() {
  if (!ok()) return false;
  Attempt& attempt = attempts_.emplace_back();
  try {
    attempt.thread = std::thread([this, &attempt] { Work(&attempt); });
  } catch (const std::system_error&) {
    attempts_.pop_back();
    return false;
  }
  return true;
}

void SessionConnector::Work(Attempt* attempt) {
  Outcome outcome;
  outcome.chain =
      JumpChain::Connect(plan_, cancel_.get(), nullptr, &outcome.failure, &outcome.warnings);
  // The packet pool keeps a free list per thread: this one ends here.
  packet_pool::ReleaseFreeBlocks();
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    attempt->outcome = std::move(outcome);
    attempt->finished = true;
  }
  Signal(done_.get());
}

void SessionConnector::Collect() {
  Drain(done_.get());
  std::vector<Outcome> outcomes;
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    bool finished = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      finished = it->finished;
    }
    if (!finished) {
      ++it;
      continue;
    }
    it->thread.join();
    outcomes.push_back(std::move(it->outcome));
    it = attempts_.erase(it);
  }
  // Delivered after the list is settled: a callback may start or cancel attempts.
  for (Outcome& outcome : outcomes) on_outcome_(std::move(outcome));
}

void SessionConnector::CancelAll() {
  if (attempts_.empty()) return;
  Signal(cancel_.get());
  for (Attempt& attempt : attempts_) attempt.thread.join();
  // Chains that were made all the same are closed here, on the loop's thread.
  attempts_.clear();
  Drain(cancel_.get());
  Drain(done_.get());
}

}  // namespace tether
