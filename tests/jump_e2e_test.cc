// End to end: -J / ProxyJump through real sshd instances, each with its own host key. The
// client's HOME, key and known_hosts are the first server's; the other servers authorize the
// same user key. Every hop is 127.0.0.1 on its own port, so known_hosts tells them apart by
// "[127.0.0.1]:PORT", as ssh does.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
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
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kExitOk = 0;
constexpr int kExitConfig = 65;
constexpr int kExitUnreachable = 69;
constexpr int kExitConnectionLost = 74;
constexpr int kExitNotTrusted = 77;
constexpr size_t kMiB = 1024 * 1024;

/// E2EFixture, whose sshd is the jump host (the client's HOME is its), and a target server
/// behind it.
class JumpE2E : public E2EFixture {
 protected:
  void SetUp() override {
    E2EFixture::SetUp();
    if (HasFatalFailure()) return;
    jump_ = sshd_.get();
    std::string error;
    target_ = StartServerFor(*jump_, &error);
    ASSERT_NE(target_, nullptr) << error;
    known_hosts_ = jump_->dir() + "/known_hosts_all";
    ASSERT_TRUE(WriteKnownHosts({jump_, target_.get()}));
  }

  std::string MoreDiagnostics() const override {
    return target_ ? "--- target sshd log ---\n" + target_->sshd_log() + "\n" : "";
  }

  // Another server that accepts `client`'s user key; its host key is its own.
  static std::unique_ptr<SshdServer> StartServerFor(const SshdServer& client, std::string* error) {
    SshdConfig config;
    config.write_known_hosts = false;
    config.extra_authorized_keys = {client.user_public_key_line()};
    return SshdServer::Start(config, error);
  }

  bool WriteKnownHosts(const std::vector<const SshdServer*>& servers) {
    std::string lines;
    for (const SshdServer* server : servers) lines += server->known_hosts_line() + "\n";
    return WriteFile(known_hosts_, lines);
  }

  // A Host block reaching `server` with the client's key and the shared known_hosts.
  std::string Block(const std::string& name, uint16_t port, const std::string& extra = "",
                    const std::string& key = "") const {
    return "Host " + name + "\n  HostName 127.0.0.1\n  Port " + std::to_string(port) + "\n  User " +
           jump_->user() + "\n  IdentityFile " + (key.empty() ? jump_->user_key_path() : key) +
           "\n  IdentitiesOnly yes\n  BatchMode yes\n  UserKnownHostsFile " + known_hosts_ + "\n" +
           extra;
  }

  std::string WriteConfig(const std::string& text) const {
    const std::string path = jump_->dir() + "/jump_config";
    EXPECT_TRUE(WriteFile(path, text));
    return path;
  }

  std::string StandardConfig(const std::string& target_extra = "") const {
    return Block("jump", jump_->port()) + Block("target", target_->port(), target_extra);
  }

  // A configuration that reaches the jump host through `proxy`; known_hosts names its key
  // under the proxy's port.
  std::string ConfigThroughProxy(const FaultProxy& proxy) {
    EXPECT_TRUE(WriteFile(known_hosts_, "[127.0.0.1]:" + std::to_string(proxy.port()) + " " +
                                            jump_->host_public_key_line() + "\n" +
                                            target_->known_hosts_line() + "\n"));
    return WriteConfig(Block("jump", proxy.port()) + Block("target", target_->port()));
  }

  // Starts tether and waits for its forward; returns the local port (0 on failure).
  uint16_t StartReady(const std::vector<std::string>& args, Subprocess** tether) {
    *tether = LaunchRaw(args);
    if (*tether == nullptr || !WaitForForwarding(**tether, 1, kReadyTimeout)) return 0;
    std::vector<uint16_t> ports = ForwardedIpv4Ports(**tether);
    return ports.empty() ? 0 : ports[0];
  }

  /// StartReady through the jump host with keepalives every second, `count` unanswered
  /// ones making a server count as gone: how the silence tests start.
  uint16_t StartWithKeepalive(const std::string& config, int count, Subprocess** tether) {
    return StartReady({"-F", config, "-J", "jump", "--keepalive", "1s", "--keepalive-count",
                       std::to_string(count), "-L", ToEcho(), "target"},
                      tether);
  }

