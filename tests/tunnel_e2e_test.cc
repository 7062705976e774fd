// End-to-end tests of the tether binary against a real sshd: bytes through forwards, the
// fate of one failing client, stop signals, and the startup failures scripts branch on.
// Each test checks the outcome, the exit code, that no process is left behind and that the
// ports are free again.

#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kMiB = 1 << 20;
// Generous, as other test runs may share the machine; yet a stalled stream must fail the
// test well within the time the whole file may take. kIoTimeout bounds each single read or
// write, not a whole transfer.
constexpr milliseconds kManyChannelsIoTimeout = seconds(12);
// sshd's -e log lines that count TCP connections and successful logins.
constexpr char kSshdConnectionLine[] = "Connection from 127.0.0.1";
constexpr char kSshdLoginLine[] = "Accepted publickey";

std::string Target(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

std::string LocalForward(uint16_t listen_port, uint16_t target_port) {
  return std::to_string(listen_port) + ":" + Target(target_port);
}

/// How a read to the end of a stream ended.
enum class StreamEnd { kEof, kError, kOverLimit };

std::ostream& operator<<(std::ostream& out, StreamEnd end) {
  switch (end) {
    case StreamEnd::kEof:
      return out << "EOF";
    case StreamEnd::kError:
      return out << "read error or timeout";
    case StreamEnd::kOverLimit:
      return out << "more bytes than sent";
  }
  return out;
}

/// What came back on a stream: its size and hash, and how it ended.
struct Received {
  uint64_t bytes = 0;
  std::string sha256;
  StreamEnd end = StreamEnd::kError;
  int error = 0;  ///< errno for kError (EAGAIN: the SO_RCVTIMEO ran out).
};

/// Reads until EOF, an error or more than `limit` bytes, hashing what arrives, so that
/// tens of MiB can be checked without keeping them.
Received DrainAndHash(int fd, uint64_t limit) {
  Received out;
  Sha256 hash;
  std::string buffer(256 * 1024, '\0');
  for (;;) {
    ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      out.end = n == 0 ? StreamEnd::kEof : StreamEnd::kError;
      out.error = n == 0 ? 0 : errno;
      break;
    }
    hash.Update(buffer.data(), static_cast<size_t>(n));
    out.bytes += static_cast<uint64_t>(n);
    if (out.bytes > limit) {
      out.end = StreamEnd::kOverLimit;
      break;
    }
  }
  out.sha256 = hash.HexDigest();
  return out;
}

/// Writes `mebibytes` MiB of seeded random data, then shuts the writing side; *sha256 gets
/// the hash of what was sent. False when a write failed.
bool SendRandomThenShutdown(int fd, size_t mebibytes, uint64_t seed, std::string* sha256) {
  Sha256 hash;
  bool ok = true;
  for (size_t i = 0; i < mebibytes && ok; ++i) {
    const std::string chunk = RandomBytes(kMiB, seed + i);
    hash.Update(chunk.data(), chunk.size());
    ok = WriteAll(fd, chunk);
  }
  shutdown(fd, SHUT_WR);
  *sha256 = hash.HexDigest();
  return ok;
}

/// Echoes `payload` chunk by chunk (each echo read before the next chunk goes), half-closes
/// and expects EOF; compares the hashes of what went and came. *why says what went wrong.
bool EchoAndVerify(int fd, const std::string& payload, size_t chunk, std::string* why) {
  Sha256 received;
  std::string back(chunk, '\0');
  for (size_t off = 0; off < payload.size(); off += chunk) {
    const size_t n = std::min(chunk, payload.size() - off);
    if (!WriteAll(fd, payload.data() + off, n) || !ReadExactly(fd, back.data(), n)) {
      *why = "echo broke off at byte " + std::to_string(off) + ": " + strerror(errno);
      return false;
    }
    received.Update(back.data(), n);
  }
  shutdown(fd, SHUT_WR);
  char extra = 0;
  const ssize_t tail = recv(fd, &extra, 1, 0);
  if (tail != 0) {
    *why = "expected EOF after the echo, recv returned " + std::to_string(tail);
    return false;
  }
  if (received.HexDigest() != Sha256Hex(payload)) {
    *why = "echoed bytes differ from the sent ones";
    return false;
  }
  return true;
}

bool AnyLineContains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.find(needle) != std::string::npos;
  });
}

