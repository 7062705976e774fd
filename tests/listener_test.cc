#include "tether/listener.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "support/net_util.h"
#include "support/temp_dir.h"
#include "tether/exit_code.h"
#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

ForwardSpec TcpForward(const std::string& host, uint16_t port) {
  return ForwardSpec{Endpoint{host, port, ""}, Endpoint{"db", 5432, ""}};
}

ForwardSpec UnixForward(const std::string& path) {
  return ForwardSpec{Endpoint{"", 0, path}, Endpoint{"db", 5432, ""}};
}

bool HasIpv6Loopback() {
  std::string error;
  return testing::ListenTcp("::1", 0, &error).valid();
}

// A Unix socket bound at `path`, listening when `listen_too`; closing it leaves the file.
UniqueFd BindUnixSocket(const std::string& path, bool listen_too) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return UniqueFd();
  }
  if (listen_too && listen(fd.get(), 4) != 0) return UniqueFd();
  return fd;
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

struct TcpBindCase {
  std::string name;
  std::string host;
  bool any_port;                            // ask for port 0
  std::vector<std::string> expected_hosts;  // as in Listener::address, before ":PORT"
  bool needs_ipv6 = false;
};

void PrintTo(const TcpBindCase& c, std::ostream* os) { *os << c.name; }

class ListenerTcpTest : public ::testing::TestWithParam<TcpBindCase> {};

TEST_P(ListenerTcpTest, BindsEveryAddressOnOnePort) {
  const TcpBindCase& c = GetParam();
  const bool ipv6 = HasIpv6Loopback();
  if (c.needs_ipv6 && !ipv6) GTEST_SKIP() << "no IPv6 loopback";
  std::vector<std::string> expected_hosts;
  for (const std::string& host : c.expected_hosts) {
    if (host != "[::1]" || ipv6) expected_hosts.push_back(host);
  }
  const uint16_t requested = c.any_port ? 0 : testing::FreeTcpPort();
  ASSERT_TRUE(c.any_port || requested != 0);

  std::vector<Listener> listeners;
  Failure failure;
  ASSERT_TRUE(BindForward(TcpForward(c.host, requested), 3, false, &listeners, &failure))
      << failure.message;
  ASSERT_EQ(listeners.size(), expected_hosts.size());
  const uint16_t port = listeners[0].port;
  EXPECT_NE(port, 0);
  if (!c.any_port) {
    EXPECT_EQ(port, requested);
  }
  for (size_t i = 0; i < listeners.size(); ++i) {
    SCOPED_TRACE(expected_hosts[i]);
    EXPECT_EQ(listeners[i].address, expected_hosts[i] + ":" + std::to_string(port));
    EXPECT_EQ(listeners[i].port, port) << "every address of a forward shares its port";
    EXPECT_EQ(listeners[i].forward_index, 3u);
    std::string host = expected_hosts[i];
    if (host.front() == '[') host = host.substr(1, host.size() - 2);
    std::string error;
    EXPECT_TRUE(testing::ConnectTcp(host, port, &error)) << error;
  }

  const std::string first_host = listeners[0].address.substr(0, listeners[0].address.rfind(':'));
  listeners.clear();
  EXPECT_TRUE(testing::PortIsFree(port, first_host)) << "closing the listeners frees the port";
}

INSTANTIATE_TEST_SUITE_P(
    Listener, ListenerTcpTest,
    ::testing::Values(TcpBindCase{"DefaultIsLoopback", "", false, {"127.0.0.1", "[::1]"}},
                      TcpBindCase{"DefaultAnyPort", "", true, {"127.0.0.1", "[::1]"}},
                      TcpBindCase{"Localhost", "localhost", false, {"127.0.0.1", "[::1]"}},
                      TcpBindCase{"LocalhostAnyPort", "localhost", true, {"127.0.0.1", "[::1]"}},
                      TcpBindCase{"ExplicitIpv4", "127.0.0.1", false, {"127.0.0.1"}},
                      TcpBindCase{"LoopbackRange", "127.0.0.2", false, {"127.0.0.2"}},
                      TcpBindCase{"LoopbackRangeAnyPort", "127.0.0.2", true, {"127.0.0.2"}},
                      TcpBindCase{"ExplicitIpv6", "::1", false, {"[::1]"}, true}),
    [](const ::testing::TestParamInfo<TcpBindCase>& param_info) { return param_info.param.name; });

struct BusyCase {
  std::string name;
  std::string held_address;  // where another socket already listens
  std::string held_text;     // how the message names it
  std::string free_address;  // the forward's other address: must not stay bound
  bool needs_ipv6;
};

void PrintTo(const BusyCase& c, std::ostream* os) { *os << c.name; }

class ListenerBusyTest : public ::testing::TestWithParam<BusyCase> {};

