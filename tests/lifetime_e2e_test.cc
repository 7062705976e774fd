// End to end: every way a tunnel ends. The real tether binary runs against a real sshd; for
// each ending the test asserts the exit code, the log line that names the reason, that no
// tether process is left, that the forward's port can be bound again at once, and that
// Unix socket files are gone. Durations are short (seconds) so the whole file stays fast.

#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kExitOk = 0;
constexpr int kExitCannotListen = 73;
constexpr int kExitConnectionLost = 74;
constexpr int kExitNotTrusted = 77;

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Sends `text` and expects the same text back (the echo service behind the tunnel).
bool EchoOnce(int fd, const std::string& text) {
  std::string back(text.size(), '\0');
  return SetIoTimeout(fd, kIoTimeout) && WriteAll(fd, text) &&
         ReadExactly(fd, back.data(), back.size()) && back == text;
}

bool EchoesThroughTcp(uint16_t port) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  return fd && EchoOnce(fd.get(), "tcp round trip");
}

bool EchoesThroughUnix(const std::string& path) {
  std::string error;
  UniqueFd fd = ConnectUnix(path, &error);
  return fd && EchoOnce(fd.get(), "unix round trip");
}

/// True when the peer closed `fd` (EOF or reset) within a second.
bool PeerClosed(int fd) {
  if (!WaitReadable(fd, seconds(1))) return false;
  char byte = 0;
  return recv(fd, &byte, 1, 0) <= 0;
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

/// The pid a shell wrote to `path` ("$$" or "$!"), once the line is complete; 0 on timeout.
pid_t ReadPidFile(const std::string& path) {
  WaitUntil([&] { return Contains(ReadFile(path), "\n"); }, kReadyTimeout);
  return static_cast<pid_t>(std::atoi(ReadFile(path).c_str()));
}

std::vector<std::string> CommandLineOf(pid_t pid) {
  std::string raw = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> args;
  std::istringstream in(raw);
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  return args;
}

bool IsTether(pid_t pid) {
  std::vector<std::string> args = CommandLineOf(pid);
  return !args.empty() && args[0] == TETHER_BINARY;
}

/// The pid in the first "tether[PID]:" prefix of an -E log file, or 0.
pid_t LoggedPid(const std::string& log) {
  const size_t at = log.find("tether[");
  return at == std::string::npos ? 0 : static_cast<pid_t>(std::atoi(log.c_str() + at + 7));
}

/// Local IPv4 ports of the "forwarding 127.0.0.1:PORT" lines of an -E log file.
std::vector<uint16_t> LoggedPorts(const std::string& log) {
  const std::string marker = "forwarding 127.0.0.1:";
  std::vector<uint16_t> ports;
  for (size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
    ports.push_back(static_cast<uint16_t>(std::atoi(log.c_str() + at + marker.size())));
  }
  return ports;
}

/// Makes the test process a child subreaper for its lifetime: a tether whose parent (a
/// shell, `script`, the -f foreground) dies is re-parented to the test, which can then read
/// its exit status.
class ScopedSubreaper {
 public:
  ScopedSubreaper() { ok_ = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0; }
  ~ScopedSubreaper() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
  ScopedSubreaper(const ScopedSubreaper&) = delete;
  ScopedSubreaper& operator=(const ScopedSubreaper&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

/// A process the test did not start itself: a tether started by a shell, `script` or -f,
/// or such a shell. Once its parent is gone it is the test's child (ScopedSubreaper), and
/// WaitExit reaps it. A tether still running when this is destroyed is SIGKILLed.
class AdoptedProcess {
 public:
  explicit AdoptedProcess(pid_t pid) : pid_(pid) {}
  ~AdoptedProcess() {
    if (exit_code_ || pid_ <= 0) return;
    if (IsTether(pid_)) kill(pid_, SIGKILL);
    WaitUntil([&] { return ProcessGone(pid_); }, kGoneWithin);
    TryReap();
  }
  AdoptedProcess(const AdoptedProcess&) = delete;
  AdoptedProcess& operator=(const AdoptedProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// The exit code (128+N for signal N) once it has exited and been re-parented to the
  /// test; nullopt if that did not happen within `timeout`.
  std::optional<int> WaitExit(milliseconds timeout) {
    WaitUntil([&] { return TryReap(); }, timeout);
    return exit_code_;
  }

 private:
  bool TryReap() {
    if (exit_code_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_code_ = DecodeWaitStatus(status);
    return true;
  }

  pid_t pid_;
  std::optional<int> exit_code_;
};

class LifetimeE2E : public E2EFixture {
 protected:
  /// Runs `sh -c SCRIPT TETHER_BINARY TETHER_ARGS...` in the client environment, so that
  /// the script can start tether as "$0" "$@".
  std::unique_ptr<Subprocess> StartShell(const std::string& script,
                                         const std::vector<std::string>& tether_args) {
    std::vector<std::string> argv = {"/bin/sh", "-c", script, TETHER_BINARY};
    std::vector<std::string> args = TetherArgs(*sshd_, tether_args);
    argv.insert(argv.end(), args.begin(), args.end());
    std::string error;
    auto shell = Subprocess::Start(argv, sshd_->ClientProcessOptions(), &error);
    EXPECT_TRUE(shell) << error;
    return shell;
  }

  using E2EFixture::ToEcho;
  /// A forward from 127.0.0.1:`listen_port` to the echo service.
  std::string ToEcho(uint16_t listen_port) const { return ToEcho(std::to_string(listen_port)); }

  /// Waits until `path` shows up in a "forwarding PATH -> " line of the direct child.
  bool WaitForUnixForwarding(Subprocess& tether, const std::string& path) {
    const std::string line = std::string(kForwardingLogPrefix) + path + " -> ";
    WaitUntil([&] { return Contains(tether.Stderr(), line) || !tether.Running(); }, kReadyTimeout);
    return Contains(tether.Stderr(), line) && tether.Running();
  }

  /// SIGTERM ends a tether that forwards from the Unix socket `path` at once with exit 0,
  /// and the socket file goes with it; then ExpectNothingLeft.
  void ExpectSigtermStopsAndRemoves(Subprocess* tether, const std::string& path) {
    tether->Signal(SIGTERM);
    EXPECT_EQ(tether->WaitExit(kGoneWithin), kExitOk);
    EXPECT_TRUE(Contains(tether->Stderr(), "stopped by SIGTERM")) << tether->Stderr();
    EXPECT_FALSE(PathExists(path)) << "socket file left behind";
    ExpectNothingLeft({});
  }

  /// The end of every test: no tether of this test runs (within `within`), and every port
  /// can be bound again at once.
  void ExpectNothingLeft(const std::vector<uint16_t>& ports, milliseconds within = kGoneWithin) {
    ExpectTunnelGone(*sshd_, ports, {}, within);
  }
};

/// For tethers started through an intermediate process: the test is a child subreaper, so
/// it can collect their exit status after the intermediate one is gone.
class LifetimeE2EIndirect : public LifetimeE2E {
 protected:
  void SetUp() override {
    ASSERT_TRUE(subreaper_.ok()) << "prctl(PR_SET_CHILD_SUBREAPER): " << strerror(errno);
    LifetimeE2E::SetUp();
  }

  ScopedSubreaper subreaper_;
};

// --- stop signals ------------------------------------------------------------------------

std::string SignalTestName(const ::testing::TestParamInfo<int>& instance) {
  return std::string("SIG") + sigabbrev_np(instance.param);
}

class LifetimeE2EStopSignal : public LifetimeE2E, public ::testing::WithParamInterface<int> {};

TEST_P(LifetimeE2EStopSignal, ExitsZeroClosingClientsAndPort) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", ToEcho(0)}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  std::string error;
  UniqueFd client = ConnectTcp("127.0.0.1", ports[0], &error);
  ASSERT_TRUE(client) << error;
  ASSERT_TRUE(EchoOnce(client.get(), "open while the signal comes"));

  tether->Signal(GetParam());
  EXPECT_EQ(tether->WaitExit(kGoneWithin), kExitOk);
  const std::string reason = std::string("stopped by SIG") + sigabbrev_np(GetParam());
  EXPECT_TRUE(Contains(tether->Stderr(), reason)) << "no '" << reason << "' line";
  EXPECT_TRUE(PeerClosed(client.get())) << "the open client was not closed";
  ExpectNothingLeft(ports);
}

INSTANTIATE_TEST_SUITE_P(LifetimeE2E, LifetimeE2EStopSignal,
                         ::testing::Values(SIGINT, SIGTERM, SIGHUP), SignalTestName);

TEST_F(LifetimeE2E, RepeatedCtrlCDuringShutdownStillExitsZero) {
  // A second stop signal may come while tether is already shutting down (Ctrl-C pressed
  // twice; a hang-up followed by the parent-death signal when the shell dies). It must not
  // turn a clean stop into death by that signal.
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", ToEcho(0)}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  std::string error;
  UniqueFd client = ConnectTcp("127.0.0.1", ports[0], &error);
  ASSERT_TRUE(client && EchoOnce(client.get(), "open")) << error;

  const auto first = Clock::now();
  while (tether->Running() && Clock::now() - first < kGoneWithin) {
    tether->Signal(SIGINT);
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(tether->WaitExit(kGoneWithin), kExitOk)
      << "128+" << SIGINT << " means a SIGINT that came during shutdown killed tether";
  EXPECT_TRUE(Contains(tether->Stderr(), "stopped by SIGINT")) << tether->Stderr();
  ExpectNothingLeft(ports);
}

// --- limits ------------------------------------------------------------------------------

TEST_F(LifetimeE2E, TtlEndsTheTunnelWithExitZero) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"--ttl", "2s", "-L", ToEcho(0)}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  const auto ready = Clock::now();
  EXPECT_TRUE(EchoesThroughTcp(ports[0]));

  EXPECT_EQ(tether->WaitExit(seconds(4)), kExitOk) << "still running 4 s after --ttl 2s";
  EXPECT_GT(SecondsSince(ready), 1.0) << "stopped long before the TTL";
  EXPECT_TRUE(Contains(tether->Stderr(), "TTL of 2s reached")) << tether->Stderr();
  ExpectNothingLeft(ports);
}

TEST_F(LifetimeE2E, IdleTimeoutWaitsForTheLastClientToClose) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"--idle-timeout", "2s", "-L", ToEcho(0)}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  std::string error;
  UniqueFd client = ConnectTcp("127.0.0.1", ports[0], &error);
  ASSERT_TRUE(client) << error;
  ASSERT_TRUE(EchoOnce(client.get(), "keeps the tunnel busy"));

  std::this_thread::sleep_for(seconds(3));
  ASSERT_TRUE(tether->Running()) << "idle timeout fired while a client was connected";
  EXPECT_TRUE(EchoOnce(client.get(), "still served"));
  client.Reset();
  const auto closed = Clock::now();

  EXPECT_EQ(tether->WaitExit(seconds(5)), kExitOk);
  EXPECT_GT(SecondsSince(closed), 1.5) << "did not wait the idle timeout after the close";
  EXPECT_LT(SecondsSince(closed), 4.0);
  EXPECT_TRUE(Contains(tether->Stderr(), "idle for 2s")) << tether->Stderr();
  ExpectNothingLeft(ports);
}

// --- parent and followed process ---------------------------------------------------------

TEST_F(LifetimeE2EIndirect, ParentKilledWithSigkillStopsTether) {
  const std::string pid_file = scratch_.Join("tether.pid");
  auto shell = StartShell("\"$0\" \"$@\" & echo $! > " + ShellQuote(pid_file) + "; wait",
                          {"-E", LogPath(), "-L", ToEcho(0)});
  ASSERT_TRUE(shell);
  AdoptedProcess tether(ReadPidFile(pid_file));
  ASSERT_GT(tether.pid(), 0);
  ASSERT_TRUE(WaitUntil([&] { return !LoggedPorts(ReadFile(LogPath())).empty(); }, kReadyTimeout));
  const uint16_t port = LoggedPorts(ReadFile(LogPath()))[0];
  ASSERT_TRUE(EchoesThroughTcp(port));

  shell->Signal(SIGKILL);
  EXPECT_EQ(shell->WaitExit(seconds(2)), 128 + SIGKILL);
  EXPECT_EQ(tether.WaitExit(kGoneWithin), kExitOk) << "tether outlived its parent";
  EXPECT_TRUE(Contains(ReadFile(LogPath()), "parent process exited")) << ReadFile(LogPath());
  ExpectNothingLeft({port});
}

TEST_F(LifetimeE2EIndirect, ParentKilledFreesTheServerPortOfARemoteForward) {
  const std::string pid_file = scratch_.Join("tether.pid");
  auto shell =
      StartShell("\"$0\" \"$@\" & echo $! > " + ShellQuote(pid_file) + "; wait",
                 {"-E", LogPath(), "-R", "127.0.0.1:0:127.0.0.1:" + std::to_string(echo_.port())});
  ASSERT_TRUE(shell);
  AdoptedProcess tether(ReadPidFile(pid_file));
  ASSERT_GT(tether.pid(), 0);
  ASSERT_TRUE(
      WaitUntil([&] { return !RemoteForwardPorts(ReadFile(LogPath())).empty(); }, kReadyTimeout))
      << ReadFile(LogPath());
  const uint16_t server_port = RemoteForwardPorts(ReadFile(LogPath()))[0];
  ASSERT_TRUE(EchoesThroughTcp(server_port));

  shell->Signal(SIGKILL);
  EXPECT_EQ(shell->WaitExit(seconds(2)), 128 + SIGKILL);
  EXPECT_EQ(tether.WaitExit(kGoneWithin), kExitOk) << "tether outlived its parent";
  // The server's port, on this machine: free as soon as tether is gone.
  ExpectNothingLeft({server_port});
}

TEST_F(LifetimeE2E, TieToFollowsAnotherProcess) {
  std::string error;
  auto followed = Subprocess::Start({"sleep", "30"}, {}, &error);
  ASSERT_TRUE(followed) << error;
  const std::string pid = std::to_string(followed->pid());
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"--tie-to", pid, "-L", ToEcho(0)}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_TRUE(EchoesThroughTcp(ports[0]));
  std::this_thread::sleep_for(milliseconds(300));
  ASSERT_TRUE(tether->Running()) << "stopped while the followed process lives";

  followed->Signal(SIGKILL);
  ASSERT_TRUE(followed->WaitExit(seconds(2)));
  EXPECT_EQ(tether->WaitExit(kGoneWithin), kExitOk);
  EXPECT_TRUE(Contains(tether->Stderr(), "followed process (pid " + pid + ") exited"))
      << tether->Stderr();
  ExpectNothingLeft(ports);
}