bool HasIpv6Loopback() {
  std::string error;
  return ListenTcp("::1", 0, &error).valid();
}

/// A fresh sshd and echo service per test (E2EFixture); where the machine has IPv6
/// loopback, tether's [::1] listeners must be gone as well.
class TunnelE2E : public E2EFixture {
 protected:
  void ExpectGone(const Subprocess& tether, const std::vector<uint16_t>& ports) override {
    E2EFixture::ExpectGone(tether, ports);
    if (!ipv6_) return;
    for (uint16_t port : ports) {
      EXPECT_TRUE(PortIsFree(port, "::1")) << "[::1]:" << port << " still in use";
    }
  }

  /// TCP connections sshd has logged so far: a test that must not reach the server compares
  /// the count before and after.
  size_t SshdConnections() const {
    return CountOccurrences(sshd_->sshd_log(), kSshdConnectionLine);
  }

  const bool ipv6_ = HasIpv6Loopback();
};

TEST_F(TunnelE2E, SixtyFourMebibytesEachWayKeepTheirHash) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  UniqueFd fd = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(fd);

  constexpr size_t kMebibytes = 64;
  std::string sent_sha256;
  std::atomic<bool> sent_ok{false};
  std::thread writer(
      [&] { sent_ok = SendRandomThenShutdown(fd.get(), kMebibytes, 1000, &sent_sha256); });
  const Received got = DrainAndHash(fd.get(), kMebibytes * kMiB);
  writer.join();

  EXPECT_TRUE(sent_ok);
  EXPECT_EQ(got.end, StreamEnd::kEof) << "recv error " << strerror(got.error);
  EXPECT_EQ(got.bytes, kMebibytes * kMiB);
  EXPECT_EQ(got.sha256, sent_sha256);
  fd.Reset();
  ExpectStopsCleanly(tether, ports);
}

TEST_F(TunnelE2E, HundredConcurrentConnectionsEchoOneMebibyteEach) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  constexpr int kConnections = 100;
  std::vector<UniqueFd> fds;  // All connected first, so that all are open at once.
  for (int i = 0; i < kConnections; ++i) {
    fds.push_back(ConnectLocal(ports[0], kIoTimeout));
    ASSERT_TRUE(fds.back());
    // tether opens one channel at a time, a round trip each: on a busy machine the last
    // client waits seconds for its channel before the first echo can come.
    SetIoTimeout(fds.back().get(), kManyChannelsIoTimeout);
  }

  std::vector<std::string> failures(kConnections);
  std::vector<std::thread> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back([&, i] {
      EchoAndVerify(fds[i].get(), RandomBytes(kMiB, 2000 + i), 64 * 1024, &failures[i]);
    });
  }
  for (std::thread& client : clients) client.join();

  int good = 0;
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_EQ(failures[i], "") << "connection " << i;
    good += failures[i].empty() ? 1 : 0;
  }
  EXPECT_EQ(good, kConnections);
  EXPECT_EQ(echo_.connections_accepted(), kConnections);
  fds.clear();
  ExpectStopsCleanly(tether, ports);
}

// tether skips reading channels that have nothing queued once the SSH socket is drained
// (a wake-up must not cost a syscall per idle channel): a message on any one of many idle
// connections, whichever was opened first or last, must still be noticed and answered.
TEST_F(TunnelE2E, ManyIdleConnectionsEachAnswerAloneInAnyOrder) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  constexpr int kConnections = 300;
  std::vector<UniqueFd> fds;
  for (int i = 0; i < kConnections; ++i) {
    fds.push_back(ConnectLocal(ports[0], kIoTimeout));
    ASSERT_TRUE(fds.back());
    SetIoTimeout(fds.back().get(), kManyChannelsIoTimeout);
  }
  ASSERT_TRUE(EchoOnce(fds.back().get(), "every channel is open once the last one echoes"));
  // Last opened first, then alternately from both ends, one message in flight at a time.
  for (int k = 0; k < kConnections; ++k) {
    const int i = (k % 2 == 0) ? kConnections - 1 - k / 2 : k / 2;
    ASSERT_TRUE(EchoOnce(fds[i].get(), "ping " + std::to_string(i))) << "connection " << i;
  }
  EXPECT_EQ(echo_.connections_accepted(), kConnections);
  fds.clear();
  ExpectStopsCleanly(tether, ports);
}