TEST_P(ListenerBusyTest, RefusesAndLeavesNothingBound) {
  const BusyCase& c = GetParam();
  if (c.needs_ipv6 && !HasIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback";
  std::string error;
  UniqueFd held = testing::ListenTcp(c.held_address, 0, &error);
  ASSERT_TRUE(held) << error;
  const uint16_t port = testing::LocalPort(held.get());
  const std::string where = c.held_text + ":" + std::to_string(port);

  std::vector<Listener> listeners;
  Failure failure;
  EXPECT_FALSE(BindForward(TcpForward("", port), 0, false, &listeners, &failure));
  EXPECT_EQ(failure.code, ExitCode::kCannotListen);
  EXPECT_EQ(ToInt(failure.code), 73);
  EXPECT_NE(failure.message.find(where), std::string::npos) << failure.message;
  EXPECT_NE(failure.message.find("in use by pid " + std::to_string(getpid()) + " ("),
            std::string::npos)
      << failure.message;
  EXPECT_TRUE(listeners.empty());
  if (!c.free_address.empty()) {
    EXPECT_TRUE(testing::PortIsFree(port, c.free_address))
        << c.free_address << " stayed bound after the forward failed";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Listener, ListenerBusyTest,
    ::testing::Values(BusyCase{"Ipv4Held", "127.0.0.1", "127.0.0.1", "", false},
                      BusyCase{"Ipv6HeldAfterIpv4Bound", "::1", "[::1]", "127.0.0.1", true}),
    [](const ::testing::TestParamInfo<BusyCase>& param_info) { return param_info.param.name; });

TEST(ListenerTest, BusyPortKeepsListenersOfEarlierForwards) {
  std::string error;
  UniqueFd held = testing::ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(held) << error;
  std::vector<Listener> listeners;
  Failure failure;
  ASSERT_TRUE(BindForward(TcpForward("127.0.0.1", 0), 0, false, &listeners, &failure))
      << failure.message;
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_FALSE(BindForward(TcpForward("127.0.0.1", testing::LocalPort(held.get())), 1, false,
                           &listeners, &failure));
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_TRUE(testing::PortAccepts(listeners[0].port));
}

class ListenerUnixTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }
  std::string path() const { return dir_.Join("forward.sock"); }

  testing::TempDir dir_;
};