// --- -f ----------------------------------------------------------------------------------

TEST_F(LifetimeE2EIndirect, ForkAfterReadyBackgroundsThenDiesWithItsStarter) {
  // The starter is a script: tether -f returns, the script prints the status and goes on
  // (exec keeps its pid, the one the background tether follows).
  auto script = StartShell("\"$0\" \"$@\"; echo \"rc=$?\"; exec sleep 30",
                           {"-f", "-E", LogPath(), "-L", ToEcho(0)});
  ASSERT_TRUE(script);
  ASSERT_TRUE(WaitUntil([&] { return Contains(script->Stdout(), "rc="); }, kReadyTimeout));
  const std::string out = script->Stdout();
  ASSERT_EQ(out.rfind("127.0.0.1:", 0), 0u) << out << script->Stderr();
  const uint16_t port = static_cast<uint16_t>(std::atoi(out.c_str() + strlen("127.0.0.1:")));
  ASSERT_EQ(out, "127.0.0.1:" + std::to_string(port) + "\nrc=0\n") << script->Stderr();
  EXPECT_TRUE(PortAccepts(port)) << "-f returned before the forward listened";
  EXPECT_TRUE(EchoesThroughTcp(port));

  AdoptedProcess tether(LoggedPid(ReadFile(LogPath())));
  ASSERT_TRUE(IsTether(tether.pid())) << ReadFile(LogPath());
  EXPECT_EQ(LoggedPorts(ReadFile(LogPath())), std::vector<uint16_t>{port});
  for (int fd = 0; fd <= 2; ++fd) {
    char target[64] = {};
    const std::string link = "/proc/" + std::to_string(tether.pid()) + "/fd/" + std::to_string(fd);
    EXPECT_GT(readlink(link.c_str(), target, sizeof(target) - 1), 0);
    EXPECT_STREQ(target, "/dev/null") << "fd " << fd << " not detached";
  }

  script->Signal(SIGKILL);
  EXPECT_EQ(tether.WaitExit(kGoneWithin), kExitOk) << "background outlived its starter";
  const std::string reason =
      "the process that started tether -f (pid " + std::to_string(script->pid()) + ") exited";
  EXPECT_TRUE(Contains(ReadFile(LogPath()), reason)) << ReadFile(LogPath());
  ExpectNothingLeft({port});
}

