#include "tether/signal_set.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include "tether/failure.h"

namespace tether {
namespace {

int stop_fd = -1;  // the signalfd of the SignalSet installed last

}  // namespace

SignalSet::~SignalSet() {
  if (stop_fd == fd_.get()) stop_fd = -1;
  if (installed_) sigprocmask(SIG_SETMASK, &previous_mask_, nullptr);
}

int SignalSet::StopFd() { return stop_fd; }

bool SignalSet::Install(std::initializer_list<int> signals, std::string* error) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : signals) sigaddset(&mask, sig);
  if (sigprocmask(SIG_BLOCK, &mask, &previous_mask_) != 0) {
    *error = ErrnoMessage("sigprocmask");
    return false;
  }
  installed_ = true;
  signal(SIGPIPE, SIG_IGN);
  fd_.Reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) {
    *error = ErrnoMessage("signalfd");
    return false;
  }
  stop_fd = fd_.get();
  return true;
}

std::optional<int> SignalSet::Read() {
  signalfd_siginfo info{};
  ssize_t n = read(fd_.get(), &info, sizeof(info));
  if (n != static_cast<ssize_t>(sizeof(info))) return std::nullopt;
  return static_cast<int>(info.ssi_signo);
}

void SignalSet::ResetInChild() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
}

}  // namespace tether