TEST_F(ListenerUnixTest, CreatesSocketWithMode0600AndRemovesItWhenDestroyed) {
  const mode_t old_mask = umask(022);
  std::vector<Listener> listeners;
  Failure failure;
  ASSERT_TRUE(BindForward(UnixForward(path()), 2, false, &listeners, &failure)) << failure.message;
  EXPECT_EQ(umask(old_mask), 022) << "the umask was not restored";
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0].address, path());
  EXPECT_EQ(listeners[0].forward_index, 2u);

  struct stat st {};
  ASSERT_EQ(lstat(path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::string error;
  EXPECT_TRUE(testing::ConnectUnix(path(), &error)) << error;

  listeners.clear();
  EXPECT_FALSE(PathExists(path())) << "the socket file outlived its listener";
}

TEST_F(ListenerUnixTest, DoesNotRemoveAFileThatReplacedTheSocket) {
  std::vector<Listener> listeners;
  Failure failure;
  ASSERT_TRUE(BindForward(UnixForward(path()), 0, false, &listeners, &failure)) << failure.message;
  ASSERT_EQ(unlink(path().c_str()), 0);
  ASSERT_TRUE(testing::WriteFile(path(), "successor"));

  listeners.clear();
  EXPECT_EQ(testing::ReadFile(path()), "successor");
}

TEST_F(ListenerUnixTest, DoesNotRemoveASocketThatReplacedIt) {
  std::vector<Listener> listeners;
  Failure failure;
  ASSERT_TRUE(BindForward(UnixForward(path()), 0, false, &listeners, &failure)) << failure.message;
  ASSERT_EQ(unlink(path().c_str()), 0);
  UniqueFd successor = BindUnixSocket(path(), /*listen_too=*/true);
  ASSERT_TRUE(successor);

  listeners.clear();
  std::string error;
  EXPECT_TRUE(testing::ConnectUnix(path(), &error)) << "successor's socket was removed: " << error;
}

TEST_F(ListenerUnixTest, ReplacesStaleSocketFile) {
  ASSERT_TRUE(BindUnixSocket(path(), /*listen_too=*/false));  // closed at once: stale file
  // A second name keeps the stale inode allocated, so a new socket cannot reuse its number.
  const std::string stale_link = dir_.Join("stale-link");
  ASSERT_EQ(link(path().c_str(), stale_link.c_str()), 0);
  struct stat stale {};
  ASSERT_EQ(lstat(stale_link.c_str(), &stale), 0);
  ASSERT_TRUE(S_ISSOCK(stale.st_mode));

  std::vector<Listener> listeners;
  Failure failure;
  ASSERT_TRUE(BindForward(UnixForward(path()), 0, false, &listeners, &failure)) << failure.message;
  struct stat fresh {};
  ASSERT_EQ(lstat(path().c_str(), &fresh), 0);
  EXPECT_NE(fresh.st_ino, stale.st_ino) << "the stale file was not replaced";
  std::string error;
  EXPECT_TRUE(testing::ConnectUnix(path(), &error)) << error;
}

TEST_F(ListenerUnixTest, ASecondListenerOnThePathNamesTheFirstByPid) {
  std::vector<Listener> first;
  Failure failure;
  ASSERT_TRUE(BindForward(UnixForward(path()), 0, false, &first, &failure)) << failure.message;
  std::vector<Listener> second;
  EXPECT_FALSE(BindForward(UnixForward(path()), 0, false, &second, &failure));
  EXPECT_NE(failure.message.find(path() + " is in use by pid " + std::to_string(getpid()) + " ("),
            std::string::npos)
      << failure.message;
}

TEST_F(ListenerUnixTest, RefusesASocketDirectoryThatIsASymbolicLink) {
  const std::string real = dir_.Join("real");
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  const std::string link = dir_.Join("link");
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  std::vector<Listener> listeners;
  Failure failure;
  EXPECT_FALSE(BindForward(UnixForward(link + "/x.sock"), 0, false, &listeners, &failure));
  EXPECT_EQ(failure.code, ExitCode::kCannotListen);
  EXPECT_EQ(failure.message, "cannot listen on " + link + "/x.sock: its directory " + link +
                                 " is a symbolic link (give the directory it points to)");
  EXPECT_FALSE(PathExists(real + "/x.sock"));
}

// A race once found: with the socket's directory swapped for a symbolic link between the
// stale check and the unlink, a root tether deleted a file elsewhere. Here a thread swaps the
// directory's name between the real directory (holding a stale socket) and a victim
// directory (holding a file of the same name) as fast as it can, while the forward binds
// and unbinds again and again: the victim must survive every round.
TEST(ListenerUnixRaceTest, ASwappedDirectoryNeverRedirectsTheStaleCheckOrTheUnlink) {
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string real = dir.Join("real");
  const std::string victim = dir.Join("victim");
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(victim.c_str(), 0700), 0);
  const std::string victim_file = victim + "/forward.sock";
  const std::string swapped = dir.Join("swapped");  // the forward's directory, as named
  ASSERT_EQ(symlink(real.c_str(), swapped.c_str()), 0);
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    const std::string next = dir.Join("next");
    for (int i = 0; !stop; ++i) {
      unlink(next.c_str());
      if (symlink(i % 2 == 0 ? victim.c_str() : real.c_str(), next.c_str()) == 0) {
        rename(next.c_str(), swapped.c_str());
      }
    }
  });
  int deleted = 0;
  for (int round = 0; round < 3000; ++round) {
    if (!PathExists(victim_file)) {
      ASSERT_TRUE(testing::WriteFile(victim_file, "precious"));
    }
    if (!PathExists(real + "/forward.sock")) {
      BindUnixSocket(real + "/forward.sock", /*listen_too=*/false);  // closed: stale
    }
    std::vector<Listener> listeners;
    Failure failure;
    BindForward(UnixForward(swapped + "/forward.sock"), 0, false, &listeners, &failure);
    listeners.clear();
    if (!PathExists(victim_file)) ++deleted;
  }
  stop = true;
  swapper.join();
  EXPECT_EQ(deleted, 0) << "a file outside the socket's directory was deleted";
}

struct RefusedCase {
  std::string name;
  bool live_socket;             // else a regular file
  std::string expected_reason;  // after "cannot listen on PATH: "
};

void PrintTo(const RefusedCase& c, std::ostream* os) { *os << c.name; }

class ListenerUnixRefusedTest : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(ListenerUnixRefusedTest, RefusesAndLeavesThePathAlone) {
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.Join("taken.sock");
  UniqueFd live;
  if (GetParam().live_socket) {
    live = BindUnixSocket(path, /*listen_too=*/true);
    ASSERT_TRUE(live);
  } else {
    ASSERT_TRUE(testing::WriteFile(path, "precious"));
  }

  std::vector<Listener> listeners;
  Failure failure;
  EXPECT_FALSE(BindForward(UnixForward(path), 0, false, &listeners, &failure));
  EXPECT_EQ(failure.code, ExitCode::kCannotListen);
  std::string reason = GetParam().expected_reason;
  const std::string pid_marker = "$PID";
  if (size_t at = reason.find(pid_marker); at != std::string::npos) {
    reason.replace(at, pid_marker.size(), std::to_string(getpid()));
  }
  const std::string expected_start =
      "cannot listen on " + path + ": " + (GetParam().live_socket ? path + " is " : "") + reason;
  EXPECT_EQ(failure.message.substr(0, expected_start.size()), expected_start) << failure.message;
  EXPECT_TRUE(listeners.empty());

  if (GetParam().live_socket) {
    std::string error;
    EXPECT_TRUE(testing::ConnectUnix(path, &error)) << "the live socket was disturbed: " << error;
  } else {
    EXPECT_EQ(testing::ReadFile(path), "precious");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Listener, ListenerUnixRefusedTest,
    ::testing::Values(RefusedCase{"LiveSocket", true, "in use by pid $PID ("},
                      RefusedCase{"RegularFile", false, "the path exists and is not a socket"}),
    [](const ::testing::TestParamInfo<RefusedCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace tether
