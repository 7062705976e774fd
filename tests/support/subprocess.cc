#include "support/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "support/temp_dir.h"

extern char** environ;

namespace tether::testing {

namespace {

using Clock = std::chrono::steady_clock;

/// The child's setup steps, named in the error when one fails.
enum class ChildStep : int { kSetsid, kDeathSignal, kRedirect, kChdir, kExec };

/// What a child writes to the exec-status pipe when a step fails.
struct ChildFailure {
  int step;
  int err;
};

const char* StepName(int step) {
  switch (static_cast<ChildStep>(step)) {
    case ChildStep::kSetsid:
      return "setsid";
    case ChildStep::kDeathSignal:
      return "prctl(PR_SET_PDEATHSIG)";
    case ChildStep::kRedirect:
      return "dup2";
    case ChildStep::kChdir:
      return "chdir";
    case ChildStep::kExec:
      return "execve";
  }
  return "child setup";
}

/// Everything the child needs, prepared before fork: between fork and exec a threaded
/// process may only make async-signal-safe calls, so nothing is allocated there.
struct ChildPlan {
  const char* program = nullptr;
  std::vector<char*> argv;
  std::vector<char*> envp;
  const char* cwd = nullptr;  ///< nullptr keeps the current directory.
  int stdin_fd = -1;          ///< -1 inherits.
  int stdout_fd = -1;
  int stderr_fd = -1;
  int status_fd = -1;  ///< Write end of the CLOEXEC pipe: closed by a successful exec.
  bool new_session = false;
  bool die_with_parent = false;
  pid_t parent = -1;
};

std::map<std::string, std::string> BuildEnv(const SubprocessOptions& opts) {
  std::map<std::string, std::string> env;
  if (!opts.clear_env) {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const char* eq = strchr(*entry, '=');
      if (eq != nullptr)
        env.emplace(std::string(*entry, static_cast<size_t>(eq - *entry)), std::string(eq + 1));
    }
  }
  for (const std::string& name : opts.env_unset) env.erase(name);
  for (const auto& [name, value] : opts.env_set) env[name] = value;
  return env;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

/// Resolves a bare program name like execvp would, using the child's PATH.
std::string FindProgram(const std::string& name, const std::map<std::string, std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string dirs = "/usr/local/bin:/usr/bin:/bin";
  if (auto it = env.find("PATH"); it != env.end()) {
    dirs = it->second;
  } else if (const char* path = getenv("PATH"); path != nullptr) {
    dirs = path;
  }
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return "";
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void FailChild(int status_fd, ChildStep step) {
  ChildFailure failure{static_cast<int>(step), errno};
  ssize_t ignored = write(status_fd, &failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

/// dup2 that also works when the descriptor already has the target number.
bool MoveFd(int from, int to) {
  if (from < 0) return true;
  if (from == to) return fcntl(to, F_SETFD, 0) == 0;
  return dup2(from, to) == to;
}

/// The test binary may block or ignore signals; the child must start from the defaults.
void ResetSignals() {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // Fails harmlessly.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void CloseFdsExcept(int keep) {
  if (keep > 3) close_range(3, keep - 1, 0);
  if (close_range(keep + 1, ~0U, 0) == 0) return;
  for (int fd = keep + 1; fd < 4096; ++fd) close(fd);  // Kernels without close_range.
}

[[noreturn]] void RunChild(const ChildPlan& plan) {
  if (plan.new_session && setsid() < 0) FailChild(plan.status_fd, ChildStep::kSetsid);
  if (plan.die_with_parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) FailChild(plan.status_fd, ChildStep::kDeathSignal);
    if (getppid() != plan.parent) _exit(127);  // The test died before prctl took effect.
  }
  ResetSignals();
  if (!MoveFd(plan.stdin_fd, 0) || !MoveFd(plan.stdout_fd, 1) || !MoveFd(plan.stderr_fd, 2)) {
    FailChild(plan.status_fd, ChildStep::kRedirect);
  }
  if (plan.cwd != nullptr && chdir(plan.cwd) != 0) FailChild(plan.status_fd, ChildStep::kChdir);
  CloseFdsExcept(plan.status_fd);
  execve(plan.program, plan.argv.data(), plan.envp.data());
  FailChild(plan.status_fd, ChildStep::kExec);
}

/// Blocks until the child has exec'd (EOF on the pipe) or reported a failed step.
bool AwaitExec(int status_fd, const std::string& program, std::string* error) {
  ChildFailure failure;
  ssize_t n;
  do {
    n = read(status_fd, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return true;
  if (n == sizeof failure) {
    *error = std::string(StepName(failure.step)) + " for " + program + ": " + strerror(failure.err);
  } else {
    *error = "cannot learn whether " + program + " started";
  }
  return false;
}

UniqueFd OpenForAppend(const std::string& path, std::string* error) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) *error = "open " + path + ": " + strerror(errno);
  return fd;
}

/// An unlinked temp file: nothing to clean up even if the test binary crashes.
UniqueFd OpenCaptureFile(std::string* error) {
  std::string templ = TempRoot() + "/tether-test-out-XXXXXX";
  UniqueFd fd(mkostemp(templ.data(), O_CLOEXEC));
  if (!fd) {
    *error = "mkostemp in " + TempRoot() + ": " + strerror(errno);
    return fd;
  }
  unlink(templ.c_str());
  return fd;
}

/// The strings execve gets; they must outlive the fork.
struct ExecImage {
  std::string program;
  std::vector<std::string> args;
  std::vector<std::string> env;
};

bool ResolveImage(const std::vector<std::string>& argv, const SubprocessOptions& opts,
                  ExecImage* image, std::string* error) {
  if (argv.empty()) {
    *error = "Subprocess::Start: empty argv";
    return false;
  }
  std::map<std::string, std::string> env = BuildEnv(opts);
  image->program = FindProgram(argv[0], env);
  if (image->program.empty()) {
    *error = argv[0] + ": not found in PATH";
    return false;
  }
  image->args = argv;
  for (const auto& [name, value] : env) image->env.push_back(name + "=" + value);
  return true;
}

ChildPlan MakePlan(const SubprocessOptions& opts, ExecImage* image) {
  ChildPlan plan;
  plan.program = image->program.c_str();
  plan.argv = CStrings(image->args);
  plan.envp = CStrings(image->env);
  plan.cwd = opts.cwd.empty() ? nullptr : opts.cwd.c_str();
  plan.new_session = opts.new_session;
  plan.die_with_parent = opts.die_with_parent;
  plan.parent = getpid();
  return plan;
}

bool MakeStatusPipe(UniqueFd* read_end, UniqueFd* write_end, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + strerror(errno);
    return false;
  }
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return true;
}

}  // namespace

std::unique_ptr<Subprocess> Subprocess::Start(const std::vector<std::string>& argv,
                                              const SubprocessOptions& opts, std::string* error) {
  ExecImage image;
  if (!ResolveImage(argv, opts, &image, error)) return nullptr;
  auto proc = std::make_unique<Subprocess>(PassKey{});
  ChildPlan plan = MakePlan(opts, &image);
  UniqueFd named_out, named_err, null_in, status_read, status_write;
  if (!proc->OpenOutputs(opts, &named_out, &named_err, &plan.stdout_fd, &plan.stderr_fd, error)) {
    return nullptr;
  }
  if (opts.stdin_null) {
    null_in.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    plan.stdin_fd = null_in.get();
  }
  if (!MakeStatusPipe(&status_read, &status_write, error)) return nullptr;
  plan.status_fd = status_write.get();

  pid_t pid = fork();
  if (pid == 0) RunChild(plan);
  if (pid < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return nullptr;
  }
  proc->pid_ = pid;
  proc->new_session_ = opts.new_session;
  status_write.Reset();
  if (!AwaitExec(status_read.get(), image.program, error)) return nullptr;  // ~Subprocess reaps.
  return proc;
}

bool Subprocess::OpenOutputs(const SubprocessOptions& opts, UniqueFd* named_out,
                             UniqueFd* named_err, int* child_out, int* child_err,
                             std::string* error) {
  auto open_one = [&](const std::string& path, Output* output, UniqueFd* named) {
    output->path = path;
    if (path.empty()) {
      output->owned = OpenCaptureFile(error);
      return output->owned.valid();
    }
    *named = OpenForAppend(path, error);
    return named->valid();
  };
  if (!open_one(opts.stdout_path, &stdout_, named_out)) return false;
  *child_out = stdout_.path.empty() ? stdout_.owned.get() : named_out->get();
  if (!opts.stderr_path.empty() && opts.stderr_path == opts.stdout_path) {
    stderr_.path = opts.stderr_path;  // One file description, so the two streams interleave.
    *child_err = *child_out;
    return true;
  }
  if (!open_one(opts.stderr_path, &stderr_, named_err)) return false;
  *child_err = stderr_.path.empty() ? stderr_.owned.get() : named_err->get();
  return true;
}

Subprocess::~Subprocess() {
  if (pid_ <= 0) return;
  // A daemonizing child may have left its group behind after the leader was reaped.
  if (new_session_) kill(-pid_, SIGKILL);
  if (reaped_) return;
  kill(pid_, SIGKILL);
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

bool Subprocess::Running() {
  if (reaped_) return false;
  int status;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return true;
  reaped_ = true;
  status_ = r == pid_ ? status : 0;  // ECHILD: someone else reaped it; nothing to report.
  return false;
}

std::optional<int> Subprocess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return exit_code();
}

std::optional<int> Subprocess::exit_code() const {
  if (!reaped_) return std::nullopt;
  return DecodeWaitStatus(status_);
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

void Subprocess::SignalGroup(int sig) {
  if (pid_ > 0) kill(-pid_, sig);
}

std::string Subprocess::Stdout() const { return stdout_.Read(); }

std::string Subprocess::Stderr() const { return stderr_.Read(); }

std::string Subprocess::Output::Read() const {
  if (!owned.valid()) return ReadFile(path);
  std::string content;
  char buf[65536];
  off_t offset = 0;
  while (true) {
    ssize_t n = pread(owned.get(), buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    content.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return content;
}

bool RunCommand(const std::vector<std::string>& argv, const SubprocessOptions& opts,
                std::chrono::milliseconds timeout, std::string* output, std::string* error) {
  std::unique_ptr<Subprocess> proc = Subprocess::Start(argv, opts, error);
  if (!proc) return false;
  std::optional<int> code = proc->WaitExit(timeout);
  if (output != nullptr) *output = proc->Stdout() + proc->Stderr();
  if (!code) {
    *error = argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms";
    return false;
  }
  if (*code != 0) {
    *error = argv[0] + " exited with " + std::to_string(*code) + ": " + proc->Stderr();
    return false;
  }
  return true;
}

int DecodeWaitStatus(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;  // Vanished between the two checks.
  // The command name may hold spaces and parentheses; the state follows the last ')'.
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  char state = stat[paren + 2];
  return state == 'Z' || state == 'X';
}

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace tether::testing