TEST_F(LifetimeE2E, ForkAfterReadyReturnsUnknownHostKeyFailure) {
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), ""));
  Subprocess* tether = Launch({"-f", "-L", ToEcho(0)});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), kExitNotTrusted);
  const std::string err = tether->Stderr();
  EXPECT_TRUE(Contains(err, "host key verification failed")) << err;
  EXPECT_TRUE(Contains(err, "[127.0.0.1]:" + std::to_string(sshd_->port()))) << err;
  EXPECT_EQ(tether->Stdout(), "");
  ExpectNothingLeft({});
}

TEST_F(LifetimeE2E, ForkAfterReadyReturnsPortInUseFailure) {
  std::string error;
  UniqueFd holder = ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(holder) << error;
  const uint16_t busy = LocalPort(holder.get());
  const uint16_t other = FreeTcpPort();
  Subprocess* tether = Launch({"-f", "-L", ToEcho(other), "-L", ToEcho(busy)});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), kExitCannotListen);
  const std::string err = tether->Stderr();
  EXPECT_TRUE(Contains(err, "in use by pid " + std::to_string(getpid()))) << err;
  EXPECT_EQ(tether->Stdout(), "");
  ExpectNothingLeft({other});
}

// --- closed terminal ---------------------------------------------------------------------