  std::string Logs(const Subprocess* tether) const {
    return Diagnostics(tether, *jump_) + "\n--- target sshd\n" + target_->sshd_log();
  }

  /// sshd logs the reason of a client's goodbye ("Received disconnect ... tether stopping");
  /// for a connection that merely closed it logs none. Waits a moment for the line.
  static bool HeardGoodbye(const SshdServer& server) {
    return WaitUntil([&] { return Contains(server.sshd_log(), "Received disconnect"); },
                     seconds(2));
  }

  // The jump and target servers serve no connection any more.
  bool ServersIdle(milliseconds within = seconds(5)) const {
    return WaitUntil(
        [&] { return jump_->ConnectionPids().empty() && target_->ConnectionPids().empty(); },
        within);
  }

  SshdServer* jump_ = nullptr;  ///< sshd_
  std::unique_ptr<SshdServer> target_;
  std::string known_hosts_;
};

/// Sends `mebibytes` MiB of random bytes through the echo service at `port` while a
/// second thread reads them back; true when the hashes agree.
bool BulkEchoMatches(uint16_t port, size_t mebibytes, std::string* why) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  if (!fd || !SetIoTimeout(fd.get(), seconds(30))) {
    *why = "connect: " + error;
    return false;
  }
  Sha256 sent;
  std::thread writer([&] {
    for (size_t i = 0; i < mebibytes; ++i) {
      const std::string chunk = RandomBytes(kMiB, 1000 + i);
      sent.Update(chunk.data(), chunk.size());
      if (!WriteAll(fd.get(), chunk)) break;
    }
    shutdown(fd.get(), SHUT_WR);
  });
  Sha256 received;
  size_t total = 0;
  std::string buffer(64 * 1024, '\0');
  for (;;) {
    const ssize_t n = recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (n <= 0) break;
    received.Update(buffer.data(), static_cast<size_t>(n));
    total += static_cast<size_t>(n);
  }
  writer.join();
  if (total != mebibytes * kMiB) {
    *why = "got " + std::to_string(total) + " bytes back of " + std::to_string(mebibytes * kMiB);
    return false;
  }
  if (received.HexDigest() != sent.HexDigest()) {
    *why = "echoed bytes differ from the sent ones";
    return false;
  }
  return true;
}

TEST_F(JumpE2E, TwoHopsWithJCarryDataIntact) {
  const std::string config = WriteConfig(StandardConfig());
  Subprocess* tether = nullptr;
  const uint16_t port = StartReady({"-F", config, "-J", "jump", "-L", ToEcho(), "target"}, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  std::string why;
  EXPECT_TRUE(BulkEchoMatches(port, 8, &why)) << why << "\n" << Logs(tether);
  EXPECT_TRUE(BulkEchoMatches(port, 1, &why)) << why << "\n" << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "through jump host jump")) << tether->Stderr();
  // The jump host forwarded the target connection, and both servers let us in once.
  EXPECT_EQ(CountOccurrences(jump_->sshd_log(), "Accepted publickey"), 1u) << Logs(tether);
  EXPECT_EQ(CountOccurrences(target_->sshd_log(), "Accepted publickey"), 1u) << Logs(tether);

  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitOk) << Logs(tether);
  ExpectGone(*tether, {port});
  // Each hop waited for the server behind it to hang up before its own goodbye: the jump
  // host's sshd drops what it has not yet passed on once its session ends.
  EXPECT_TRUE(HeardGoodbye(*target_)) << Logs(tether);
  EXPECT_TRUE(HeardGoodbye(*jump_)) << Logs(tether);
  EXPECT_TRUE(ServersIdle()) << Logs(tether);
}

