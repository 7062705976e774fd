#include "tether/prompt.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tether/fd_pair.h"
#include "tether/message_text.h"
#include "tether/signal_set.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

// Questions put to the user so far: a session pool never asks again, so a login that needed
// an answer stays at one session.
int questions_asked = 0;

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

// What ended a wait for the user.
enum class Ready { kInput, kStop, kError };

// Waits until `fd` is readable or a stop signal (Ctrl-C, SIGTERM, ...) is pending. The
// signal stays pending: the caller gives up, and the next wait of the setup sees it too.
Ready WaitForInput(int fd) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {SignalSet::StopFd(), POLLIN, 0}};
  for (;;) {
    const int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Ready::kError;
    if (fds[1].revents & POLLIN) return Ready::kStop;
    if (fds[0].revents != 0) return Ready::kInput;
  }
}

// Ends an askpass program the user no longer waits for: SIGTERM, then SIGKILL if it has
// not gone within a second.
void EndChild(pid_t pid) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::optional<std::string> AskThroughAskpass(const std::string& question) {
  std::string program = EnvOr("SSH_ASKPASS", "");
  std::string error;
  std::optional<FdPair> answer_pipe = OpenPipe(&error);
  if (!answer_pipe) return std::nullopt;
  UniqueFd read_end = std::move(answer_pipe->first), write_end = std::move(answer_pipe->second);
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
    if (WaitForInput(read_end.get()) != Ready::kInput) {
      EndChild(pid);
      WipeSecret(&answer);
      return std::nullopt;
    }
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
  // A keyboard-interactive prompt is the server's text: escaped like every such text.
  const std::string shown = EscapeForMessage(question);
  (void)!write(tty.get(), shown.data(), shown.size());
  // Restores echo on every way out, a stop signal included (the signals are blocked and
  // read from a signalfd, so none can end the process while echo is off).
  ScopedNoEcho no_echo(tty.get(), echo);
  std::string answer;
  char c = 0;
  for (;;) {
    if (WaitForInput(tty.get()) != Ready::kInput) {
      WipeSecret(&answer);
      return std::nullopt;
    }
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

int QuestionsAsked() { return questions_asked; }

std::optional<std::string> AskUser(const PromptChannel& channel, const std::string& question,
                                   bool echo) {
  if (channel.batch_mode) return std::nullopt;
  ++questions_asked;
  if (UseAskpass()) return AskThroughAskpass(question);
  return AskThroughTty(question, echo);
}

void WipeSecret(std::string* secret) {
  explicit_bzero(secret->data(), secret->size());
  secret->clear();
}

}  // namespace tether
