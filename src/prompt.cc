#include "tether/prompt.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tether/signal_set.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

constexpr size_t kMaxAnswer = 4096;

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = getenv(name);
  return value != nullptr ? value : fallback;
}

bool HaveTty() {
  UniqueFd tty(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  return tty.valid();
}

bool UseAskpass() {
  std::string askpass = EnvOr("SSH_ASKPASS", "");
  std::string require = EnvOr("SSH_ASKPASS_REQUIRE", "");
  if (askpass.empty() || require == "never") return false;
  if (require == "force" || require == "prefer") return true;
  return !HaveTty();
}

void StripNewline(std::string* text) {
  while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
}

std::optional<std::string> AskThroughAskpass(const std::string& question) {
  std::string program = EnvOr("SSH_ASKPASS", "");
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return std::nullopt;
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    SignalSet::ResetInChild();
    dup2(write_end.get(), STDOUT_FILENO);
    execlp(program.c_str(), program.c_str(), question.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  write_end.Reset();
  std::string answer;
  char buffer[512];
  for (;;) {
    ssize_t n = read(read_end.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || answer.size() > kMaxAnswer) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  explicit_bzero(buffer, sizeof(buffer));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    WipeSecret(&answer);
    return std::nullopt;
  }
  StripNewline(&answer);
  return answer;
}

// Restores the terminal's echo setting even if reading fails.
class ScopedNoEcho {
 public:
  ScopedNoEcho(int fd, bool echo) : fd_(fd) {
    if (echo || tcgetattr(fd_, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }
  ~ScopedNoEcho() {
    if (!active_) return;
    tcsetattr(fd_, TCSAFLUSH, &saved_);
    (void)!write(fd_, "\n", 1);
  }
  ScopedNoEcho(const ScopedNoEcho&) = delete;
  ScopedNoEcho& operator=(const ScopedNoEcho&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

std::optional<std::string> AskThroughTty(const std::string& question, bool echo) {
  UniqueFd tty(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty) return std::nullopt;
  (void)!write(tty.get(), question.data(), question.size());
  ScopedNoEcho no_echo(tty.get(), echo);
  std::string answer;
  char c = 0;
  for (;;) {
    ssize_t n = read(tty.get(), &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      WipeSecret(&answer);
      return std::nullopt;
    }
    if (c == '\n' || answer.size() > kMaxAnswer) break;
    answer += c;
  }
  c = 0;
  StripNewline(&answer);
  return answer;
}

}  // namespace

bool CanAskUser(const PromptChannel& channel) {
  if (channel.batch_mode) return false;
  return UseAskpass() || HaveTty();
}

std::optional<std::string> AskUser(const PromptChannel& channel, const std::string& question,
                                   bool echo) {
  if (channel.batch_mode) return std::nullopt;
  if (UseAskpass()) return AskThroughAskpass(question);
  return AskThroughTty(question, echo);
}

void WipeSecret(std::string* secret) {
  explicit_bzero(secret->data(), secret->size());
  secret->clear();
}

}  // namespace tether
