#include "tether/event_loop.h"

#include <cerrno>
#include <cstring>

#include "tether/failure.h"

namespace tether {
namespace {

constexpr int kMaxEventsPerWait = 256;

uint64_t PackToken(int fd, uint32_t generation) {
  return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd);
}

}  // namespace

std::unique_ptr<EventLoop> EventLoop::Create(std::string* error) {
  UniqueFd fd(epoll_create1(EPOLL_CLOEXEC));
  if (!fd) {
    *error = ErrnoMessage("epoll_create1");
    return nullptr;
  }
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(fd)));
}

bool EventLoop::Watch(int fd, uint32_t events, FdCallback callback) {
  Watch_ watch{events, next_generation_++, std::move(callback)};
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = PackToken(fd, watch.generation);
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  watches_[fd] = std::move(watch);
  return true;
}

void EventLoop::SetEvents(int fd, uint32_t events) {
  auto it = watches_.find(fd);
  if (it == watches_.end() || it->second.events == events) return;
  it->second.events = events;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = PackToken(fd, it->second.generation);
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::Unwatch(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watches_.erase(it);
}

EventLoop::TimerId EventLoop::AddTimer(Clock::time_point when, TimerCallback callback) {
  TimerId id = next_timer_id_++;
  timers_[id] = Timer{when, std::move(callback)};
  timer_queue_.emplace(std::make_pair(when, id), id);
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  timer_queue_.erase({it->second.when, id});
  timers_.erase(it);
}

void EventLoop::Run() {
  while (!stopping_) RunOnce(std::chrono::milliseconds(-1));
}

int EventLoop::TimeoutUntilNextTimer(std::chrono::milliseconds max_wait) const {
  if (timer_queue_.empty()) return static_cast<int>(max_wait.count());
  auto until = timer_queue_.begin()->first.first - Clock::now();
  // Round up so that a timer is never woken for just before it is due.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(until).count();
  if (ms < 0) ms = 0;
  if (max_wait.count() >= 0 && max_wait.count() < ms) ms = max_wait.count();
  return static_cast<int>(std::min<int64_t>(ms, int64_t{24} * 3600 * 1000));
}

EventLoop::HookId EventLoop::AddBeforeWait(BeforeWaitHook hook) {
  HookId id = next_hook_id_++;
  hooks_.emplace(id, std::move(hook));
  return id;
}

void EventLoop::RemoveBeforeWait(HookId id) { hooks_.erase(id); }

bool EventLoop::RunHooks() {
  bool more = false;
  // By id, looked up each time: a hook may remove itself or another one.
  for (HookId id = 0;;) {
    auto it = hooks_.upper_bound(id);
    if (it == hooks_.end() || stopping_) break;
    id = it->first;
    BeforeWaitHook hook = it->second;  // a copy: the hook may remove itself
    more = hook() || more;
  }
  deferred_work_ = more;
  return more;
}

void EventLoop::RunOnce(std::chrono::milliseconds max_wait) {
  if (!stopping_ && RunHooks()) max_wait = std::chrono::milliseconds(0);
  if (stopping_) return;  // a hook stopped the loop
  epoll_event events[kMaxEventsPerWait];
  int n = epoll_wait(epoll_fd_.get(), events, kMaxEventsPerWait, TimeoutUntilNextTimer(max_wait));
  for (int i = 0; i < n && !stopping_; ++i) {
    int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
    auto generation = static_cast<uint32_t>(events[i].data.u64 >> 32);
    auto it = watches_.find(fd);
    if (it == watches_.end() || it->second.generation != generation) continue;
    // Copy: the callback may unwatch its own fd, destroying the stored function.
    FdCallback callback = it->second.callback;
    callback(events[i].events);
  }
  if (!stopping_) DispatchDueTimers();
  if (!stopping_) RunHooks();
}

void EventLoop::DispatchDueTimers() {
  auto now = Clock::now();
  while (!timer_queue_.empty() && !stopping_) {
    auto first = timer_queue_.begin();
    if (first->first.first > now) break;
    TimerId id = first->second;
    timer_queue_.erase(first);
    auto node = timers_.extract(id);
    if (!node.empty()) node.mapped().callback();
  }
}

}  // namespace tether
