// End to end: hostile input, each with its exact expected outcome. Bad command lines and
// configuration files must end tether with the documented exit code and a clear one-line
// message, before any connection is made; a hostile server must end it with a clear
// message and no crash; a hostile target or client must cost that one client only, with
// memory staying bounded. Every case also checks that tether did not die of a signal, that
// no process is left and that its port is free again.

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/fault_proxy.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/terminal.h"
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kUsage = 64;
constexpr int kConfig = 65;
constexpr int kUnreachable = 69;
constexpr int kCannotCreate = 73;  // sysexits' EX_CANTCREAT; tether also uses it for listeners
constexpr int kConnectionLost = 74;
constexpr int kNotTrusted = 77;

constexpr size_t kMiB = size_t{1} << 20;
// sshd's -e log line for each TCP connection it accepts.
constexpr char kSshdConnectionLine[] = "Connection from 127.0.0.1";
// A message is one or a few lines a person reads; a 1 MiB input must not be echoed back.
constexpr size_t kMaxStderrBytes = 4096;
// Memory a tunnel may use while a client refuses to read 200 MiB (it holds a 256 KiB
// buffer and one 2 MiB channel window per connection): what it may grow by, and in all
// (the sanitizers' shadow memory alone takes most of the latter, so there only the growth).
constexpr int64_t kMaxRssGrowthKiB = int64_t{16} * 1024;
constexpr int64_t kMaxRssKiB = int64_t{64} * 1024;

void ExpectRssBounded(int64_t before, int64_t now) {
  EXPECT_LT(now - before, kMaxRssGrowthKiB);
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(now, kMaxRssKiB);
#endif
}

std::string LongName(size_t length) { return std::string(length, 'a'); }

/// A string literal with every byte, NULs included.
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

/// Sets SO_LINGER 0, so that closing `fd` sends a TCP RST instead of a FIN.
void ArmReset(int fd) {
  linger hard{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
}

/// True when the peer ended `fd` (EOF or reset) within `timeout`.
bool PeerEnds(int fd, milliseconds timeout) {
  if (!WaitReadable(fd, timeout)) return false;
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
    if (n < 0 && !WaitReadable(fd, timeout)) return false;
  }
}

bool EchoesThrough(uint16_t port, const std::string& text) {
  UniqueFd fd = ConnectLocal(port, kIoTimeout);
  return fd && EchoOnce(fd.get(), text);
}

/// A TCP server on 127.0.0.1 that runs `handler` on its own thread for each connection,
/// then closes it (with a RST if the handler armed one). Stopping shuts every open socket
/// down, which ends blocked reads and writes, and joins all threads.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int fd)> handler) : handler_(std::move(handler)) {
    std::string error;
    listen_fd_ = ListenTcp("127.0.0.1", 0, &error);
    EXPECT_TRUE(listen_fd_.valid()) << error;
    if (listen_fd_) acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~ScriptedServer() { Stop(); }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  uint16_t port() const { return LocalPort(listen_fd_.get()); }
  int accepted() const { return accepted_.load(); }

  void Stop() {
    if (stopped_.exchange(true)) return;
    if (listen_fd_) shutdown(listen_fd_.get(), SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    std::list<std::unique_ptr<Session>> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& session : sessions_) {
        if (session->fd) shutdown(session->fd.get(), SHUT_RDWR);
      }
      all.swap(sessions_);
    }
    for (auto& session : all) session->thread.join();
  }

 private:
  struct Session {
    UniqueFd fd;  ///< Guarded by mu_: closed by its own thread, under the lock, when done.
    std::thread thread;
  };

  void AcceptLoop() {
    for (;;) {
      const int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 && errno == EINTR) continue;
      if (fd < 0) return;  // Shut down by Stop().
      ++accepted_;
      std::lock_guard<std::mutex> lock(mu_);
      auto session = std::make_unique<Session>();
      session->fd.Reset(fd);
      Session* raw = session.get();
      session->thread = std::thread([this, raw, fd] {
        handler_(fd);
        std::lock_guard<std::mutex> done(mu_);
        raw->fd.Reset();
      });
      sessions_.push_back(std::move(session));
    }
  }

  const std::function<void(int fd)> handler_;
  UniqueFd listen_fd_;
  std::thread acceptor_;
  std::atomic<bool> stopped_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::list<std::unique_ptr<Session>> sessions_;  ///< Guarded by mu_.
};

// ---------------------------------------------------------------------------------------
// Bad input that must end tether before (or while) it connects.

/// What a case may refer to: the server, the echo service, a directory for its files and a
/// free port for its -L.
struct CaseEnv {
  const SshdServer& sshd;
  uint16_t echo_port;
  const TempDir& dir;
  uint16_t listen_port;

  /// A forward that would be fine: listen_port to the echo service.
  std::string GoodForward() const {
    return std::to_string(listen_port) + ":127.0.0.1:" + std::to_string(echo_port);
  }
  /// `args` framed as StartTether does: -p (unless given), -i before, the destination after.
  std::vector<std::string> AtServer(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-i", sshd.user_key_path()});
    if (std::find(args.begin(), args.end(), "-p") == args.end()) {
      args.insert(args.begin(), {"-p", std::to_string(sshd.port())});
    }
    args.push_back(sshd.user() + "@127.0.0.1");
    return args;
  }
  /// Makes a FIFO dir/name (mode 0600) that nobody writes to, and returns the path.
  std::string Fifo(const std::string& name) const {
    const std::string path = dir.Join(name);
    EXPECT_EQ(mkfifo(path.c_str(), 0600), 0) << path;
    return path;
  }
  /// Writes `content` to dir/name (mode 0600) and returns the path.
  std::string File(const std::string& name, const std::string& content) const {
    const std::string path = dir.Join(name);
    EXPECT_TRUE(WriteFile(path, content)) << path;
    chmod(path.c_str(), 0600);
    return path;
  }
};

/// One row of the table: the command line, the exit code, a fragment of the message.
struct BadInput {
  std::string name;
  std::function<std::vector<std::string>(const CaseEnv&)> args;
  int exit_code;
  std::function<std::string(const CaseEnv&)> message;
  bool skip_as_root = false;  ///< root reads files whatever their mode
};

// gtest prints a parameter by name rather than as raw bytes.
void PrintTo(const BadInput& input, std::ostream* out) { *out << input.name; }

std::function<std::string(const CaseEnv&)> Text(std::string text) {
  return [text](const CaseEnv&) { return text; };
}

/// A usage error: the -L, option or destination in `words`, at the fixture's server.
BadInput Usage(std::string name, std::vector<std::string> words, std::string message) {
  return {std::move(name),
          [words](const CaseEnv& env) {
            std::vector<std::string> args = words;
            if (std::find(args.begin(), args.end(), "-L") == args.end()) {
              args.insert(args.end(), {"-L", env.GoodForward()});
            }
            return env.AtServer(args);
          },
          kUsage, Text(std::move(message))};
}

/// A bad -F file: `content` (where %SELF% stands for the file's path) goes to NAME.conf;
/// the message names file:line.
BadInput Config(std::string name, std::string content, int line, std::string message) {
  auto file_name = name + ".conf";
  return {name,
          [file_name, content](const CaseEnv& env) {
            std::string text = content;
            const size_t self = text.find("%SELF%");  // The file's own path, known only here.
            if (self != std::string::npos) text.replace(self, 6, env.dir.Join(file_name));
            return env.AtServer({"-F", env.File(file_name, text), "-L", env.GoodForward()});
          },
          kConfig,
          [file_name, line, message](const CaseEnv& env) {
            return env.dir.Join(file_name) + ":" + std::to_string(line) + ": " + message;
          }};
}

