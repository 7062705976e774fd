#include "tether/lifetime.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tether/duration.h"
#include "tether/failure.h"
#include "tether/logging.h"

namespace tether {
namespace {

constexpr std::chrono::seconds kTtlWarning{60};

bool ArmTimer(int fd, std::chrono::seconds after) {
  itimerspec spec{};
  spec.it_value.tv_sec = after.count() > 0 ? after.count() : 0;
  if (after.count() <= 0) spec.it_value.tv_nsec = 1;  // zero would disarm it
  return timerfd_settime(fd, 0, &spec, nullptr) == 0;
}

}  // namespace

int ParentDeathSignal() { return SIGRTMIN; }

bool ArmParentDeathSignal(pid_t expected_parent) {
  prctl(PR_SET_PDEATHSIG, ParentDeathSignal());
  // The parent may have died before prctl took effect: then no signal will ever come.
  return getppid() == expected_parent;
}

UniqueFd OpenPidfd(pid_t pid, std::string* error) {
  // Through syscall(): glibc 2.36's <sys/pidfd.h> lacks C linkage for C++.
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) *error = ErrnoMessage("cannot follow pid " + std::to_string(pid));
  return fd;
}

Lifetime::~Lifetime() {
  if (idle_timer_) loop_->CancelTimer(*idle_timer_);
  if (ttl_timer_) loop_->Unwatch(ttl_timer_.get());
  if (followed_) loop_->Unwatch(followed_.get());
}

bool Lifetime::StartTtl(std::chrono::seconds ttl, std::string* error) {
  ttl_ = ttl;
  ttl_timer_.Reset(timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!ttl_timer_) {
    *error = ErrnoMessage("timerfd_create");
    return false;
  }
  ttl_warned_ = ttl <= kTtlWarning;
  ArmTimer(ttl_timer_.get(), ttl_warned_ ? ttl : ttl - kTtlWarning);
  loop_->Watch(ttl_timer_.get(), EPOLLIN, [this](uint32_t) { OnTtlTimer(); });
  return true;
}

void Lifetime::OnTtlTimer() {
  uint64_t expirations = 0;
  if (read(ttl_timer_.get(), &expirations, sizeof(expirations)) < 0) return;
  if (!ttl_warned_) {
    ttl_warned_ = true;
    LogEvent(spdlog::level::warn, "ttl_warning",
             "TTL of {ttl} ends in 1 minute; the tunnel will close then",
             {{"ttl", FormatDuration(ttl_)}});
    ArmTimer(ttl_timer_.get(), kTtlWarning);
    return;
  }
  stop_(StopReason::Requested("TTL of " + FormatDuration(ttl_) + " reached; stopping",
                              "ttl_reached"));
}

void Lifetime::EnableIdleTimeout(std::chrono::seconds idle) {
  idle_ = idle;
  ArmIdleTimer();
}

void Lifetime::ConnectionCountChanged(size_t open_connections) {
  if (!idle_) return;
  if (idle_timer_) {
    loop_->CancelTimer(*idle_timer_);
    idle_timer_.reset();
  }
  if (open_connections == 0) ArmIdleTimer();
}

void Lifetime::ArmIdleTimer() {
  if (idle_timer_) return;
  idle_timer_ = loop_->AddTimer(EventLoop::Clock::now() + *idle_, [this] {
    idle_timer_.reset();
    stop_(StopReason::Requested(
        "idle for " + FormatDuration(*idle_) + " with no client connection; stopping",
        "idle_timeout"));
  });
}

void Lifetime::Follow(UniqueFd pidfd, pid_t pid, std::string description) {
  followed_ = std::move(pidfd);
  loop_->Watch(followed_.get(), EPOLLIN, [this, pid, description](uint32_t) {
    loop_->Unwatch(followed_.get());
    stop_(StopReason::Requested(description + " (pid " + std::to_string(pid) + ") exited; stopping",
                                "parent_exited"));
  });
}

}  // namespace tether