/// How the terminal goes away, and how tether sits in it.
struct TerminalCase {
  const char* name;
  /// tether is the terminal session's leader (`exec`), else a job of the shell leading it.
  bool tether_leads_session;
  /// The terminal emulator (`script`) dies, else only the shell leading the session does.
  bool emulator_dies;
  int signal_number;
};

void PrintTo(const TerminalCase& instance, std::ostream* out) { *out << instance.name; }

class LifetimeE2ETerminal : public LifetimeE2EIndirect,
                            public ::testing::WithParamInterface<TerminalCase> {
 protected:
  /// The shell command `script` runs in the terminal: it records the shell's pid in
  /// shell.pid and tether's in tether.pid, then runs tether as asked.
  std::string TerminalCommand() const {
    std::string tether = ShellQuote(TETHER_BINARY);
    for (const std::string& arg : TetherArgs(*sshd_, {"-E", LogPath(), "-L", ToEcho(0)})) {
      tether += " " + ShellQuote(arg);
    }
    const std::string shell_pid = "echo $$ > " + ShellQuote(scratch_.Join("shell.pid")) + "; ";
    if (GetParam().tether_leads_session) {
      return shell_pid + "echo $$ > " + ShellQuote(scratch_.Join("tether.pid")) + "; exec " +
             tether;
    }
    return shell_pid + tether + " & echo $! > " + ShellQuote(scratch_.Join("tether.pid")) +
           "; wait";
  }

  /// `script` (util-linux) in a session of its own: the terminal emulator.
  std::unique_ptr<Subprocess> StartTerminal() const {
    SubprocessOptions opts = sshd_->ClientProcessOptions();
    opts.new_session = true;
    opts.env_set["SHELL"] = "/bin/sh";
    std::string error;
    auto terminal = Subprocess::Start({"/usr/bin/script", "-qfc", TerminalCommand(), "/dev/null"},
                                      opts, &error);
    EXPECT_TRUE(terminal) << error;
    return terminal;
  }
};