TEST_F(TunnelE2E, HalfCloseStillDeliversTheWholeEchoThenEof) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  UniqueFd fd = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(fd);

  // The whole MiB goes, and the writing side shuts, before the first echoed byte is read;
  // the 2 MiB channel window alone holds it all.
  std::string sent_sha256;
  const bool sent_ok = SendRandomThenShutdown(fd.get(), 1, 3000, &sent_sha256);
  const Received got = DrainAndHash(fd.get(), kMiB);

  EXPECT_TRUE(sent_ok);
  EXPECT_EQ(got.bytes, kMiB);
  EXPECT_EQ(got.sha256, sent_sha256);
  // The echo service shuts its side only after it saw our EOF: this EOF went through both ways.
  EXPECT_EQ(got.end, StreamEnd::kEof) << "recv error " << strerror(got.error);
  EXPECT_TRUE(WaitUntil([&] { return echo_.active_connections() == 0; }, kExitTimeout));
  fd.Reset();
  ExpectStopsCleanly(tether, ports);
}

// A client that asks for a large reply and reads it only a moment later (a script doing
// something else meanwhile) must still get every byte: by then the reply waits inside
// tether, and no new byte from the server will wake it up to pass the rest on.
TEST_F(TunnelE2E, ClientThatReadsLateStillGetsTheWholeReply) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  UniqueFd fd = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(fd);

  std::string sent_sha256;
  const bool sent_ok = SendRandomThenShutdown(fd.get(), 1, 5000, &sent_sha256);
  std::this_thread::sleep_for(milliseconds(500));  // The whole echo reaches tether meanwhile.
  const Received got = DrainAndHash(fd.get(), kMiB);

  EXPECT_TRUE(sent_ok);
  EXPECT_EQ(got.bytes, kMiB);
  EXPECT_EQ(got.sha256, sent_sha256);
  EXPECT_EQ(got.end, StreamEnd::kEof) << "recv error " << strerror(got.error);
  fd.Reset();
  ExpectStopsCleanly(tether, ports);
}

TEST_F(TunnelE2E, RefusedTargetClosesThatClientOnlyAndTheTunnelLivesOn) {
  const uint16_t closed = FreeTcpPort();
  ASSERT_NE(closed, 0);
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports =
      LaunchReady({"-L", LocalForward(0, closed), "-L", LocalForward(0, echo_.port())}, 2, &tether);
  ASSERT_EQ(ports.size(), 2u);

  UniqueFd refused = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(refused);
  const auto start = Clock::now();
  ASSERT_TRUE(WaitReadable(refused.get(), seconds(5))) << "refused client was left hanging";
  char byte = 0;
  EXPECT_EQ(recv(refused.get(), &byte, 1, 0), 0) << "expected EOF: " << strerror(errno);
  EXPECT_LT(Clock::now() - start, seconds(3));
  EXPECT_TRUE(
      WaitUntil([&] { return AnyLineContains(EventLines(*tether), Target(closed)); }, seconds(5)))
      << "no log line names the refused target " << Target(closed);

  UniqueFd good = ConnectLocal(ports[1], kIoTimeout);
  ASSERT_TRUE(good);
  std::string why;
  EXPECT_TRUE(EchoAndVerify(good.get(), RandomBytes(256 * 1024, 4000), 32 * 1024, &why)) << why;
  // The failed forward still answers.
  UniqueFd refused_again = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(refused_again);
  EXPECT_EQ(ReadUntilEof(refused_again.get(), 16), "");
  EXPECT_TRUE(tether->Running());
  ExpectStopsCleanly(tether, ports);
}