// -R behind a jump host: the target server listens (on this machine's loopback), and its
// connections come back through both hops; its port is free once tether has ended.
TEST_F(JumpE2E, RemoteForwardThroughAJumpHostCarriesDataAndIsFreed) {
  const std::string config = WriteConfig(StandardConfig());
  Subprocess* tether =
      LaunchRaw({"-F", config, "-J", "jump", "-R",
                 "127.0.0.1:0:127.0.0.1:" + std::to_string(echo_.port()), "target"});
  ASSERT_NE(tether, nullptr);
  const std::vector<uint16_t> ports = WaitForRemoteForwarding(*tether, 1, kReadyTimeout);
  ASSERT_EQ(ports.size(), 1u) << Logs(tether);
  std::string why;
  EXPECT_TRUE(BulkEchoMatches(ports[0], 4, &why)) << why << "\n" << Logs(tether);
  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitOk) << Logs(tether);
  // The cancel and the goodbye went through the jump host before tether exited: the port is
  // free at once (the cancel waits for the server's answer, the jump host's pump running
  // meanwhile) and the target heard tether's goodbye.
  ExpectGone(*tether, {ports[0]});
  EXPECT_TRUE(HeardGoodbye(*target_)) << Logs(tether);
  EXPECT_TRUE(ServersIdle()) << Logs(tether);
}

// A burst of clients over a slow link to the jump host: the pool's extra sessions go through
// the same chain (each its own jump connection) and carry some of the channels.
TEST_F(JumpE2E, BurstIsSpreadOverExtraSessionsThroughTheSameChain) {
  std::string error;
  std::unique_ptr<FaultProxy> proxy = FaultProxy::Start(jump_->port(), &error);
  ASSERT_NE(proxy, nullptr) << error;
  proxy->SetDelay(milliseconds(20));
  const std::string config = ConfigThroughProxy(*proxy);
  Subprocess* tether = nullptr;
  const uint16_t port =
      StartReady({"-F", config, "-J", "jump", "-v", "-L", ToEcho(), "target"}, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 60; ++i) clients.push_back(ConnectLocal(port, seconds(10)));
  for (UniqueFd& client : clients) ASSERT_TRUE(client && EchoOnce(client.get(), "b"));
  EXPECT_GE(CountOccurrences(tether->Stderr(), "carried by session 2"), 1u) << Logs(tether);
  EXPECT_EQ(CountOccurrences(tether->Stderr(), "carried by session 1") +
                CountOccurrences(tether->Stderr(), "carried by session 2") +
                CountOccurrences(tether->Stderr(), "carried by session 3") +
                CountOccurrences(tether->Stderr(), "carried by session 4"),
            60u);
  EXPECT_GE(CountOccurrences(target_->sshd_log(), "Accepted publickey"), 2u) << Logs(tether);
  EXPECT_EQ(CountOccurrences(jump_->sshd_log(), "Accepted publickey"),
            CountOccurrences(target_->sshd_log(), "Accepted publickey"));
  clients.clear();
  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitOk) << Logs(tether);
  ExpectGone(*tether, {port});
  proxy->Stop();
  EXPECT_TRUE(ServersIdle()) << Logs(tether);
}

TEST_F(JumpE2E, ProxyJumpInConfigCarriesDataIntact) {
  const std::string config = WriteConfig(StandardConfig("  ProxyJump jump\n"));
  Subprocess* tether = nullptr;
  const uint16_t port = StartReady({"-F", config, "-L", ToEcho(), "target"}, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  std::string why;
  EXPECT_TRUE(BulkEchoMatches(port, 4, &why)) << why << "\n" << Logs(tether);
  EXPECT_EQ(CountOccurrences(jump_->sshd_log(), "Accepted publickey"), 1u) << Logs(tether);
  tether->Signal(SIGINT);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitOk) << Logs(tether);
  ExpectGone(*tether, {port});
}

TEST_F(JumpE2E, ThreeHopsCarryDataIntact) {
  std::string error;
  std::unique_ptr<SshdServer> middle = StartServerFor(*jump_, &error);
  ASSERT_NE(middle, nullptr) << error;
  ASSERT_TRUE(WriteKnownHosts({jump_, middle.get(), target_.get()}));
  const std::string config = WriteConfig(StandardConfig() + Block("middle", middle->port()));
  Subprocess* tether = nullptr;
  const uint16_t port =
      StartReady({"-F", config, "-J", "jump,middle", "-L", ToEcho(), "target"}, &tether);
  ASSERT_NE(port, 0) << Logs(tether) << "\n--- middle sshd\n" << middle->sshd_log();
  std::string why;
  EXPECT_TRUE(BulkEchoMatches(port, 4, &why)) << why << "\n" << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "through jump hosts jump, middle")) << tether->Stderr();
  EXPECT_EQ(CountOccurrences(middle->sshd_log(), "Accepted publickey"), 1u);
  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitOk) << Logs(tether);
  ExpectGone(*tether, {port});
  EXPECT_TRUE(WaitUntil([&] { return middle->ConnectionPids().empty(); }, seconds(5)));
  EXPECT_TRUE(ServersIdle());
}