TEST_P(LifetimeE2ETerminal, ClosedTerminalStopsTether) {
  // util-linux script blocks SIGHUP (it reads its signals from a signalfd and ignores that
  // one), so a hang-up is sent to the shell leading the terminal session, as the kernel does.
  if (access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "util-linux script is missing";
  auto terminal = StartTerminal();
  ASSERT_TRUE(terminal);
  AdoptedProcess shell(ReadPidFile(scratch_.Join("shell.pid")));
  AdoptedProcess tether(ReadPidFile(scratch_.Join("tether.pid")));
  ASSERT_TRUE(WaitUntil([&] { return !LoggedPorts(ReadFile(LogPath())).empty(); }, kReadyTimeout))
      << terminal->Stdout();
  const uint16_t port = LoggedPorts(ReadFile(LogPath()))[0];
  ASSERT_TRUE(EchoesThroughTcp(port));

  if (GetParam().emulator_dies) {
    terminal->Signal(GetParam().signal_number);
  } else {
    ASSERT_GT(shell.pid(), 0);
    kill(shell.pid(), GetParam().signal_number);
  }
  EXPECT_EQ(tether.WaitExit(kGoneWithin), kExitOk) << "tether outlived its terminal";
  const std::string log = ReadFile(LogPath());
  EXPECT_TRUE(Contains(log, "stopped by SIGHUP") || Contains(log, "parent process exited")) << log;
  ExpectNothingLeft({port});
}

INSTANTIATE_TEST_SUITE_P(
    LifetimeE2E, LifetimeE2ETerminal,
    ::testing::Values(TerminalCase{"EmulatorKilled_TetherLeadsSession", true, true, SIGKILL},
                      TerminalCase{"EmulatorKilled_TetherIsShellJob", false, true, SIGKILL},
                      TerminalCase{"ShellHungUp_TetherIsShellJob", false, false, SIGHUP}),
    [](const ::testing::TestParamInfo<TerminalCase>& instance) { return instance.param.name; });

// --- server gone -------------------------------------------------------------------------

TEST_F(LifetimeE2E, KilledServerExits74AtOnce) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", ToEcho(0)}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  ASSERT_TRUE(EchoesThroughTcp(ports[0]));

  const auto killed = Clock::now();
  ASSERT_GT(sshd_->SignalConnections(SIGKILL), 0);
  EXPECT_EQ(tether->WaitExit(seconds(3)), kExitConnectionLost);
  EXPECT_LT(SecondsSince(killed), 3.0);
  EXPECT_TRUE(Contains(tether->Stderr(), "lost")) << tether->Stderr();
  ExpectNothingLeft(ports);
}