std::vector<BadInput> BadInputs() {
  const std::string long_host = LongName(300);
  const std::string over_a_mib(kMiB + 1, 'x');
  return {
      // Ports.
      Usage("ListenPortAbove65535", {"-L", "70000:127.0.0.1:7"},
            "bad -L '70000:127.0.0.1:7': port 70000 is out of range (0-65535)"),
      Usage("ListenPortNegative", {"-L", "-1:127.0.0.1:7"}, "port '-1' is not a number"),
      Usage("ListenPortOf20Digits", {"-L", "99999999999999999999:127.0.0.1:7"},
            "port 99999999999999999999 is out of range (0-65535)"),
      Usage("TargetPortOf20Digits", {"-L", "0:127.0.0.1:99999999999999999999"},
            "target port 99999999999999999999 is out of range (1-65535)"),
      Usage("TargetPortNegative", {"-L", "0:127.0.0.1:-22"}, "target port '-22' is not a number"),
      Usage("ServerPortAbove65535", {"-p", "70000"},
            "-p: bad value '70000' (expected a port 1-65535)"),
      Usage("ServerPortNegative", {"-p", "-1"}, "-p: bad value '-1' (expected a port 1-65535)"),
      Usage("ServerPortZero", {"-p", "0"}, "-p: bad value '0' (expected a port 1-65535)"),
      Usage("ServerPortOverflowsUint64", {"-p", "18446744073709551617"},
            "-p: bad value '18446744073709551617' (expected a port 1-65535)"),
      Usage("OptionPortAbove65535", {"-o", "Port=70000"}, "-o Port: bad value '70000'"),
      // Shapes and names.
      Usage("ForwardWithFiveFields", {"-L", "1:2:3:4:5"},
            "bad -L '1:2:3:4:5': expected [bind_address:]port:host:hostport"),
      Usage("ForwardWithFiveFieldsAfterIpv6", {"-L", "[::1]:1:2:3:4"},
            "expected [bind_address:]port:host:hostport"),
      Usage("ForwardTargetHostOf300Chars", {"-L", "0:" + long_host + ":7"},
            "target host is longer than 255 characters"),
      Usage("ForwardBindAddressOf300Chars", {"-L", long_host + ":0:127.0.0.1:7"},
            "bind address is longer than 255 characters"),
      Usage("ForwardWithControlCharacter", {"-L", "0:127.0.0.1:7\x01"},
            "bad -L '0:127.0.0.1:7\\x01': contains a control character"),
      // Durations and counts.
      Usage("TtlOverflowingInDays", {"--ttl", "99999999999999d"},
            "--ttl: bad duration '99999999999999d': longer than 100 years"),
      Usage("TtlOf30Digits", {"--ttl", std::string(30, '9')}, "longer than 100 years"),
      Usage("IdleTimeoutOverflowingInt64", {"--idle-timeout", "9223372036854775808s"},
            "--idle-timeout: bad duration '9223372036854775808s': longer than 100 years"),
      Usage("KeepaliveJustOver100Years", {"--keepalive", "36501d"}, "longer than 100 years"),
      Usage("NegativeTtl", {"--ttl", "-5s"}, "--ttl: bad duration '-5s'"),
      Usage("KeepaliveCountOf20Digits", {"--keepalive-count", "99999999999999999999"},
            "--keepalive-count: bad value '99999999999999999999'"),
      Usage("TieToPidOf20Digits", {"--tie-to", "99999999999999999999"}, "--tie-to: bad value"),
      // Destinations: ssh (since CVE-2023-51385) refuses control characters in both parts.
      {"DestinationHostWithNewline",
       [](const CaseEnv& env) {
         return std::vector<std::string>{"-p", std::to_string(env.sshd.port()), "-L",
                                         env.GoodForward(), "user@ho\nst"};
       },
       kUsage, Text("bad destination")},
      {"DestinationUserWithNewline",
       [](const CaseEnv& env) {
         return std::vector<std::string>{"-p", std::to_string(env.sshd.port()), "-L",
                                         env.GoodForward(), "us\ner@127.0.0.1"};
       },
       kUsage, Text("bad destination")},
      {"DestinationHostOf300Chars",
       [long_host](const CaseEnv& env) {
         return std::vector<std::string>{"-p", std::to_string(env.sshd.port()), "-L",
                                         env.GoodForward(), "user@" + long_host};
       },
       kUnreachable, Text("could not resolve hostname " + long_host)},
      // Configuration files (-F). ssh reads each line as a C string: a NUL ends it.
      Config("NulInsideAKeyword", Bytes("Host *\n  Port\0 22\n"), 2, "Port: missing value"),
      Config("NulThenJunkKeepsLineNumbers", Bytes("# c\0\x01\x02\nPort 70000\n"), 2,
             "Port: bad port '70000'"),
      Config("LineOverOneMebibyte", "Host *\n  HostName " + over_a_mib + "\n", 2,
             "line longer than 1 MiB"),
      Config("OneMebibyteLineWithoutNewline", "# " + over_a_mib, 1, "line longer than 1 MiB"),
      Config("IncludesItself", "Include %SELF%\n", 1,
             "Include nested more than 16 deep (does a file include itself?)"),
      Config("PortAbove65535", "Port 70000\n", 1, "Port: bad port '70000'"),
      Config("PortNegative", "Port -1\n", 1, "Port: bad port '-1'"),
      Config("LocalForwardWithFiveFields", "LocalForward 1:2:3 4:5:6\n", 1,
             "LocalForward: bad value '1:2:3 4:5:6': expected [bind_address:]port:host:hostport"),
      Config("LocalForwardTargetPortOf20Digits", "LocalForward 0 127.0.0.1:99999999999999999999\n",
             1,
             "LocalForward: bad value '0 127.0.0.1:99999999999999999999': target port "
             "99999999999999999999 is out of range (1-65535)"),
      // -E as ssh opens its log: no missing directory created; beyond ssh, no link followed.
      {"LogFileInAMissingDirectory",
       [](const CaseEnv& env) {
         return env.AtServer({"-E", env.dir.Join("missing/dir/t.log"), "-L", env.GoodForward()});
       },
       kCannotCreate,
       [](const CaseEnv& env) {
         return "tether: cannot open log file " + env.dir.Join("missing/dir/t.log") +
                ": No such file or directory";
       }},
      {"LogFileIsASymbolicLink",
       [](const CaseEnv& env) {
         symlink(env.File("real.log", "").c_str(), env.dir.Join("link.log").c_str());
         return env.AtServer({"-E", env.dir.Join("link.log"), "-L", env.GoodForward()});
       },
       kCannotCreate,
       [](const CaseEnv& env) {
         return "tether: cannot open log file " + env.dir.Join("link.log") +
                ": it is a symbolic link (name the file it points to)";
       }},
      // Only regular files are read (and /dev/null, which is empty): a FIFO would hold
      // tether in open() for good, a device may never end.
      {"ConfigIsEndlessNulBytes",
       [](const CaseEnv& env) {
         return env.AtServer({"-F", "/dev/zero", "-L", env.GoodForward()});
       },
       kConfig, Text("/dev/zero: not a regular file (a character device)")},
      {"ConfigIsAFifo",
       [](const CaseEnv& env) {
         return env.AtServer({"-F", env.Fifo("fifo.conf"), "-L", env.GoodForward()});
       },
       kConfig,
       [](const CaseEnv& env) {
         return env.dir.Join("fifo.conf") + ": not a regular file (a FIFO)";
       }},
      {"ConfigIncludesAFifo",
       [](const CaseEnv& env) {
         const std::string fifo = env.Fifo("included.conf");
         return env.AtServer(
             {"-F", env.File("includer.conf", "Include " + fifo + "\n"), "-L", env.GoodForward()});
       },
       kConfig,
       [](const CaseEnv& env) {
         return env.dir.Join("included.conf") + ": not a regular file (a FIFO)";
       }},
      {"ConfigIncludeCycleOfTwoFiles",
       [](const CaseEnv& env) {
         env.File("cycle-b.conf", "Include " + env.dir.Join("cycle-a.conf") + "\n");
         const std::string a =
             env.File("cycle-a.conf", "Include " + env.dir.Join("cycle-b.conf") + "\n");
         return env.AtServer({"-F", a, "-L", env.GoodForward()});
       },
       kConfig, Text("Include nested more than 16 deep")},
      {"ConfigHostNameOf300Chars",
       [long_host](const CaseEnv& env) {
         return env.AtServer({"-F", env.File("longhost.conf", "HostName " + long_host + "\n"), "-L",
                              env.GoodForward()});
       },
       kUnreachable, Text("could not resolve hostname " + long_host)},
      // known_hosts files that cannot be read: a warning, then the host key is unknown.
      {"KnownHostsIsADirectory",
       [](const CaseEnv& env) {
         const std::string dir = env.dir.Join("known_hosts.d");
         mkdir(dir.c_str(), 0700);
         return env.AtServer({"-o", "UserKnownHostsFile=" + dir, "-o",
                              "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                              "-L", env.GoodForward()});
       },
       kNotTrusted,
       [](const CaseEnv& env) {
         return env.dir.Join("known_hosts.d") + " is a directory, not a known_hosts file; ignored";
       }},
      {"KnownHostsIsADirectoryWithAcceptNew",
       [](const CaseEnv& env) {
         const std::string dir = env.dir.Join("known_hosts.d");
         mkdir(dir.c_str(), 0700);
         return env.AtServer({"-o", "UserKnownHostsFile=" + dir, "-o",
                              "GlobalKnownHostsFile=/dev/null", "-o",
                              "StrictHostKeyChecking=accept-new", "-L", env.GoodForward()});
       },
       kNotTrusted,
       [](const CaseEnv& env) {
         return "cannot add the host key to " + env.dir.Join("known_hosts.d");
       }},
      {"KnownHostsUnreadable",
       [](const CaseEnv& env) {
         const std::string path = env.File("known_hosts", env.sshd.known_hosts_line() + "\n");
         chmod(path.c_str(), 0);
         return env.AtServer({"-o", "UserKnownHostsFile=" + path, "-o",
                              "GlobalKnownHostsFile=/dev/null", "-L", env.GoodForward()});
       },
       kNotTrusted,
       [](const CaseEnv& env) {
         return "cannot read " + env.dir.Join("known_hosts") + "; ignored";
       },
       /*skip_as_root=*/true},
      {"KnownHostsIsAFifo",
       [](const CaseEnv& env) {
         return env.AtServer({"-o", "UserKnownHostsFile=" + env.Fifo("known_hosts"), "-o",
                              "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                              "-L", env.GoodForward()});
       },
       kNotTrusted,
       [](const CaseEnv& env) {
         return env.dir.Join("known_hosts") + " is a FIFO, not a known_hosts file; ignored";
       }},
      {"KnownHostsIsAFifoWithAcceptNew",
       [](const CaseEnv& env) {
         return env.AtServer({"-o", "UserKnownHostsFile=" + env.Fifo("known_hosts"), "-o",
                              "GlobalKnownHostsFile=/dev/null", "-o",
                              "StrictHostKeyChecking=accept-new", "-L", env.GoodForward()});
       },
       kNotTrusted,
       [](const CaseEnv& env) {
         return "cannot add the host key to " + env.dir.Join("known_hosts") +
                ": it is a FIFO, not a regular file";
       }},
      // Reading /dev/zero as known_hosts once grew tether to 4 GB.
      {"KnownHostsIsEndlessNulBytes",
       [](const CaseEnv& env) {
         return env.AtServer({"-o", "UserKnownHostsFile=/dev/zero", "-o",
                              "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                              "-L", env.GoodForward()});
       },
       kNotTrusted, Text("/dev/zero is a character device, not a known_hosts file; ignored")},
      {"KnownHostsLineOverOneMebibyte",
       [over_a_mib](const CaseEnv& env) {
         const std::string content =
             "# fine\n" + over_a_mib + "\n" + env.sshd.known_hosts_line() + "\n";
         return env.AtServer({"-o", "UserKnownHostsFile=" + env.File("long_hosts", content), "-o",
                              "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                              "-L", env.GoodForward()});
       },
       kNotTrusted,
       [](const CaseEnv& env) {
         return env.dir.Join("long_hosts") +
                ":2: line longer than 1 MiB; the rest of the file is ignored";
       }},
      {"KnownHostsFullOfJunk",
       [over_a_mib](const CaseEnv& env) {
         const std::string junk = std::string("\0\0\0\n", 4) + over_a_mib + "\n" +
                                  "[127.0.0.1]:x ssh-ed25519 !!!!\n\x7f\x01\x02 ssh-rsa\n";
         return env.AtServer({"-o", "UserKnownHostsFile=" + env.File("junk_hosts", junk), "-o",
                              "GlobalKnownHostsFile=/dev/null", "-L", env.GoodForward()});
       },
       kNotTrusted, Text("host key verification failed")},
  };
}

/// The server, the echo service and a directory, shared by every row of the table.
class HostileInputTable : public ::testing::TestWithParam<BadInput> {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    sshd_ = SshdServer::Start(&error).release();
    if (sshd_ == nullptr) std::cerr << "sshd did not start: " << error << "\n";
    echo_ = new TcpServer();
  }
  static void TearDownTestSuite() {
    delete echo_;
    delete sshd_;
    echo_ = nullptr;
    sshd_ = nullptr;
  }

  static SshdServer* sshd_;
  static TcpServer* echo_;
};

SshdServer* HostileInputTable::sshd_ = nullptr;
TcpServer* HostileInputTable::echo_ = nullptr;

/// stderr must be short, every line a "tether: " line (warnings and the final message),
/// without raw control characters.
void ExpectCleanMessages(const std::string& err) {
  EXPECT_FALSE(err.empty()) << "no message on stderr";
  EXPECT_LE(err.size(), kMaxStderrBytes) << "stderr echoes the input: " << err.substr(0, 300);
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    const bool indented = line.rfind("  ", 0) == 0;  // continuation of a multi-line warning
    EXPECT_TRUE(line.rfind("tether: ", 0) == 0 || indented) << "stray line: " << line;
    EXPECT_TRUE(std::none_of(line.begin(), line.end(),
                             [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
        << "control character in: " << line;
  }
}

TEST_P(HostileInputTable, ExitsWithItsCodeAndMessage) {
  const BadInput& input = GetParam();
  ASSERT_TRUE(sshd_ != nullptr && echo_->ok());
  if (input.skip_as_root && geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  const uint16_t listen_port = FreeTcpPort();
  ASSERT_NE(listen_port, 0);
  const CaseEnv env{*sshd_, echo_->port(), dir, listen_port};
  const size_t connections_before = CountOccurrences(sshd_->sshd_log(), kSshdConnectionLine);
  std::string error;
  std::unique_ptr<Subprocess> tether = StartTetherRaw(*sshd_, input.args(env), {}, &error);
  ASSERT_TRUE(tether) << error;

  const std::optional<int> code = tether->WaitExit(kExitTimeout);
  ASSERT_TRUE(code.has_value()) << "still running after " << kExitTimeout.count() << " ms";
  const std::string err = tether->Stderr();
  EXPECT_EQ(*code, input.exit_code) << err.substr(0, 1000);
  EXPECT_LT(*code, 128) << "killed by signal " << *code - 128;
  const std::string expected = input.message(env);
  EXPECT_TRUE(Contains(err, expected)) << "expected '" << expected << "' in:\n"
                                       << err.substr(0, 1000);
  ExpectCleanMessages(err);
  if (input.exit_code == kUsage || input.exit_code == kConfig) {
    EXPECT_EQ(CountOccurrences(sshd_->sshd_log(), kSshdConnectionLine), connections_before)
        << "a bad command line or configuration must fail before connecting";
  }
  ExpectTunnelGone(*sshd_, {listen_port});
  EXPECT_TRUE(WaitUntil([] { return sshd_->ConnectionPids().empty(); }, kExitTimeout))
      << "sshd connection processes left behind";
}

INSTANTIATE_TEST_SUITE_P(HostileInput, HostileInputTable, ::testing::ValuesIn(BadInputs()),
                         [](const ::testing::TestParamInfo<BadInput>& row) {
                           return row.param.name;
                         });

// ---------------------------------------------------------------------------------------
// Servers that misbehave before the tunnel is up.

/// What a scripted "SSH server" sends before it closes.
struct HostileServer {
  std::string name;
  std::string bytes;
  bool reset = false;  ///< close with a RST instead of a FIN
  std::string reason;  ///< the whole message after "SSH handshake failed: "
};

void PrintTo(const HostileServer& script, std::ostream* out) { *out << script.name; }

std::string Repeated(const std::string& text, size_t times) {
  std::string out;
  for (size_t i = 0; i < times; ++i) out += text;
  return out;
}

std::string PacketWithLength(uint32_t length) {
  std::string packet = "SSH-2.0-OpenSSH_9.6\r\n";
  for (int shift = 24; shift >= 0; shift -= 8) packet += static_cast<char>(length >> shift);
  return packet + std::string(64, '\x14');
}

class HostileServerTest : public ::testing::TestWithParam<HostileServer> {
 protected:
  void SetUp() override {
    std::string error;
    sshd_ = SshdServer::Start(&error);
    ASSERT_TRUE(sshd_) << error;
  }
  std::unique_ptr<SshdServer> sshd_;  ///< Only for its client environment (HOME, keys).
};

TEST_P(HostileServerTest, HandshakeFailsWith69AndAClearMessage) {
  const HostileServer& script = GetParam();
  ScriptedServer server([&script](int fd) {
    WriteAll(fd, script.bytes);
    std::this_thread::sleep_for(milliseconds(200));
    if (script.reset) ArmReset(fd);
  });
  const uint16_t listen_port = FreeTcpPort();
  std::unique_ptr<Subprocess> tether =
      StartTetherRaw(*sshd_, {"-p", std::to_string(server.port()), "-i", sshd_->user_key_path(),
                              "-o", "ConnectTimeout=5", "-L",
                              std::to_string(listen_port) + ":127.0.0.1:7", "user@127.0.0.1"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kUnreachable) << tether->Stderr();
  const std::string err = tether->Stderr();
  EXPECT_TRUE(Contains(err, "tether: SSH handshake failed: " + script.reason + "\n")) << err;
  ExpectCleanMessages(err);
  EXPECT_EQ(server.accepted(), 1);
  ExpectTunnelGone(*sshd_, {listen_port});
}

INSTANTIATE_TEST_SUITE_P(
    HostileInput, HostileServerTest,
    ::testing::Values(
        HostileServer{"ClosesAtOnce", "", false,
                      "the server closed the connection (Failed getting banner)"},
        HostileServer{"SpeaksHttp", "HTTP/1.1 400 Bad Request\r\n\r\n", false,
                      "Failed getting banner"},
        HostileServer{"SendsBannerThenCloses", "SSH-2.0-OpenSSH_9.6\r\n", false,
                      "the server closed the connection (Unable to exchange encryption keys)"},
        HostileServer{"SendsBannerThenResets", "SSH-2.0-OpenSSH_9.6\r\n", true,
                      "the server closed the connection (Unable to exchange encryption keys)"},
        HostileServer{"SendsA100KiBBanner", "SSH-2.0-" + std::string(100000, 'A'), false,
                      "the server sent a line longer than 8192 bytes instead of an "
                      "SSH banner"},
        HostileServer{"ClaimsA2GiBPacket", PacketWithLength(0x7fffffff), false,
                      "Unable to exchange encryption keys"},
        HostileServer{"ClaimsAnEmptyPacket", PacketWithLength(0), false,
                      "Unable to exchange encryption keys"},
        HostileServer{"SendsNulBytes", std::string(4096, '\0'), false, "Failed getting banner"},
        // ssh reads at most 1024 lines of at most 8192 bytes before the banner.
        HostileServer{"Sends2000LinesBeforeItsBanner",
                      Repeated("not yet\r\n", 2000) + "SSH-2.0-OpenSSH_9.6\r\n", false,
                      "the server sent no SSH banner in its first 1024 lines"},
        HostileServer{"SendsA9000ByteLine", std::string(9000, 'x'), false,
                      "the server sent a line longer than 8192 bytes instead of an "
                      "SSH banner"}),
    [](const ::testing::TestParamInfo<HostileServer>& row) { return row.param.name; });

/// A server that sends `head` at once, then `dribble` one byte per `interval` (never
/// finishing within a test), then keeps still until stopped.
std::function<void(int)> Dribbler(std::string head, std::string dribble, milliseconds interval) {
  return [=](int fd) {
    if (!WriteAll(fd, head)) return;
    for (char c : dribble) {
      std::this_thread::sleep_for(interval);
      if (!WriteAll(fd, &c, 1)) return;
    }
    pollfd wait{fd, POLLRDHUP, 0};
    while (poll(&wait, 1, 100) == 0) {
    }
  };
}

/// A server that sends `head` at once and then `dribble` slowly.
struct DribbleCase {
  std::string name;
  std::string head;
  std::string dribble;
  std::string reason;  ///< expected after "SSH handshake failed: "
};

void PrintTo(const DribbleCase& script, std::ostream* out) { *out << script.name; }

/// The start of a 4 KiB binary packet: libssh2 waits for the rest.
std::string PacketStart() { return std::string("\0\0\x10\0\x08", 5) + std::string(195, 'x'); }

/// ConnectTimeout bounds the whole banner exchange and key exchange: bytes trickling in do
/// not keep the wait alive (ssh: "Connection timed out during banner exchange").
class SlowServerTest : public ::testing::TestWithParam<DribbleCase> {
 protected:
  void SetUp() override {
    std::string error;
    sshd_ = SshdServer::Start(&error);
    ASSERT_TRUE(sshd_) << error;
  }
  std::unique_ptr<SshdServer> sshd_;  ///< Only for its client environment (HOME, keys).
};

TEST_P(SlowServerTest, DribblingServerFailsWith69AfterConnectTimeout) {
  const DribbleCase& script = GetParam();
  // About 200 bytes, one every 400 ms: 80 s, far beyond the 3 s ConnectTimeout.
  ScriptedServer server(Dribbler(script.head, script.dribble, milliseconds(400)));
  const uint16_t listen_port = FreeTcpPort();
  std::unique_ptr<Subprocess> tether =
      StartTetherRaw(*sshd_, {"-p", std::to_string(server.port()), "-i", sshd_->user_key_path(),
                              "-o", "ConnectTimeout=3", "-L",
                              std::to_string(listen_port) + ":127.0.0.1:7", "user@127.0.0.1"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kUnreachable) << tether->Stderr();
  const std::string err = tether->Stderr();
  EXPECT_TRUE(Contains(err, "tether: SSH handshake failed: " + script.reason + "\n")) << err;
  ExpectCleanMessages(err);
  EXPECT_EQ(server.accepted(), 1);
  ExpectTunnelGone(*sshd_, {listen_port});
}

INSTANTIATE_TEST_SUITE_P(
    HostileInput, SlowServerTest,
    ::testing::Values(DribbleCase{"DribblesItsBanner", "SSH-2.0-", std::string(200, 'x'),
                                  "connection timed out during banner exchange (3s)"},
                      DribbleCase{"DribblesAfterALineBeforeItsBanner", "hello\r\n",
                                  std::string(200, 'x'),
                                  "connection timed out during banner exchange (3s)"},
                      DribbleCase{"DribblesItsKeyExchange", "SSH-2.0-OpenSSH_9.6\r\n",
                                  PacketStart(),
                                  "the server did not complete the key exchange within 3s"}),
    [](const ::testing::TestParamInfo<DribbleCase>& row) { return row.param.name; });

// ---------------------------------------------------------------------------------------
// Waits before the tunnel is up: a stop signal ends every one, and the terminal is left as
// it was.

/// A real sshd, and a passphrase-protected key that no agent holds: tether must ask.
class PromptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    sshd_ = SshdServer::Start(&error);
    ASSERT_TRUE(sshd_) << error;
    ASSERT_FALSE(MakeUserKey(dir_.Join("locked"), "ed25519", "a passphrase").empty());
    listen_port_ = FreeTcpPort();
  }

  std::vector<std::string> Args() const {
    return {"-p",
            std::to_string(sshd_->port()),
            "-i",
            dir_.Join("locked"),
            "-L",
            std::to_string(listen_port_) + ":127.0.0.1:7",
            sshd_->user() + "@127.0.0.1"};
  }

  /// The wait was ended by a signal: exit 0 with its message, nothing left behind.
  void ExpectStoppedBeforeTheTunnelWasUp(Subprocess* tether) {
    const std::optional<int> code = tether->WaitExit(kExitTimeout);
    ASSERT_TRUE(code.has_value()) << "the signal did not end the wait";
    EXPECT_EQ(*code, 0) << tether->Stderr();
    EXPECT_TRUE(Contains(tether->Stderr(), "stopped by a signal before the tunnel was up"))
        << tether->Stderr();
    ExpectTunnelGone(*sshd_, {listen_port_});
  }

  TempDir dir_;
  std::unique_ptr<SshdServer> sshd_;
  uint16_t listen_port_ = 0;
};

/// A key typed at the passphrase prompt, and what it sends.
struct PromptKey {
  std::string name;
  std::string keys;
};

void PrintTo(const PromptKey& key, std::ostream* out) { *out << key.name; }

class TerminalPromptTest : public PromptTest, public ::testing::WithParamInterface<PromptKey> {};

TEST_P(TerminalPromptTest, StopsTetherAndRestoresEcho) {
  Terminal terminal;
  ASSERT_TRUE(terminal.Open());
  // setsid -c makes the terminal (its stdin) tether's controlling terminal, as in a shell;
  // sh execs it, so the pid stays tether's.
  std::vector<std::string> argv = {"sh", "-c", "exec setsid -c \"$0\" \"$@\" <\"$TEST_TTY\"",
                                   TETHER_BINARY};
  for (const std::string& arg : Args()) argv.push_back(arg);
  SubprocessOptions options = sshd_->ClientProcessOptions();
  options.env_set["TEST_TTY"] = terminal.SlavePath();
  std::string error;
  std::unique_ptr<Subprocess> tether = Subprocess::Start(argv, options, &error);
  ASSERT_TRUE(tether) << error;
  ASSERT_TRUE(WaitUntil([&] { return Contains(terminal.Text(), "Enter passphrase for key"); },
                        kReadyTimeout))
      << terminal.Text() << tether->Stderr();
  ASSERT_TRUE(WaitUntil([&] { return !terminal.Echoes(); }, kIoTimeout)) << "echo never off";

  ASSERT_TRUE(terminal.Type(GetParam().keys));
  ExpectStoppedBeforeTheTunnelWasUp(tether.get());
  EXPECT_TRUE(terminal.Echoes()) << "the terminal was left with echo off";
}

INSTANTIATE_TEST_SUITE_P(HostileInput, TerminalPromptTest,
                         ::testing::Values(PromptKey{"CtrlC", "\x03"},
                                           PromptKey{"CtrlBackslash", "\x1c"}),
                         [](const ::testing::TestParamInfo<PromptKey>& row) {
                           return row.param.name;
                         });

TEST_F(PromptTest, SigtermWhileAskpassHangsStopsTetherAndEndsAskpass) {
  const std::string askpass = dir_.Join("askpass");
  const std::string pid_file = dir_.Join("askpass.pid");
  ASSERT_TRUE(WriteFile(askpass, "#!/bin/sh\necho $$ > " + pid_file + "\nexec sleep 60\n"));
  chmod(askpass.c_str(), 0700);
  std::unique_ptr<Subprocess> tether =
      StartTetherRaw(*sshd_, Args(), {{"SSH_ASKPASS", askpass}, {"SSH_ASKPASS_REQUIRE", "force"}});
  ASSERT_TRUE(tether);
  pid_t askpass_pid = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        askpass_pid = static_cast<pid_t>(std::atoi(ReadFile(pid_file).c_str()));
        return askpass_pid > 0;
      },
      kReadyTimeout))
      << tether->Stderr();

  tether->Signal(SIGTERM);
  ExpectStoppedBeforeTheTunnelWasUp(tether.get());
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(askpass_pid); }, kExitTimeout))
      << "askpass left running";
  if (!ProcessGone(askpass_pid)) kill(askpass_pid, SIGKILL);
}

// ---------------------------------------------------------------------------------------
// Hostile peers of a running tunnel, and valid extremes that must be accepted.

std::string CurrentUserName() {
  const passwd* entry = getpwuid(getuid());
  return entry != nullptr ? entry->pw_name : "root";
}

/// True when one of sshd's connection processes is the AuthorizedKeysCommand `sleep`:
/// the server is in the middle of authenticating us.
bool SshdIsAuthenticating(const SshdServer& sshd) {
  for (pid_t pid : sshd.ConnectionPids()) {
    if (ReadFile("/proc/" + std::to_string(pid) + "/comm") == "sleep\n") return true;
  }
  return false;
}

/// E2EFixture, with one tether at a time: tether_.
class HostilePeerTest : public E2EFixture {
 protected:
  /// Starts tether with `args` at the fixture and waits for `forwards` forwarding lines;
  /// returns their ports (empty after a failure).
  std::vector<uint16_t> LaunchReady(const std::vector<std::string>& args, size_t forwards) {
    return E2EFixture::LaunchReady(args, forwards, &tether_);
  }

  /// The tunnel still runs; SIGTERM must stop it with 0, leaving no process and free ports.
  void ExpectStopsCleanly(const std::vector<uint16_t>& ports) {
    EXPECT_TRUE(tether_->Running()) << "exit " << tether_->exit_code().value_or(-1);
    E2EFixture::ExpectStopsCleanly(tether_, ports);
  }

  Subprocess* tether_ = nullptr;  ///< The last one started; owned by the fixture.
};

TEST_F(HostilePeerTest, ServerThatClosesDuringAuthenticationEndsItWithAClearMessage) {
  // A server whose key check hangs (AuthorizedKeysCommand sleeps) holds tether inside
  // authentication; then the link is reset under it.
  SshdConfig config;
  config.extra_config = {"AuthorizedKeysFile none", "AuthorizedKeysCommand /bin/sleep 20",
                         "AuthorizedKeysCommandUser " + CurrentUserName()};
  std::string error;
  sshd_ = SshdServer::Start(config, &error);
  ASSERT_TRUE(sshd_) << error;
  FaultProxy proxy(sshd_->port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  // The server's key, known under the proxy's port.
  const std::string known_hosts = sshd_->dir() + "/proxy_known_hosts";
  ASSERT_TRUE(WriteFile(known_hosts, "[127.0.0.1]:" + std::to_string(proxy.port()) + " " +
                                         sshd_->host_public_key_line() + "\n"));
  const uint16_t listen_port = FreeTcpPort();
  tether_ = LaunchRaw({"-p", std::to_string(proxy.port()), "-i", sshd_->user_key_path(), "-o",
                       "UserKnownHostsFile=" + known_hosts, "-L",
                       std::to_string(listen_port) + ":127.0.0.1:7", sshd_->user() + "@127.0.0.1"});
  ASSERT_TRUE(tether_);
  ASSERT_TRUE(WaitUntil([&] { return SshdIsAuthenticating(*sshd_) || !tether_->Running(); },
                        kReadyTimeout) &&
              tether_->Running())
      << "sshd never ran the AuthorizedKeysCommand";
  EXPECT_TRUE(tether_->Running());

  proxy.ResetAll();
  const std::optional<int> code = tether_->WaitExit(kExitTimeout);
  ASSERT_TRUE(code.has_value()) << "tether did not notice the reset";
  const std::string err = tether_->Stderr();
  EXPECT_TRUE(*code == kUnreachable || *code == kConnectionLost) << "exit " << *code << ": " << err;
  EXPECT_TRUE(Contains(err, "authentication")) << err;
  ExpectCleanMessages(err);
  ExpectGone(*tether_, {listen_port});
}

TEST_F(HostilePeerTest, ServerOfferingOnlyAHostKeyTypeLibssh2CannotUseFailsWith69) {
  // The fixture's host key, certified by a throwaway CA; sshd re-reads its configuration on
  // SIGHUP and then offers nothing but the certificate, which libssh2 1.10 cannot check.
  TempDir dir;
  const std::string host_key = sshd_->dir() + "/ssh_host_ed25519_key";
  ASSERT_FALSE(MakeUserKey(dir.Join("ca"), "ed25519", "").empty());
  std::string output;
  std::string error;
  ASSERT_TRUE(RunCommand({"ssh-keygen", "-q", "-s", dir.Join("ca"), "-I", "host", "-h", "-n",
                          "127.0.0.1", host_key + ".pub"},
                         {}, seconds(10), &output, &error))
      << error << output;
  ASSERT_TRUE(WriteFile(sshd_->config_path(),
                        ReadFile(sshd_->config_path()) + "HostCertificate " + host_key +
                            "-cert.pub\nHostKeyAlgorithms ssh-ed25519-cert-v01@openssh.com\n"));
  kill(sshd_->sshd_pid(), SIGHUP);
  ASSERT_TRUE(
      WaitUntil([&] { return CountOccurrences(sshd_->sshd_log(), "Server listening on") == 2; },
                kReadyTimeout))
      << sshd_->sshd_log();

  const uint16_t listen_port = FreeTcpPort();
  tether_ = Launch({"-L", std::to_string(listen_port) + ":127.0.0.1:7"});
  ASSERT_TRUE(tether_);
  EXPECT_EQ(tether_->WaitExit(kExitTimeout), kUnreachable);
  const std::string err = tether_->Stderr();
  EXPECT_TRUE(Contains(err, "tether: SSH handshake failed: ")) << err;
  EXPECT_TRUE(Contains(err, "no host key type, key exchange, cipher or MAC")) << err;
  ExpectCleanMessages(err);
  ExpectGone(*tether_, {listen_port});
}

TEST_F(HostilePeerTest, TargetThatResetsMidTransferDropsOnlyThatClient) {
  // First byte 'R': read 64 KiB, then reset; anything else: echo (that byte included).
  ScriptedServer target([](int fd) {
    char mode = 0;
    if (recv(fd, &mode, 1, MSG_WAITALL) != 1) return;
    if (mode == 'R') {
      std::string sink(size_t{64} * 1024, '\0');
      ReadExactly(fd, sink.data(), sink.size());
      ArmReset(fd);
      return;
    }
    if (!WriteAll(fd, &mode, 1)) return;
    char buffer[65536];
    for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) {
      if (!WriteAll(fd, buffer, static_cast<size_t>(n))) return;
    }
  });
  const std::vector<uint16_t> ports =
      LaunchReady({"-L", "0:127.0.0.1:" + std::to_string(target.port()), "-L", ToEcho()}, 2);
  ASSERT_EQ(ports.size(), 2u);
  UniqueFd bystander = ConnectLocal(ports[1], kIoTimeout);
  ASSERT_TRUE(bystander && EchoOnce(bystander.get(), "before"));

  UniqueFd victim = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(victim);
  const std::string payload = "R" + RandomBytes(4 * kMiB, 7);
  std::thread writer([&] { WriteAll(victim.get(), payload); });  // fails once dropped
  EXPECT_TRUE(PeerEnds(victim.get(), kIoTimeout)) << "the reset did not reach the client";
  shutdown(victim.get(), SHUT_RDWR);
  writer.join();

  EXPECT_TRUE(EchoOnce(bystander.get(), "after"));
  UniqueFd again = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(again);
  EXPECT_TRUE(EchoOnce(again.get(), "Eecho through the forward whose target reset"));
  EXPECT_GE(target.accepted(), 2);
  ExpectStopsCleanly(ports);
}

TEST_F(HostilePeerTest, ClientThatNeverReadsKeepsMemoryBounded) {
  constexpr size_t kFlood = 200 * kMiB;
  std::atomic<uint64_t> written{0};
  ScriptedServer flood([&](int fd) {
    const std::string chunk = RandomBytes(kMiB, 11);
    for (size_t sent = 0; sent < kFlood; sent += chunk.size()) {
      if (!WriteAll(fd, chunk)) return;
      written += chunk.size();
    }
  });
  const std::vector<uint16_t> ports =
      LaunchReady({"-L", "0:127.0.0.1:" + std::to_string(flood.port()), "-L", ToEcho()}, 2);
  ASSERT_EQ(ports.size(), 2u);
  const int64_t rss_before = RssKiB(tether_->pid());

  UniqueFd sleeper = ConnectLocal(ports[0], kIoTimeout);  // Never reads.
  ASSERT_TRUE(sleeper);
  std::this_thread::sleep_for(seconds(3));
  const int64_t rss = RssKiB(tether_->pid());
  std::cout << "[ hostile  ] tether RSS " << rss_before << " KiB idle, " << rss
            << " KiB with a client that does not read; the target wrote " << written.load() / kMiB
            << " MiB" << std::endl;
  EXPECT_GT(rss, 0);
  ExpectRssBounded(rss_before, rss);
  EXPECT_LT(written.load(), kFlood / 4) << "nothing held the target back";

  EXPECT_TRUE(EchoesThrough(ports[1], "the tunnel still serves others"));
  UniqueFd reader =
      ConnectLocal(ports[0], kIoTimeout);  // The same forward serves a reading client.
  ASSERT_TRUE(reader);
  std::string first(8 * kMiB, '\0');
  EXPECT_TRUE(ReadExactly(reader.get(), first.data(), first.size()));
  EXPECT_EQ(Sha256Hex(first.substr(0, kMiB)), Sha256Hex(RandomBytes(kMiB, 11)));
  reader.Reset();
  sleeper.Reset();
  ExpectStopsCleanly(ports);
}

TEST_F(HostilePeerTest, TargetThatNeverReadsKeepsMemoryBounded) {
  ScriptedServer sink([](int fd) {
    pollfd wait{fd, POLLRDHUP, 0};  // Reads nothing; returns when stopped or the peer goes.
    while (poll(&wait, 1, 100) == 0) {
    }
  });
  const std::vector<uint16_t> ports =
      LaunchReady({"-L", "0:127.0.0.1:" + std::to_string(sink.port()), "-L", ToEcho()}, 2);
  ASSERT_EQ(ports.size(), 2u);
  const int64_t rss_before = RssKiB(tether_->pid());

  UniqueFd pusher = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(pusher);
  SetIoTimeout(pusher.get(), milliseconds(200));
  const std::string chunk = RandomBytes(kMiB, 13);
  uint64_t pushed = 0;
  const auto until = std::chrono::steady_clock::now() + seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    const ssize_t n = send(pusher.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n > 0) pushed += static_cast<uint64_t>(n);
  }
  const int64_t rss = RssKiB(tether_->pid());
  std::cout << "[ hostile  ] tether RSS " << rss << " KiB after the client pushed " << pushed / kMiB
            << " MiB at a target that does not read" << std::endl;
  EXPECT_GT(rss, 0);
  ExpectRssBounded(rss_before, rss);
  EXPECT_LT(pushed, 100 * kMiB) << "nothing held the client back";
  EXPECT_TRUE(EchoesThrough(ports[1], "the tunnel still serves others"));
  pusher.Reset();
  ExpectStopsCleanly(ports);
}

TEST_F(HostilePeerTest, TargetHostOf255CharsIsAcceptedAndOnlyItsClientsAreDropped) {
  const std::vector<uint16_t> ports =
      LaunchReady({"-L", "0:" + LongName(255) + ":80", "-L", ToEcho()}, 2);
  ASSERT_EQ(ports.size(), 2u);
  UniqueFd unresolvable = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(unresolvable);
  EXPECT_TRUE(PeerEnds(unresolvable.get(), kIoTimeout)) << "client left hanging";
  EXPECT_TRUE(EchoesThrough(ports[1], "the tunnel lives on"));
  ExpectStopsCleanly(ports);
}

// A script reads tether's answers on stdout: a failed write is an error (exit 71).

/// Runs tether with exactly `args` in the fixture's client environment, stdout on /dev/full
/// (every write fails with ENOSPC).
std::unique_ptr<Subprocess> StartWithFullStdout(const SshdServer& sshd,
                                                const std::vector<std::string>& args) {
  std::vector<std::string> argv = {TETHER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions options = sshd.ClientProcessOptions();
  options.stdout_path = "/dev/full";
  std::string error;
  std::unique_ptr<Subprocess> process = Subprocess::Start(argv, options, &error);
  EXPECT_TRUE(process) << error;
  return process;
}

/// Every number that follows `prefix` in `text`.
std::vector<int> NumbersAfter(const std::string& text, const std::string& prefix) {
  std::vector<int> numbers;
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    const int number = std::atoi(text.c_str() + at + prefix.size());
    if (number > 0 && std::find(numbers.begin(), numbers.end(), number) == numbers.end()) {
      numbers.push_back(number);
    }
  }
  return numbers;
}

constexpr int kCannotWrite = 71;
constexpr char kFullDisk[] = "tether: cannot write to standard output: No space left on device";

TEST_F(HostilePeerTest, ListToAFullDiskFailsWith71) {
  const std::vector<uint16_t> ports = LaunchReady({"-L", ToEcho()}, 1);
  ASSERT_EQ(ports.size(), 1u);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"list"}, std::vector<std::string>{"list", "--json"}}) {
    std::unique_ptr<Subprocess> list = StartWithFullStdout(*sshd_, args);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->WaitExit(kExitTimeout), kCannotWrite) << list->Stderr();
    EXPECT_TRUE(Contains(list->Stderr(), kFullDisk)) << list->Stderr();
  }
  ExpectStopsCleanly(ports);
}

