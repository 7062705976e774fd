#include "tether/command_runner.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tether/fd_pair.h"
#include "tether/lifetime.h"
#include "tether/signal_set.h"

extern char** environ;

namespace tether {
namespace {

std::vector<std::string> MergedEnvironment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text = *entry;
    std::string name = text.substr(0, text.find('='));
    if (extra.count(name) == 0) merged.push_back(text);
  }
  for (const auto& [name, value] : extra) merged.push_back(name + "=" + value);
  return merged;
}

std::vector<char*> PointerArray(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(pid_t tether_pid, char** argv, char** envp, int error_pipe) {
  SignalSet::ResetInChild();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != tether_pid) _exit(128 + SIGTERM);
  execvpe(argv[0], argv, envp);
  int error = errno;
  (void)!write(error_pipe, &error, sizeof(error));
  _exit(error == ENOENT ? 127 : 126);
}

}  // namespace

CommandRunner::~CommandRunner() {
  if (kill_timer_) loop_->CancelTimer(*kill_timer_);
  if (pid_ <= 0) return;
  // Never leave the command behind, whatever ended the run.
  loop_->Unwatch(pidfd_.get());
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

bool CommandRunner::Start(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& extra_env, std::string* error,
                          int* exec_status) {
  std::vector<std::string> args = argv;
  std::vector<std::string> env = MergedEnvironment(extra_env);
  std::vector<char*> arg_pointers = PointerArray(args);
  std::vector<char*> env_pointers = PointerArray(env);
  std::optional<FdPair> exec_pipe = OpenPipe(error);
  if (!exec_pipe) return false;
  UniqueFd read_end = std::move(exec_pipe->first), write_end = std::move(exec_pipe->second);
  pid_t tether_pid = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = ErrnoMessage("fork");
    return false;
  }
  if (pid == 0) ExecChild(tether_pid, arg_pointers.data(), env_pointers.data(), write_end.get());
  write_end.Reset();
  pid_ = pid;
  name_ = argv.front();
  int exec_errno = 0;
  if (read(read_end.get(), &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    *exec_status = ShellStatus(status);
    *error = "cannot run " + name_ + ": " + std::strerror(exec_errno);
    return false;
  }
  std::string ignored;
  pidfd_ = OpenPidfd(pid_, &ignored);
  loop_->Watch(pidfd_.get(), EPOLLIN, [this](uint32_t) { OnExited(); });
  return true;
}

void CommandRunner::Forward(int signal_number) {
  if (pid_ > 0) kill(pid_, signal_number);
}

void CommandRunner::Terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || kill_timer_) return;
  kill(pid_, SIGTERM);
  kill_timer_ = loop_->AddTimer(EventLoop::Clock::now() + grace, [this] {
    kill_timer_.reset();
    if (pid_ > 0) kill(pid_, SIGKILL);
  });
}

int CommandRunner::ShellStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

void CommandRunner::OnExited() {
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) <= 0) return;
  loop_->Unwatch(pidfd_.get());
  pidfd_.Reset();
  pid_ = -1;
  if (kill_timer_) {
    loop_->CancelTimer(*kill_timer_);
    kill_timer_.reset();
  }
  int code = ShellStatus(status);
  on_exit_({code, name_ + " exited with status " + std::to_string(code), false, "command_exited"});
}

}  // namespace tether