TEST_F(JumpE2E, ChangedHostKeyOnFinalHopExits77AndLeavesNothing) {
  // The target's entry carries the jump host's key: the target's real key is "changed".
  ASSERT_TRUE(WriteFile(known_hosts_, jump_->known_hosts_line() +
                                          "\n[127.0.0.1]:" + std::to_string(target_->port()) + " " +
                                          jump_->host_public_key_line() + "\n"));
  const std::string config = WriteConfig(StandardConfig());
  const uint16_t port = FreeTcpPort();
  Subprocess* tether =
      LaunchRaw({"-F", config, "-J", "jump", "-L", ToEcho(std::to_string(port)), "target"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitNotTrusted) << Logs(tether);
  EXPECT_FALSE(Contains(tether->Stderr(), "tether: jump host")) << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), "changed") || Contains(tether->Stderr(), "CHANGED"))
      << tether->Stderr();
  ExpectGone(*tether, {port});
  EXPECT_TRUE(ServersIdle()) << Logs(tether);
  EXPECT_EQ(CountOccurrences(target_->sshd_log(), "Accepted publickey"), 0u);
}

TEST_F(JumpE2E, ChangedHostKeyOnJumpHostNamesIt) {
  ASSERT_TRUE(WriteFile(known_hosts_, "[127.0.0.1]:" + std::to_string(jump_->port()) + " " +
                                          target_->host_public_key_line() + "\n" +
                                          target_->known_hosts_line() + "\n"));
  const std::string config = WriteConfig(StandardConfig());
  const size_t target_connections = CountOccurrences(target_->sshd_log(), "Connection from");
  Subprocess* tether = LaunchRaw({"-F", config, "-J", "jump", "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitNotTrusted) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "tether: jump host jump: ")) << tether->Stderr();
  ExpectGone(*tether, {});
  EXPECT_EQ(CountOccurrences(target_->sshd_log(), "Connection from"), target_connections);
}

TEST_F(JumpE2E, JumpHostAuthFailureExits77) {
  const std::string other_key = jump_->dir() + "/unknown_key";
  ASSERT_FALSE(SshdServer::MakeUserKey(other_key, "ed25519", "").empty());
  const std::string config =
      WriteConfig(Block("jump", jump_->port(), "", other_key) + Block("target", target_->port()));
  Subprocess* tether = LaunchRaw({"-F", config, "-J", "jump", "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitNotTrusted) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "tether: jump host jump: ")) << tether->Stderr();
  ExpectGone(*tether, {});
  EXPECT_TRUE(ServersIdle()) << Logs(tether);
}

TEST_F(JumpE2E, UnreachableJumpHostExits69) {
  const uint16_t closed = FreeTcpPort();
  const std::string config = WriteConfig(StandardConfig());
  const std::string hop = "127.0.0.1:" + std::to_string(closed);
  Subprocess* tether = LaunchRaw({"-F", config, "-J", hop, "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitUnreachable) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "tether: jump host " + hop + ": connect to"))
      << tether->Stderr();
  ExpectGone(*tether, {});
}

TEST_F(JumpE2E, JumpHostThatCannotReachTheTargetExits69) {
  // The target's port is closed: the jump host refuses the channel ("connect failed").
  const uint16_t closed = FreeTcpPort();
  const std::string config = WriteConfig(Block("jump", jump_->port()) + Block("target", closed));
  Subprocess* tether = LaunchRaw({"-F", config, "-J", "jump", "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitUnreachable) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(),
                       "tether: jump host jump: cannot open a channel to "
                       "127.0.0.1:" +
                           std::to_string(closed) + ": "))
      << tether->Stderr();
  ExpectGone(*tether, {});
  EXPECT_TRUE(ServersIdle()) << Logs(tether);
}

TEST_F(JumpE2E, ForwardingRefusedByJumpHostExits69) {
  std::string error;
  SshdConfig strict;
  strict.extra_config = {"AllowTcpForwarding no"};
  strict.write_known_hosts = false;
  std::unique_ptr<SshdServer> closed_jump = SshdServer::Start(strict, &error);
  ASSERT_NE(closed_jump, nullptr) << error;
  ASSERT_TRUE(closed_jump->AddAuthorizedKey(jump_->user_public_key_line()));
  ASSERT_TRUE(WriteKnownHosts({closed_jump.get(), target_.get()}));
  const std::string config =
      WriteConfig(Block("jump", closed_jump->port()) + Block("target", target_->port()));
  Subprocess* tether = LaunchRaw({"-F", config, "-J", "jump", "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitUnreachable) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "tether: jump host jump: cannot open a channel to "))
      << tether->Stderr();
  ExpectGone(*tether, {});
}

TEST_F(JumpE2E, StoppedJumpHostIsDeclaredDeadBy74) {
  const std::string config = WriteConfig(StandardConfig());
  Subprocess* tether = nullptr;
  const uint16_t port = StartWithKeepalive(config, 3, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  std::string why;
  ASSERT_TRUE(BulkEchoMatches(port, 1, &why)) << why;
  // The jump host hangs; TCP still acknowledges, so only keepalives can tell.
  ASSERT_GT(jump_->SignalConnections(SIGSTOP), 0);
  const std::optional<int> code = tether->WaitExit(seconds(10));
  jump_->SignalConnections(SIGCONT);
  EXPECT_EQ(code, kExitConnectionLost) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "jump host jump: server ")) << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), "not responding")) << tether->Stderr();
  ExpectGone(*tether, {port});
}

TEST_F(JumpE2E, BlackholedJumpLinkIsDeclaredDeadBy74) {
  std::string error;
  std::unique_ptr<FaultProxy> proxy = FaultProxy::Start(jump_->port(), &error);
  ASSERT_NE(proxy, nullptr) << error;
  const std::string config = ConfigThroughProxy(*proxy);
  Subprocess* tether = nullptr;
  const uint16_t port = StartWithKeepalive(config, 2, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  proxy->Pause();
  EXPECT_EQ(tether->WaitExit(seconds(10)), kExitConnectionLost) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "jump host jump: ")) << tether->Stderr();
  ExpectGone(*tether, {port});
  proxy->Stop();
}

TEST_F(JumpE2E, StoppedTargetBehindLiveJumpHostIsBlamedOnTheTarget) {
  const std::string config = WriteConfig(StandardConfig());
  Subprocess* tether = nullptr;
  const uint16_t port = StartWithKeepalive(config, 2, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  ASSERT_GT(target_->SignalConnections(SIGSTOP), 0);
  const std::optional<int> code = tether->WaitExit(seconds(10));
  target_->SignalConnections(SIGCONT);
  EXPECT_EQ(code, kExitConnectionLost) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "tether: server " + target_->user() + "@127.0.0.1:" +
                                             std::to_string(target_->port()) + " not responding"))
      << tether->Stderr();
  EXPECT_FALSE(Contains(tether->Stderr(), "tether: jump host")) << tether->Stderr();
  ExpectGone(*tether, {port});
}

TEST_F(JumpE2E, KilledTargetEndsTheRunWith74NamingTheTarget) {
  const std::string config = WriteConfig(StandardConfig());
  Subprocess* tether = nullptr;
  const uint16_t port = StartReady({"-F", config, "-J", "jump", "-L", ToEcho(), "target"}, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  ASSERT_GT(target_->SignalConnections(SIGKILL), 0);
  EXPECT_EQ(tether->WaitExit(seconds(10)), kExitConnectionLost) << Logs(tether);
  EXPECT_FALSE(Contains(tether->Stderr(), "tether: jump host")) << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), "lost")) << tether->Stderr();
  ExpectGone(*tether, {port});
  EXPECT_TRUE(ServersIdle()) << Logs(tether);
}