TEST_F(LifetimeE2E, BlackholedServerExits74AfterUnansweredKeepalives) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports =
      LaunchReady({"--keepalive", "1s", "--keepalive-count", "2", "-L", ToEcho(0)}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  ASSERT_TRUE(EchoesThroughTcp(ports[0]));

  const auto stopped = Clock::now();
  ASSERT_GT(sshd_->SignalConnections(SIGSTOP), 0);
  // 1 s x 2 keepalives + 2 s to shut down.
  std::optional<int> code = tether->WaitExit(seconds(4));
  const double took = SecondsSince(stopped);
  sshd_->SignalConnections(SIGCONT);
  EXPECT_EQ(code, kExitConnectionLost) << "took " << took << " s";
  EXPECT_TRUE(Contains(tether->Stderr(), "not responding")) << tether->Stderr();
  ExpectNothingLeft(ports, seconds(4));
}

// --- -- COMMAND --------------------------------------------------------------------------

TEST_F(LifetimeE2E, CommandStatusBecomesTetherStatus) {
  if (access("/bin/bash", X_OK) != 0) GTEST_SKIP() << "needs bash for /dev/tcp";
  const std::string port_file = scratch_.Join("port");
  const std::string echoed_file = scratch_.Join("echoed");
  // The command itself uses the tunnel: it is up before the command starts.
  const std::string command = "echo \"$TETHER_PORT\" > " + ShellQuote(port_file) +
                              "; exec 3<>/dev/tcp/127.0.0.1/$TETHER_PORT || exit 99"
                              "; printf ping >&3; head -c 4 <&3 > " +
                              ShellQuote(echoed_file) + "; exit 7";
  Subprocess* tether = Launch({"-L", ToEcho(0), "--", "/bin/bash", "-c", command});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), 7);
  std::vector<uint16_t> ports = ForwardedIpv4Ports(*tether);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ReadFile(port_file), std::to_string(ports[0]) + "\n");
  EXPECT_EQ(ReadFile(echoed_file), "ping") << "the command could not use the tunnel";
  EXPECT_TRUE(Contains(tether->Stderr(), "exited with status 7")) << tether->Stderr();
  ExpectNothingLeft(ports);
}

