#include "tether/keepalive.h"

#include <algorithm>

#include "tether/exit_code.h"

namespace tether {
namespace {

// Far beyond any TTL, yet far from the ~292 years that steady_clock's nanoseconds can hold:
// larger intervals and counts (from a config file, say) mean "practically never".
constexpr std::chrono::seconds kLongestSilence = std::chrono::hours(24 * 3650);

std::chrono::seconds Bounded(std::chrono::seconds interval) {
  return std::min(interval, kLongestSilence);
}

}  // namespace

std::chrono::seconds Keepalive::SilenceLimit(std::chrono::seconds interval, int count) {
  interval = Bounded(interval);
  if (interval.count() <= 0 || count <= 0) return interval;
  if (count >= kLongestSilence / interval) return kLongestSilence;
  return interval * count;
}

Keepalive::Keepalive(EventLoop* loop, const SshSession* session, std::chrono::seconds interval,
                     int count, std::function<void()> probe, std::function<void(StopReason)> stop)
    : loop_(loop),
      session_(session),
      interval_(Bounded(interval)),
      count_(count),
      probe_(std::move(probe)),
      stop_(std::move(stop)) {}

Keepalive::~Keepalive() {
  if (timer_) loop_->CancelTimer(*timer_);
}

void Keepalive::Start() {
  if (interval_.count() <= 0) return;
  auto now = EventLoop::Clock::now();
  timer_ = loop_->AddTimer(NextCheck(now, session_->inbound().last_arrival, interval_, count_),
                           [this] { Check(); });
}

EventLoop::Clock::time_point Keepalive::NextCheck(EventLoop::Clock::time_point now,
                                                  EventLoop::Clock::time_point last_arrival,
                                                  std::chrono::seconds interval, int count) {
  // Probe again one interval after the last arrival (or after this probe), but check
  // exactly when the silence would reach its limit.
  auto next_probe = std::max(last_arrival + Bounded(interval), now + Bounded(interval));
  auto deadline = last_arrival + SilenceLimit(interval, count);
  auto next = std::min(next_probe, deadline);
  return std::max(next, now + std::chrono::milliseconds(50));
}

void Keepalive::Check() {
  timer_.reset();
  auto now = EventLoop::Clock::now();
  auto last = session_->inbound().last_arrival;
  auto silence = now - last;
  if (silence >= SilenceLimit(interval_, count_)) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(silence).count();
    stop_({ToInt(ExitCode::kConnectionLost),
           "server " + session_->host_label() + " not responding for " + std::to_string(seconds) +
               "s (" + std::to_string(count_) + " keepalives unanswered)",
           true, "keepalive_timeout"});
    return;
  }
  if (silence >= interval_) probe_();
  timer_ = loop_->AddTimer(NextCheck(now, last, interval_, count_), [this] { Check(); });
}

}  // namespace tether