TEST_F(JumpE2E, ResetJumpLinkExits74NamingTheJumpHost) {
  std::string error;
  std::unique_ptr<FaultProxy> proxy = FaultProxy::Start(jump_->port(), &error);
  ASSERT_NE(proxy, nullptr) << error;
  const std::string config = ConfigThroughProxy(*proxy);
  Subprocess* tether = nullptr;
  const uint16_t port = StartReady({"-F", config, "-J", "jump", "-L", ToEcho(), "target"}, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  proxy->ResetAll();
  EXPECT_EQ(tether->WaitExit(seconds(10)), kExitConnectionLost) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "tether: jump host jump: connection to ")) << Logs(tether);
  ExpectGone(*tether, {port});
  proxy->Stop();
}

// The target's listener is stopped: the jump host's connect succeeds (the kernel accepts),
// but no SSH banner comes, so tether waits in the target's handshake while pumping the jump
// host in the background.
TEST_F(JumpE2E, SilentTargetBehindJumpHostTimesOutWith69) {
  const std::string config = WriteConfig(StandardConfig("  ConnectTimeout 2\n"));
  ASSERT_EQ(kill(target_->sshd_pid(), SIGSTOP), 0);
  Subprocess* tether = LaunchRaw({"-F", config, "-J", "jump", "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether);
  const std::optional<int> code = tether->WaitExit(seconds(15));
  kill(target_->sshd_pid(), SIGCONT);
  EXPECT_EQ(code, kExitUnreachable) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "connection timed out during banner exchange (2s)"))
      << tether->Stderr();
  ExpectGone(*tether, {});
}