TEST_F(LifetimeE2E, CommandKilledBySignalGives128PlusN) {
  Subprocess* tether = Launch({"-L", ToEcho(0), "--", "/bin/sh", "-c", "kill -KILL $$"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), 128 + SIGKILL);
  EXPECT_TRUE(Contains(tether->Stderr(), "exited with status 137")) << tether->Stderr();
  ExpectNothingLeft(ForwardedIpv4Ports(*tether));
}

TEST_F(LifetimeE2E, StopSignalIsForwardedToTheCommand) {
  const std::string pid_file = scratch_.Join("command.pid");
  const std::string command =
      "trap 'exit 42' TERM; echo $$ > " + ShellQuote(pid_file) + "; while :; do sleep 0.1; done";
  Subprocess* tether = Launch({"-L", ToEcho(0), "--", "/bin/sh", "-c", command});
  ASSERT_TRUE(tether);
  const pid_t command_pid = ReadPidFile(pid_file);
  ASSERT_GT(command_pid, 0) << tether->Stderr();

  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(kGoneWithin), 42) << "SIGTERM not forwarded to the command";
  EXPECT_TRUE(Contains(tether->Stderr(), "exited with status 42")) << tether->Stderr();
  EXPECT_TRUE(ProcessGone(command_pid));
  ExpectNothingLeft(ForwardedIpv4Ports(*tether));
}

TEST_F(LifetimeE2E, TunnelLossEndsTheCommandAndExits74) {
  const std::string pid_file = scratch_.Join("command.pid");
  Subprocess* tether = Launch({"-L", ToEcho(0), "--", "/bin/sh", "-c",
                               "echo $$ > " + ShellQuote(pid_file) + "; exec sleep 30"});
  ASSERT_TRUE(tether);
  const pid_t command_pid = ReadPidFile(pid_file);
  ASSERT_GT(command_pid, 0) << tether->Stderr();
  std::vector<uint16_t> ports = ForwardedIpv4Ports(*tether);
  ASSERT_EQ(ports.size(), 1u);

  ASSERT_GT(sshd_->SignalConnections(SIGKILL), 0);
  EXPECT_EQ(tether->WaitExit(seconds(3)), kExitConnectionLost);
  EXPECT_TRUE(Contains(tether->Stderr(), "lost")) << tether->Stderr();
  EXPECT_TRUE(ProcessGone(command_pid)) << "the command (sleep) was left running";
  ExpectNothingLeft(ports);
}

