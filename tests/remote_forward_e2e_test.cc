// End-to-end tests of -R (remote forwards) against a real sshd: the server listens (on
// loopback, this machine) and every connection to its port reaches a target reached from
// tether's side. Data both ways, a fixed and a server-chosen port ($TETHER_REMOTE_PORTS, -f),
// `tether list`, a refused port (73), an unreachable target, a reconnect, and the server's
// port free right after tether ends (SIGTERM, TTL, `tether stop`; parent death is in
// lifetime_e2e_test.cc).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kPayload = size_t{1} << 20;

// The scratch directory's paths hold no quote.
std::string ShellQuote(const std::string& text) { return "'" + text + "'"; }

// Sends `size` random bytes through 127.0.0.1:`port` (the server's side of a forward to the
// echo service) and reads them back: true when they came back byte for byte.
bool EchoesBulk(uint16_t port, size_t size, uint64_t seed) {
  UniqueFd client = ConnectLocal(port, kIoTimeout);
  if (!client) return false;
  const std::string sent = RandomBytes(size, seed);
  if (!WriteAll(client.get(), sent)) return false;
  shutdown(client.get(), SHUT_WR);
  const std::string back = ReadUntilEof(client.get(), size + 1);
  EXPECT_EQ(back.size(), sent.size());
  return Sha256Hex(back) == Sha256Hex(sent);
}

class RemoteForwardE2E : public E2EFixture {
 protected:
  /// "LISTEN:127.0.0.1:ECHO_PORT" for -R: LISTEN is on the server.
  std::string RemoteToEcho(const std::string& listen) const {
    return listen + ":127.0.0.1:" + std::to_string(echo_.port());
  }

  /// Starts tether with `args` and waits for its `count` remote forwarding lines; their
  /// ports, or {} after a test failure.
  std::vector<uint16_t> LaunchRemote(const std::vector<std::string>& args, size_t count,
                                     Subprocess** tether) {
    *tether = Launch(args);
    if (*tether == nullptr) return {};
    std::vector<uint16_t> ports = WaitForRemoteForwarding(**tether, count, kReadyTimeout);
    EXPECT_EQ(ports.size(), count) << (*tether)->Stderr();
    return ports;
  }

  /// `tether ARGS...` in the client environment, run to its end: its stdout.
  std::string RunTether(const std::vector<std::string>& args, int* exit_code) {
    std::unique_ptr<Subprocess> run = StartTetherRaw(*sshd_, args);
    EXPECT_TRUE(run);
    if (!run) return "";
    *exit_code = run->WaitExit(seconds(30)).value_or(-1);
    return run->Stdout();
  }

  /// The server's port is closed right after tether ended, not when sshd gives up on it.
  void ExpectServerPortFree(uint16_t port) {
    EXPECT_NE(port, 0);
    EXPECT_TRUE(PortIsFree(port)) << "the server still listens on 127.0.0.1:" << port;
  }
};

TEST_F(RemoteForwardE2E, FixedPortCarriesBytesBothWaysAndIsFreedOnSigterm) {
  const uint16_t port = FreeTcpPort();
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports =
      LaunchRemote({"-R", RemoteToEcho("127.0.0.1:" + std::to_string(port))}, 1, &tether);
  ASSERT_EQ(ports, std::vector<uint16_t>{port});
  EXPECT_TRUE(
      Contains(tether->Stderr(), "forwarding remote 127.0.0.1:" + std::to_string(port) + " on "))
      << tether->Stderr();
  EXPECT_FALSE(PortIsFree(port)) << "the server does not listen";

  EXPECT_TRUE(EchoesBulk(port, kPayload, 1));
  // Several at once: each is its own channel.
  UniqueFd a = ConnectLocal(port, kIoTimeout);
  UniqueFd b = ConnectLocal(port, kIoTimeout);
  EXPECT_TRUE(EchoOnce(b.get(), "second"));
  EXPECT_TRUE(EchoOnce(a.get(), "first"));
  a.Reset();
  b.Reset();

  ExpectStopsCleanly(tether, {port});
  ExpectServerPortFree(port);
}