TEST_F(HostilePeerTest, StopToAFullDiskStillStopsAndFailsWith71) {
  const std::vector<uint16_t> ports = LaunchReady({"-L", ToEcho()}, 1);
  ASSERT_EQ(ports.size(), 1u);
  std::unique_ptr<Subprocess> stop =
      StartWithFullStdout(*sshd_, {"stop", std::to_string(tether_->pid())});
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->WaitExit(kExitTimeout), kCannotWrite) << stop->Stderr();
  EXPECT_TRUE(Contains(stop->Stderr(), kFullDisk)) << stop->Stderr();
  // The tunnel was stopped all the same; only the report of it was lost.
  EXPECT_EQ(tether_->WaitExit(kExitTimeout), 0);
  ExpectGone(*tether_, ports);
  EXPECT_TRUE(SshdIdle());
}

TEST_F(HostilePeerTest, BackgroundTunnelWhoseAddressCannotBeWrittenIsStopped) {
  std::unique_ptr<Subprocess> tether =
      StartWithFullStdout(*sshd_, TetherArgs(*sshd_, {"-f", "-E", LogPath(), "-L", ToEcho()}));
  ASSERT_TRUE(tether);
  const std::optional<int> code = tether->WaitExit(kReadyTimeout);
  const std::string log = ReadFile(LogPath());
  // Whoever logged (the background tunnel) must be gone, whatever happened.
  const std::vector<int> pids = NumbersAfter(log, "tether[");
  const std::vector<int> ports = NumbersAfter(log, "forwarding 127.0.0.1:");
  for (int pid : pids) {
    EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, kExitTimeout))
        << "the background tunnel " << pid << " is still up";
    if (!ProcessGone(pid)) kill(pid, SIGKILL);
  }
  ASSERT_TRUE(code.has_value()) << "the foreground process did not return";
  EXPECT_EQ(*code, kCannotWrite) << tether->Stderr() << log;
  EXPECT_TRUE(
      Contains(tether->Stderr(), std::string(kFullDisk) + "; the background tunnel was stopped"))
      << tether->Stderr();
  EXPECT_FALSE(pids.empty()) << "the background tunnel never logged: " << log;
  ASSERT_EQ(ports.size(), 1u) << "the tunnel was never up: " << log;
  EXPECT_TRUE(PortIsFree(static_cast<uint16_t>(ports[0])));
  EXPECT_TRUE(SshdIdle()) << "sshd connection processes left behind";
}