TEST_F(TunnelE2E, TwoForwardsShareOneSshConnection) {
  TcpServer greeter(TcpServer::kGreeting, "hello\n");
  ASSERT_TRUE(greeter.ok()) << greeter.error();
  // Baseline: how many sshd processes one connection makes here (privilege separation).
  Subprocess* single = nullptr;
  std::vector<uint16_t> single_ports =
      LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &single);
  ASSERT_EQ(single_ports.size(), 1u);
  UniqueFd probe = ConnectLocal(single_ports[0], kIoTimeout);
  ASSERT_TRUE(probe && EchoOnce(probe.get(), "ping"));
  const size_t baseline = sshd_->ConnectionPids().size();
  ASSERT_GT(baseline, 0u);
  probe.Reset();
  ExpectStopsCleanly(single, single_ports);
  const size_t logins_before = CountOccurrences(sshd_->sshd_log(), kSshdLoginLine);
  const size_t connections_before = SshdConnections();

  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady(
      {"-L", LocalForward(0, echo_.port()), "-L", LocalForward(0, greeter.port())}, 2, &tether);
  ASSERT_EQ(ports.size(), 2u);
  UniqueFd to_echo = ConnectLocal(ports[0], kIoTimeout);
  UniqueFd to_greeter = ConnectLocal(ports[1], kIoTimeout);
  ASSERT_TRUE(to_echo && to_greeter);
  EXPECT_TRUE(EchoOnce(to_echo.get(), "ping"));
  ASSERT_TRUE(WriteAll(to_greeter.get(), "ping"));
  shutdown(to_greeter.get(), SHUT_WR);
  EXPECT_EQ(ReadUntilEof(to_greeter.get(), 100), "hello\nping");

  EXPECT_EQ(sshd_->ConnectionPids().size(), baseline);
  EXPECT_EQ(CountOccurrences(sshd_->sshd_log(), kSshdLoginLine), logins_before + 1);
  EXPECT_EQ(SshdConnections(), connections_before + 1);
  to_echo.Reset();
  to_greeter.Reset();
  ExpectStopsCleanly(tether, ports);
}

/// One stop signal per instance.
class TunnelE2EStopSignal : public TunnelE2E, public ::testing::WithParamInterface<int> {};

TEST_P(TunnelE2EStopSignal, ExitsZeroAndClosesClientsAndPorts) {
  const int signal_number = GetParam();
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  UniqueFd client = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(client && EchoOnce(client.get(), "idle from now on"));

  tether->Signal(signal_number);
  EXPECT_EQ(tether->WaitExit(seconds(2)), 0) << "not stopped within 2 s";
  const std::string expected = std::string("stopped by SIG") + sigabbrev_np(signal_number);
  EXPECT_TRUE(AnyLineContains(EventLines(*tether), expected)) << "no '" << expected << "' line";
  ExpectGone(*tether, ports);
  ASSERT_TRUE(WaitReadable(client.get(), seconds(1)));
  char byte = 0;
  EXPECT_EQ(recv(client.get(), &byte, 1, 0), 0) << "expected EOF: " << strerror(errno);
  EXPECT_TRUE(WaitUntil([&] { return sshd_->ConnectionPids().empty(); }, kExitTimeout));
}

std::string SignalTestName(const ::testing::TestParamInfo<int>& instance) {
  return std::string("SIG") + sigabbrev_np(instance.param);
}

INSTANTIATE_TEST_SUITE_P(TunnelE2E, TunnelE2EStopSignal, ::testing::Values(SIGINT, SIGTERM, SIGHUP),
                         SignalTestName);

TEST_F(TunnelE2E, PortInUseExits73BeforeConnectingAndReleasesOtherPorts) {
  std::string error;
  UniqueFd holder = ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(holder) << error;
  const uint16_t busy = LocalPort(holder.get());
  const uint16_t first = FreeTcpPort();
  ASSERT_NE(first, 0);
  const size_t connections_before = SshdConnections();

  const auto start = Clock::now();
  Subprocess* tether =
      Launch({"-L", LocalForward(first, echo_.port()), "-L", LocalForward(busy, echo_.port())});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), 73);
  EXPECT_LT(Clock::now() - start, seconds(3));
  const std::string err = tether->Stderr();
  EXPECT_EQ(err.rfind("tether: ", 0), 0u) << err;
  EXPECT_NE(err.find(Target(busy)), std::string::npos) << err;
  EXPECT_TRUE(sshd_->ConnectionPids().empty());
  EXPECT_EQ(SshdConnections(), connections_before);
  ExpectGone(*tether, {first});
  EXPECT_TRUE(PortAccepts(busy)) << "our own listener on the busy port was disturbed";
}