TEST_F(RemoteForwardE2E, ServerChosenPortReachesTheCommand) {
  // The command writes what it was given, waits for the test's go, and ends the tunnel.
  const std::string ports_file = scratch_.Join("ports");
  const std::string go_file = scratch_.Join("go");
  Subprocess* tether =
      Launch({"-R", RemoteToEcho("0"), "-R", RemoteToEcho("127.0.0.1:0"), "--", "/bin/sh", "-c",
              "printf %s \"$TETHER_REMOTE_PORTS\" > " + ShellQuote(ports_file) + "; while [ ! -e " +
                  ShellQuote(go_file) + " ]; do sleep 0.1; done"});
  ASSERT_NE(tether, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return !ReadFile(ports_file).empty(); }, kReadyTimeout))
      << tether->Stderr();
  const std::string given = ReadFile(ports_file);
  const std::vector<uint16_t> logged = RemoteForwardPorts(tether->Stderr());
  ASSERT_EQ(logged.size(), 2u) << tether->Stderr();
  EXPECT_EQ(given, std::to_string(logged[0]) + " " + std::to_string(logged[1]));
  EXPECT_NE(logged[0], 0);
  EXPECT_NE(logged[0], logged[1]);
  // No bind address: the server listens on "localhost", which covers 127.0.0.1.
  EXPECT_TRUE(Contains(tether->Stderr(), "forwarding remote localhost:")) << tether->Stderr();
  for (size_t i = 0; i < logged.size(); ++i) EXPECT_TRUE(EchoesBulk(logged[i], 65536, 2 + i));

  WriteFile(go_file, "");
  EXPECT_EQ(tether->WaitExit(kExitTimeout), 0) << tether->Stderr();
  ExpectGone(*tether, {});
  for (uint16_t port : logged) ExpectServerPortFree(port);
}

TEST_F(RemoteForwardE2E, ForkPrintsTheServerPortListsItAndTetherStopFreesIt) {
  int code = -1;
  const std::string out = RunTether(
      TetherArgs(*sshd_, {"-f", "-E", LogPath(), "-R", RemoteToEcho("127.0.0.1:0")}), &code);
  ASSERT_EQ(code, 0) << out << ReadFile(LogPath());
  const std::string prefix = "remote 127.0.0.1:";
  ASSERT_EQ(out.rfind(prefix, 0), 0u) << out;
  const auto port = static_cast<uint16_t>(std::atoi(out.c_str() + prefix.size()));
  ASSERT_EQ(out, prefix + std::to_string(port) + "\n");
  EXPECT_TRUE(EchoesBulk(port, 65536, 7));

  const std::string json = RunTether({"list", "--json"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(Contains(json, "{\"listen\": \"127.0.0.1:" + std::to_string(port) +
                                 "\", \"target\": \"127.0.0.1:" + std::to_string(echo_.port()) +
                                 "\", \"port\": " + std::to_string(port) +
                                 ", \"kind\": \"remote\"}"))
      << json;
  EXPECT_TRUE(Contains(RunTether({"list"}, &code), "remote 127.0.0.1:" + std::to_string(port)));

  // :PORT names a port of this machine: the server's port is not one.
  RunTether({"stop", ":" + std::to_string(port)}, &code);
  EXPECT_NE(code, 0);
  EXPECT_FALSE(PortIsFree(port));
  RunTether({"stop", "all"}, &code);
  EXPECT_EQ(code, 0);
  ExpectTunnelGone(*sshd_, {}, {}, kExitTimeout);
  ExpectServerPortFree(port);
}

TEST_F(RemoteForwardE2E, LocalUnixSocketTarget) {
  const std::string path = scratch_.Join("app.sock");
  UniqueFd app = ListenUnix(path);
  ASSERT_TRUE(app);
  // The app answers one request, in a thread: "ping" -> "pong".
  std::thread serve([&] {
    if (!WaitReadable(app.get(), kReadyTimeout)) return;  // non-blocking: wait for a client
    UniqueFd peer(accept4(app.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char request[4];
    if (peer && SetIoTimeout(peer.get(), kIoTimeout) &&
        ReadExactly(peer.get(), request, sizeof(request))) {
      WriteAll(peer.get(), std::string(request, 4) == "ping" ? "pong" : "what");
    }
  });
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports = LaunchRemote({"-R", "127.0.0.1:0:" + path}, 1, &tether);
  if (ports.size() == 1) {
    UniqueFd client = ConnectLocal(ports[0], kIoTimeout);
    EXPECT_TRUE(WriteAll(client.get(), "ping"));
    char answer[4] = {};
    EXPECT_TRUE(ReadExactly(client.get(), answer, sizeof(answer)));
    EXPECT_EQ(std::string(answer, 4), "pong");
  }
  serve.join();
  ASSERT_EQ(ports.size(), 1u);
  ExpectStopsCleanly(tether, ports);
}

TEST_F(RemoteForwardE2E, TtlFreesTheServerPort) {
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports =
      LaunchRemote({"--ttl", "2s", "-R", RemoteToEcho("127.0.0.1:0")}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_TRUE(EchoesBulk(ports[0], 4096, 3));
  EXPECT_EQ(tether->WaitExit(seconds(6)), 0) << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), "TTL of 2s reached")) << tether->Stderr();
  ExpectGone(*tether, {});
  ExpectServerPortFree(ports[0]);
}

TEST_F(RemoteForwardE2E, PortTheServerCannotListenOnExits73) {
  std::string error;
  // The server is this machine: a port held here is busy for it too.
  UniqueFd holder = ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(holder) << error;
  const uint16_t port = LocalPort(holder.get());
  Subprocess* tether = Launch({"-R", RemoteToEcho("127.0.0.1:" + std::to_string(port))});
  ASSERT_NE(tether, nullptr);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), 73) << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), "refused to listen")) << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), "127.0.0.1:" + std::to_string(port))) << tether->Stderr();
  EXPECT_FALSE(Contains(tether->Stderr(), "forwarding")) << "reported ready though refused";
  ExpectGone(*tether, {});
  EXPECT_TRUE(SshdIdle());
}