/// The largest values the options accept: the tunnel must work, and stay idle.
struct LargestValue {
  std::string name;
  std::vector<std::string> args;
};

void PrintTo(const LargestValue& value, std::ostream* out) { *out << value.name; }

class LargestValueTest : public HostilePeerTest,
                         public ::testing::WithParamInterface<LargestValue> {};

TEST_P(LargestValueTest, IsAcceptedAndTheTunnelWorksAndIdles) {
  std::vector<std::string> args = GetParam().args;
  args.insert(args.end(), {"-L", ToEcho()});
  const std::vector<uint16_t> ports = LaunchReady(args, 1);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_TRUE(EchoesThrough(ports[0], "a century of tunnel"));
  std::this_thread::sleep_for(milliseconds(300));
  const std::optional<uint64_t> before = CpuTicks(tether_->pid());
  std::this_thread::sleep_for(seconds(1));
  const std::optional<uint64_t> after = CpuTicks(tether_->pid());
  ASSERT_TRUE(before && after);
  EXPECT_LT(*after - *before, 5u) << "a far deadline must not make the loop spin";
  EXPECT_TRUE(EchoesThrough(ports[0], "still there"));
  ExpectStopsCleanly(ports);
}

INSTANTIATE_TEST_SUITE_P(
    HostileInput, LargestValueTest,
    ::testing::Values(LargestValue{"Ttl100Years", {"--ttl", "36500d"}},
                      LargestValue{"IdleTimeout100Years", {"--idle-timeout", "36500d"}},
                      LargestValue{"Keepalive100Years", {"--keepalive", "36500d"}},
                      LargestValue{"Keepalive1DayTimes1000",
                                   {"--keepalive", "1d", "--keepalive-count", "1000"}}),
    [](const ::testing::TestParamInfo<LargestValue>& row) { return row.param.name; });