TEST_F(TunnelE2E, RefusedServerPortExits69) {
  const uint16_t closed = FreeTcpPort();
  const uint16_t listen = FreeTcpPort();
  ASSERT_TRUE(closed != 0 && listen != 0);
  Subprocess* tether =
      LaunchRaw({"-p", std::to_string(closed), "-i", sshd_->user_key_path(), "-L",
                 LocalForward(listen, echo_.port()), sshd_->user() + "@127.0.0.1"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(seconds(10)), 69);
  EXPECT_NE(tether->Stderr().find("connect to " + Target(closed)), std::string::npos);
  ExpectGone(*tether, {listen});
}

TEST_F(TunnelE2E, UnknownHostNameExits69) {
  const uint16_t listen = FreeTcpPort();
  ASSERT_NE(listen, 0);
  Subprocess* tether =
      LaunchRaw({"-p", std::to_string(sshd_->port()), "-i", sshd_->user_key_path(), "-L",
                 LocalForward(listen, echo_.port()), sshd_->user() + "@nonexistent.invalid"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(seconds(20)), 69);
  EXPECT_NE(tether->Stderr().find("resolve"), std::string::npos);
  EXPECT_NE(tether->Stderr().find("nonexistent.invalid"), std::string::npos);
  ExpectGone(*tether, {listen});
}

TEST_F(TunnelE2E, IdleTunnelUsesNoCpu) {
  Subprocess* tether = nullptr;
  std::vector<uint16_t> ports = LaunchReady({"-L", LocalForward(0, echo_.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  UniqueFd client = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(client && EchoOnce(client.get(), "then idle"));
  std::this_thread::sleep_for(milliseconds(300));  // Let the first echo's work finish.

  const std::optional<uint64_t> before = CpuTicks(tether->pid());
  std::this_thread::sleep_for(seconds(1));
  const std::optional<uint64_t> after = CpuTicks(tether->pid());
  ASSERT_TRUE(before && after);
  EXPECT_LT(*after - *before, 5u) << "ticks of CPU in one idle second (" << sysconf(_SC_CLK_TCK)
                                  << " per second)";
  EXPECT_TRUE(EchoOnce(client.get(), "still works"));
  client.Reset();
  ExpectStopsCleanly(tether, ports);
}

/// Checks a usage failure: exit 64 and exactly one line on stderr, starting "tether: ".
void ExpectUsageError(Subprocess* tether) {
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), 64);
  const std::string err = tether->Stderr();
  ASSERT_FALSE(err.empty()) << "no message on stderr";
  EXPECT_EQ(err.rfind("tether: ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(err.back(), '\n') << err;
}

TEST_F(TunnelE2E, MalformedForwardSpecsAreUsageErrors) {
  const std::string target = Target(echo_.port());
  const std::vector<std::string> specs = {
      "1:2:3:4:5",             // five fields
      "70000:" + target,       // listen port out of range
      "8080::80",              // missing target host
      "",                      // empty
      "http:" + target,        // non-numeric port
      "[::1:8080:" + target,   // unclosed bracket
      "8080:127.0.0.1:0",      // target port 0
      "8080:127.0.0.1",        // no target port
      "8080:127.0.0.1:99999",  // target port out of range
      "8080:127.0.0.1:-1",     // negative target port
      "8080:bad host:80",      // space in host
      "8080:127.0.0.1:80\nx",  // control character
  };
  const size_t connections_before = SshdConnections();
  for (const std::string& spec : specs) {
    SCOPED_TRACE("-L '" + spec + "'");
    ExpectUsageError(Launch({"-L", spec}));
  }
  EXPECT_TRUE(sshd_->ConnectionPids().empty());
  EXPECT_EQ(SshdConnections(), connections_before);
}

TEST_F(TunnelE2E, UnknownFlagAndMissingHostAreUsageErrors) {
  const std::string forward = LocalForward(0, echo_.port());
  const size_t connections_before = SshdConnections();
  {
    SCOPED_TRACE("unknown flag");
    ExpectUsageError(Launch({"--frobnicate", "-L", forward}));
  }
  {
    SCOPED_TRACE("missing host");
    ExpectUsageError(LaunchRaw({"-p", std::to_string(sshd_->port()), "-L", forward}));
  }
  {
    SCOPED_TRACE("empty host");
    ExpectUsageError(LaunchRaw({"-p", std::to_string(sshd_->port()), "-L", forward, "user@"}));
  }
  EXPECT_TRUE(sshd_->ConnectionPids().empty());
  EXPECT_EQ(SshdConnections(), connections_before);
}

}  // namespace
}  // namespace tether::testing