TEST_F(JumpE2E, StopSignalWhileWaitingBehindJumpHostExits0) {
  const std::string config = WriteConfig(StandardConfig());
  ASSERT_EQ(kill(target_->sshd_pid(), SIGSTOP), 0);
  const uint16_t port = FreeTcpPort();
  Subprocess* tether =
      LaunchRaw({"-F", config, "-J", "jump", "-L", ToEcho(std::to_string(port)), "target"});
  ASSERT_TRUE(tether);
  // Logged in to the jump host, which connected to the target and passed tether's banner
  // on: the stopped target never reads it, so tether now waits for the target's banner.
  const bool waiting = WaitUntil(
      [&] {
        return CountOccurrences(jump_->sshd_log(), "Accepted publickey") == 1 &&
               UnreadBytesAtPort(target_->port()) > 0;
      },
      kReadyTimeout);
  tether->Signal(SIGTERM);
  const std::optional<int> code = tether->WaitExit(seconds(5));
  kill(target_->sshd_pid(), SIGCONT);
  EXPECT_TRUE(waiting) << Logs(tether);
  EXPECT_EQ(code, kExitOk) << Logs(tether);
  ExpectGone(*tether, {port});
  EXPECT_TRUE(WaitUntil([&] { return jump_->ConnectionPids().empty(); }, seconds(5)));
}

TEST_F(JumpE2E, JNoneOverridesConfigProxyJump) {
  // The configured jump host does not exist: with it the run fails, -J none goes direct.
  const uint16_t closed = FreeTcpPort();
  const std::string config =
      WriteConfig(StandardConfig("  ProxyJump 127.0.0.1:" + std::to_string(closed) + "\n"));
  Subprocess* failing = LaunchRaw({"-F", config, "-L", ToEcho(), "target"});
  ASSERT_TRUE(failing);
  EXPECT_EQ(failing->WaitExit(kExitTimeout), kExitUnreachable) << Logs(failing);
  EXPECT_TRUE(Contains(failing->Stderr(), "jump host 127.0.0.1:")) << failing->Stderr();

  Subprocess* tether = nullptr;
  const uint16_t port = StartReady({"-F", config, "-J", "none", "-L", ToEcho(), "target"}, &tether);
  ASSERT_NE(port, 0) << Logs(tether);
  std::string why;
  EXPECT_TRUE(BulkEchoMatches(port, 1, &why)) << why;
  EXPECT_EQ(CountOccurrences(jump_->sshd_log(), "Accepted publickey"), 0u);
  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitOk) << Logs(tether);
  ExpectGone(*tether, {port});
}

TEST_F(JumpE2E, ProxyJumpLoopExits65) {
  const std::string config = WriteConfig("Host *\n  ProxyJump jump\n" + StandardConfig());
  const size_t jump_connections = CountOccurrences(jump_->sshd_log(), "Connection from");
  Subprocess* tether = LaunchRaw({"-F", config, "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), kExitConfig) << Logs(tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "ProxyJump loop: jump -> jump")) << tether->Stderr();
  EXPECT_EQ(CountOccurrences(jump_->sshd_log(), "Connection from"), jump_connections);
}

}  // namespace
}  // namespace tether::testing