// ssh takes any count up to INT_MAX from a config file. 3600 s x 2,600,000 is more than
// INT64_MAX nanoseconds: the silence limit must not wrap around into the past.
TEST_F(HostilePeerTest, ConfigKeepaliveLimitBeyondInt64NanosecondsIsAccepted) {
  TempDir dir;
  const std::string path = dir.Join("keepalive.conf");
  ASSERT_TRUE(WriteFile(path, "ServerAliveInterval 3600\nServerAliveCountMax 2600000\n"));
  chmod(path.c_str(), 0600);
  const std::vector<uint16_t> ports = LaunchReady({"-F", path, "-L", ToEcho()}, 1);
  ASSERT_EQ(ports.size(), 1u);
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_TRUE(EchoesThrough(ports[0], "still alive"));
  ExpectStopsCleanly(ports);
}

// 49d17h2m48s is 2^32 + 704 milliseconds: a timeout kept in a 32-bit int would be 0.7 s.
TEST_F(HostilePeerTest, LongConnectTimeoutIsNotCutShortBySilentServer) {
  ScriptedServer silent([](int fd) {
    pollfd wait{fd, POLLRDHUP, 0};  // Says nothing; returns when stopped or the peer goes.
    while (poll(&wait, 1, 100) == 0) {
    }
  });
  const uint16_t listen_port = FreeTcpPort();
  tether_ = LaunchRaw({"-p", std::to_string(silent.port()), "-i", sshd_->user_key_path(), "-o",
                       "ConnectTimeout=49d17h2m48s", "-L",
                       std::to_string(listen_port) + ":127.0.0.1:7", "user@127.0.0.1"});
  ASSERT_TRUE(tether_);
  ASSERT_TRUE(WaitUntil([&] { return silent.accepted() == 1; }, kReadyTimeout));
  std::this_thread::sleep_for(seconds(2));
  EXPECT_TRUE(tether_->Running()) << "gave up early: " << tether_->Stderr();
  tether_->Signal(SIGTERM);
  EXPECT_EQ(tether_->WaitExit(kExitTimeout), 0);
  ExpectGone(*tether_, {listen_port});
}