TEST_F(RemoteForwardE2E, UnreachableTargetClosesThatConnectionAndTheTunnelStays) {
  const uint16_t dead = FreeTcpPort();
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports = LaunchRemote(
      {"-R", "127.0.0.1:0:127.0.0.1:" + std::to_string(dead), "-R", RemoteToEcho("127.0.0.1:0")}, 2,
      &tether);
  ASSERT_EQ(ports.size(), 2u);
  UniqueFd client = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(client);
  EXPECT_EQ(ReadUntilEof(client.get(), 16), "") << "a connection to nothing must be closed";
  EXPECT_TRUE(
      WaitForLog(*tether, "cannot connect to 127.0.0.1:" + std::to_string(dead), kIoTimeout))
      << tether->Stderr();
  EXPECT_TRUE(EchoesBulk(ports[1], 65536, 4)) << "the other forward stopped serving";
  ExpectStopsCleanly(tether, {ports[0], ports[1]});
}

TEST_F(RemoteForwardE2E, ReconnectRequestsThePortAgain) {
  const uint16_t port = FreeTcpPort();
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports = LaunchRemote(
      {"--reconnect", "-R", RemoteToEcho("127.0.0.1:" + std::to_string(port))}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_TRUE(EchoesBulk(port, 4096, 5));

  // The server side of the connection dies: its port goes with it, and tether asks again.
  ASSERT_GT(sshd_->SignalConnections(SIGKILL), 0);
  ASSERT_TRUE(WaitForLog(*tether, "reconnected to ", seconds(30))) << tether->Stderr();
  ASSERT_TRUE(
      WaitUntil([&] { return RemoteForwardPorts(tether->Stderr()).size() == 2; }, kIoTimeout))
      << tether->Stderr();
  EXPECT_TRUE(EchoesBulk(port, 65536, 6));
  ExpectStopsCleanly(tether, {port});
}

}  // namespace
}  // namespace tether::testing