TEST_F(LifetimeE2E, AutoPortsReachTheCommandAsDistinctPorts) {
  const std::string ports_file = scratch_.Join("ports");
  Subprocess* tether = Launch({"-L", ToEcho(0), "-L", ToEcho(0), "--", "/bin/sh", "-c",
                               "echo \"$TETHER_PORTS\" > " + ShellQuote(ports_file)});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), kExitOk);
  std::istringstream in(ReadFile(ports_file));
  std::vector<uint16_t> given;
  for (unsigned port = 0; in >> port;) given.push_back(static_cast<uint16_t>(port));
  ASSERT_EQ(given.size(), 2u) << ReadFile(ports_file);
  EXPECT_NE(given[0], 0);
  EXPECT_NE(given[1], 0);
  EXPECT_NE(given[0], given[1]);
  EXPECT_EQ(given, ForwardedIpv4Ports(*tether));
  ExpectNothingLeft(given);
}

// --- Unix socket forwards ----------------------------------------------------------------

TEST_F(LifetimeE2E, UnixSocketIsPrivateAndRemovedOnStop) {
  const std::string path = scratch_.Join("s.sock");
  Subprocess* tether = Launch({"-L", ToEcho(path)});
  ASSERT_TRUE(tether);
  ASSERT_TRUE(WaitForUnixForwarding(*tether, path));
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(EchoesThroughUnix(path));

  ExpectSigtermStopsAndRemoves(tether, path);
}

TEST_F(LifetimeE2E, StaleUnixSocketIsReplaced) {
  const std::string path = scratch_.Join("s.sock");
  ASSERT_TRUE(ListenUnix(path));  // closed at once: the file stays, nobody accepts
  ASSERT_TRUE(PathExists(path));
  Subprocess* tether = Launch({"-L", ToEcho(path)});
  ASSERT_TRUE(tether);
  ASSERT_TRUE(WaitForUnixForwarding(*tether, path));
  EXPECT_TRUE(EchoesThroughUnix(path));

  ExpectSigtermStopsAndRemoves(tether, path);
}

TEST_F(LifetimeE2E, LiveUnixSocketIsNotTaken) {
  const std::string path = scratch_.Join("s.sock");
  UniqueFd live = ListenUnix(path);
  ASSERT_TRUE(live);
  struct stat before {};
  ASSERT_EQ(lstat(path.c_str(), &before), 0);
  Subprocess* tether = Launch({"-L", ToEcho(path)});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), kExitCannotListen);
  const std::string err = tether->Stderr();
  EXPECT_TRUE(Contains(err, path)) << err;
  EXPECT_TRUE(Contains(err, "in use by pid " + std::to_string(getpid()))) << err;
  struct stat after {};
  ASSERT_EQ(lstat(path.c_str(), &after), 0) << "the live socket file was removed";
  EXPECT_EQ(after.st_ino, before.st_ino);
  std::string error;
  EXPECT_TRUE(ConnectUnix(path, &error)) << "the live socket no longer accepts: " << error;
  ExpectNothingLeft({});
}

// --- busy port ---------------------------------------------------------------------------

TEST_F(LifetimeE2E, BusyPortNamesTheHoldingPid) {
  std::string error;
  UniqueFd holder = ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(holder) << error;
  const uint16_t busy = LocalPort(holder.get());
  Subprocess* tether = Launch({"-L", ToEcho(busy)});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), kExitCannotListen);
  const std::string err = tether->Stderr();
  EXPECT_TRUE(Contains(err, "127.0.0.1:" + std::to_string(busy))) << err;
  EXPECT_TRUE(Contains(err, "in use by pid " + std::to_string(getpid()))) << err;
  EXPECT_TRUE(PortAccepts(busy)) << "the holder's listener was disturbed";
  ExpectNothingLeft({});
}

}  // namespace
}  // namespace tether::testing