/// The first child of `pid` (/proc/PID/task/PID/children), or 0.
pid_t FirstChildOf(pid_t pid) {
  const std::string path =
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children";
  return static_cast<pid_t>(std::atoi(ReadFile(path).c_str()));
}

// -f's foreground process waits for the background one to be up; Ctrl-C must end that
// wait, and the background process with it.
TEST_F(HostilePeerTest, CtrlCWhileDashFWaitsStopsBothProcesses) {
  ScriptedServer silent([](int fd) {
    pollfd wait{fd, POLLRDHUP, 0};  // Says nothing; returns when stopped or the peer goes.
    while (poll(&wait, 1, 100) == 0) {
    }
  });
  const uint16_t listen_port = FreeTcpPort();
  tether_ = LaunchRaw({"-f", "-p", std::to_string(silent.port()), "-i", sshd_->user_key_path(),
                       "-o", "ConnectTimeout=60", "-L",
                       std::to_string(listen_port) + ":127.0.0.1:7", "user@127.0.0.1"});
  ASSERT_TRUE(tether_);
  ASSERT_TRUE(WaitUntil([&] { return silent.accepted() == 1; }, kReadyTimeout));
  const pid_t background = FirstChildOf(tether_->pid());
  ASSERT_GT(background, 0);

  tether_->Signal(SIGINT);
  const std::optional<int> code = tether_->WaitExit(kExitTimeout);
  const bool background_gone = WaitUntil([&] { return ProcessGone(background); }, kExitTimeout);
  if (!background_gone) kill(background, SIGKILL);
  ASSERT_TRUE(code.has_value()) << "Ctrl-C did not end the wait";
  EXPECT_EQ(*code, 0) << tether_->Stderr();
  EXPECT_TRUE(background_gone) << "the background process was left waiting";
  EXPECT_TRUE(Contains(tether_->Stderr(), "stopped by a signal before the tunnel was up"))
      << tether_->Stderr();
  ExpectGone(*tether_, {listen_port});
}

TEST_F(HostilePeerTest, ConfigLineOfExactlyOneMebibyteIsAccepted) {
  TempDir dir;
  const std::string path = dir.Join("big.conf");
  ASSERT_TRUE(WriteFile(path, "# " + std::string(kMiB - 2, 'x') + "\nConnectTimeout 10\n"));
  chmod(path.c_str(), 0600);
  const std::vector<uint16_t> ports = LaunchReady({"-F", path, "-L", ToEcho()}, 1);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_TRUE(EchoesThrough(ports[0], "a big comment is still a comment"));
  ExpectStopsCleanly(ports);
}

}  // namespace
}  // namespace tether::testing
