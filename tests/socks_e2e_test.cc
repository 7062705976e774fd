// End-to-end tests of -D (a local SOCKS server) against a real sshd: curl through every SOCKS
// flavour, IPv6 and name targets, the replies for refused and unsupported requests, hostile
// clients that must not hold up a well-behaved one, -D 0 in $TETHER_PORT, and the port freed
// when tether ends.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/param_text.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {
namespace {

using namespace std::string_literals;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kBody[] = "hello through socks";
constexpr milliseconds kIo = seconds(10);

// A reply curl takes as a whole HTTP response; the server sends it before reading the
// request (and echoes the request after it, which curl ignores once it has the body).
std::string HttpResponse() {
  return "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(strlen(kBody)) +
         "\r\nConnection: close\r\n\r\n" + kBody;
}

std::string Port16(uint16_t port) {
  return std::string{static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

std::string Socks5Request(char type, const std::string& address, uint16_t port) {
  return "\x05\x01\x00"s + "\x05\x01\x00"s + type + address + Port16(port);
}

std::string Socks5Name(const std::string& name, uint16_t port) {
  return Socks5Request('\x03', static_cast<char>(name.size()) + name, port);
}

std::string Socks5Ipv4Loopback(uint16_t port) {
  return Socks5Request('\x01', "\x7f\x00\x00\x01"s, port);
}

std::string Socks4Ipv4Loopback(uint16_t port) {
  return "\x04\x01"s + Port16(port) + "\x7f\x00\x00\x01"s + "user" + '\0';
}

// The scratch directory's paths hold no quote.
std::string ShellQuote(const std::string& text) { return "'" + text + "'"; }

const std::string kMethodChoice = "\x05\x00"s;

std::string Socks5Reply(char code) { return "\x05"s + code + "\x00\x01\x00\x00\x00\x00\x00\x00"s; }

// Reads `size` bytes, or what came before EOF or the timeout.
std::string ReadUpTo(int fd, size_t size) {
  std::string out;
  char buffer[512];
  while (out.size() < size) {
    const ssize_t n = recv(fd, buffer, std::min(sizeof(buffer), size - out.size()), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// True when the peer closed (EOF or reset) within `timeout`, whatever came before.
bool ClosedWithin(int fd, milliseconds timeout) {
  SetIoTimeout(fd, timeout);
  char buffer[512];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

class SocksE2E : public E2EFixture {
 protected:
  void SetUp() override {
    E2EFixture::SetUp();
    http_ = std::make_unique<TcpServer>(TcpServer::kGreeting, HttpResponse());
    ASSERT_TRUE(http_->ok()) << http_->error();
  }

  // Starts tether with one -D 0 forward; its port, or 0.
  uint16_t StartSocks(Subprocess** tether) {
    std::vector<uint16_t> ports = LaunchReady({"-D", "0"}, 1, tether);
    return ports.size() == 1 ? ports[0] : 0;
  }

  // curl through the proxy; its stdout (the body) or the failure.
  std::string Curl(const std::string& flag, uint16_t proxy, const std::string& url) {
    std::string output, error;
    if (!RunCommand(
            {"curl", "-sS", "--max-time", "20", flag, "127.0.0.1:" + std::to_string(proxy), url},
            {}, seconds(30), &output, &error)) {
      return "curl failed: " + error + ": " + output;
    }
    return output;
  }

  std::unique_ptr<TcpServer> http_;
};

TEST_F(SocksE2E, CurlGetsThroughWithEverySocksFlavour) {
  Subprocess* tether = nullptr;
  const uint16_t port = StartSocks(&tether);
  ASSERT_NE(port, 0);
  const std::string by_name = "http://localhost:" + std::to_string(http_->port()) + "/";
  const std::string by_address = "http://127.0.0.1:" + std::to_string(http_->port()) + "/";
  EXPECT_EQ(Curl("--socks5-hostname", port, by_name), kBody);
  EXPECT_EQ(Curl("--socks5", port, by_address), kBody);
  EXPECT_EQ(Curl("--socks4a", port, by_name), kBody);
  EXPECT_EQ(Curl("--socks4", port, by_address), kBody);
  EXPECT_GE(http_->connections_accepted(), 4);
  ExpectStopsCleanly(tether, {port});
}

TEST_F(SocksE2E, ReachesAnIpv6TargetAndANameAndCarriesPipelinedData) {
  TcpServer echo6(TcpServer::kEcho, "", "::1");
  if (!echo6.ok()) GTEST_SKIP() << "no IPv6 loopback: " << echo6.error();
  Subprocess* tether = nullptr;
  const uint16_t port = StartSocks(&tether);
  ASSERT_NE(port, 0);
  {
    // Greeting, request and first data in one write: the data must reach the target.
    UniqueFd client = ConnectLocal(port, kIo);
    const std::string ipv6_loopback = std::string(15, '\0') + '\x01';
    ASSERT_TRUE(
        WriteAll(client.get(), Socks5Request('\x04', ipv6_loopback, echo6.port()) + "ping"));
    EXPECT_EQ(ReadUpTo(client.get(), 2 + 10 + 4), kMethodChoice + Socks5Reply('\x00') + "ping");
    EXPECT_TRUE(EchoOnce(client.get(), "over IPv6"));
  }
  {
    UniqueFd client = ConnectLocal(port, kIo);
    ASSERT_TRUE(WriteAll(client.get(), Socks5Name("localhost", echo_.port())));
    EXPECT_EQ(ReadUpTo(client.get(), 12), kMethodChoice + Socks5Reply('\x00'));
    EXPECT_TRUE(EchoOnce(client.get(), "by name"));
  }
  {
    UniqueFd client = ConnectLocal(port, kIo);
    ASSERT_TRUE(WriteAll(client.get(), Socks4Ipv4Loopback(echo_.port()) + "early"));
    EXPECT_EQ(ReadUpTo(client.get(), 8 + 5), "\x00\x5a\x00\x00\x00\x00\x00\x00"s + "early");
    EXPECT_TRUE(EchoOnce(client.get(), "socks4"));
  }
  ExpectStopsCleanly(tether, {port});
}

TEST_F(SocksE2E, RefusedTargetGetsTheRefusedReply) {
  const uint16_t closed = FreeTcpPort();
  ASSERT_NE(closed, 0);
  Subprocess* tether = nullptr;
  const uint16_t port = StartSocks(&tether);
  ASSERT_NE(port, 0);
  {
    UniqueFd client = ConnectLocal(port, kIo);
    ASSERT_TRUE(WriteAll(client.get(), Socks5Ipv4Loopback(closed)));
    EXPECT_EQ(ReadUpTo(client.get(), 12), kMethodChoice + Socks5Reply('\x05'));
    EXPECT_TRUE(ClosedWithin(client.get(), kIo));
  }
  {
    UniqueFd client = ConnectLocal(port, kIo);
    ASSERT_TRUE(WriteAll(client.get(), Socks4Ipv4Loopback(closed)));
    EXPECT_EQ(ReadUpTo(client.get(), 8), "\x00\x5b\x00\x00\x00\x00\x00\x00"s);
    EXPECT_TRUE(ClosedWithin(client.get(), kIo));
  }
  // The tunnel itself is fine.
  UniqueFd client = ConnectLocal(port, kIo);
  ASSERT_TRUE(WriteAll(client.get(), Socks5Ipv4Loopback(echo_.port())));
  EXPECT_EQ(ReadUpTo(client.get(), 12), kMethodChoice + Socks5Reply('\x00'));
  EXPECT_TRUE(EchoOnce(client.get(), "still works"));
  EXPECT_TRUE(
      Contains(tether->Stderr(), "server could not open 127.0.0.1:" + std::to_string(closed)))
      << tether->Stderr();
  ExpectStopsCleanly(tether, {port});
}

TEST_F(SocksE2E, HostileClientsAreAnsweredAndClosedWhileAnotherIsServed) {
  Subprocess* tether = nullptr;
  const uint16_t port = StartSocks(&tether);
  ASSERT_NE(port, 0);

  // A slowloris: one byte of a valid request per second, never finishing within the deadline.
  UniqueFd slow = ConnectLocal(port, kIo);
  std::atomic<bool> slow_stop{false};
  std::thread slow_writer([&] {
    const std::string request = Socks5Name(std::string(200, 'n'), 80);
    for (size_t i = 0; i < request.size() && !slow_stop; ++i) {
      if (send(slow.get(), &request[i], 1, MSG_NOSIGNAL) != 1) return;
      std::this_thread::sleep_for(seconds(1));
    }
  });

  // Truncated, then closed.
  {
    UniqueFd truncated = ConnectLocal(port, kIo);
    ASSERT_TRUE(WriteAll(truncated.get(), "\x05\x01\x00\x05\x01"s));
  }
  // Oversized: a SOCKS4 user id far past the cap.
  UniqueFd oversized = ConnectLocal(port, kIo);
  WriteAll(oversized.get(), "\x04\x01\x00\x50\x7f\x00\x00\x01"s + std::string(8000, 'u'));
  // Not SOCKS at all.
  UniqueFd wrong = ConnectLocal(port, kIo);
  ASSERT_TRUE(WriteAll(wrong.get(), "GET / HTTP/1.1\r\n\r\n"));
  // BIND: command not supported.
  UniqueFd bind = ConnectLocal(port, kIo);
  ASSERT_TRUE(WriteAll(bind.get(), "\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50"s));

  // Meanwhile a well-behaved client is served at once.
  UniqueFd good = ConnectLocal(port, kIo);
  ASSERT_TRUE(WriteAll(good.get(), Socks5Ipv4Loopback(echo_.port())));
  EXPECT_EQ(ReadUpTo(good.get(), 12), kMethodChoice + Socks5Reply('\x00'));
  EXPECT_TRUE(EchoOnce(good.get(), std::string(100000, 'g')));

  EXPECT_EQ(ReadUpTo(bind.get(), 12), kMethodChoice + Socks5Reply('\x07'));
  EXPECT_TRUE(ClosedWithin(bind.get(), kIo));
  EXPECT_TRUE(ClosedWithin(wrong.get(), kIo));
  // The rejection may come as a reply then EOF, or as a reset if bytes were still unread.
  SetIoTimeout(oversized.get(), kIo);
  const std::string answer = ReadUpTo(oversized.get(), 8);
  EXPECT_TRUE(answer.empty() || answer == "\x00\x5b\x00\x00\x00\x00\x00\x00"s) << ParamText(answer);
  EXPECT_TRUE(ClosedWithin(oversized.get(), kIo));

  // The slowloris is cut off at the handshake deadline (10 s), well before it finishes.
  EXPECT_TRUE(ClosedWithin(slow.get(), seconds(20)));
  slow_stop = true;
  slow_writer.join();
  EXPECT_TRUE(Contains(tether->Stderr(), "SOCKS request refused: not complete within 10s"))
      << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), "SOCKS request refused: request longer than 1024 bytes"))
      << tether->Stderr();

  // And still serving.
  UniqueFd after = ConnectLocal(port, kIo);
  ASSERT_TRUE(WriteAll(after.get(), Socks5Ipv4Loopback(echo_.port())));
  EXPECT_EQ(ReadUpTo(after.get(), 12), kMethodChoice + Socks5Reply('\x00'));
  EXPECT_TRUE(EchoOnce(after.get(), "after"));
  ExpectStopsCleanly(tether, {port});
}

TEST_F(SocksE2E, ManyUnfinishedRequestsHoldLittleMemoryAndDelayNobody) {
  Subprocess* tether = nullptr;
  const uint16_t port = StartSocks(&tether);
  ASSERT_NE(port, 0);
  const int64_t before = RssKiB(tether->pid());
  // Each sends a SOCKS4 request whose user id never ends, just under the 1 KiB cap: all stay
  // in their handshake until the deadline.
  constexpr int kClients = 300;
  const std::string partial = "\x04\x01\x00\x50\x7f\x00\x00\x01"s + std::string(1000, 'u');
  std::vector<UniqueFd> pending;
  for (int i = 0; i < kClients; ++i) {
    pending.push_back(ConnectLocal(port, kIo));
    ASSERT_TRUE(pending.back());
    ASSERT_TRUE(WriteAll(pending.back().get(), partial));
  }
  UniqueFd good = ConnectLocal(port, kIo);
  ASSERT_TRUE(WriteAll(good.get(), Socks5Ipv4Loopback(echo_.port())));
  EXPECT_EQ(ReadUpTo(good.get(), 12), kMethodChoice + Socks5Reply('\x00'));
  EXPECT_TRUE(EchoOnce(good.get(), "served among them"));
  // tether has read what they sent, and holds it in bounded buffers.
  EXPECT_TRUE(WaitUntil([&] { return UnreadBytesAtPort(port) == 0; }, kIo));
  const int64_t after = RssKiB(tether->pid());
#if !defined(__SANITIZE_ADDRESS__)
  // 300 handshakes of at most 1 KiB each, plus their bookkeeping: far below 8 MiB.
  EXPECT_LT(after - before, 8 * 1024) << "RSS " << before << " KiB -> " << after << " KiB";
#else
  (void)before;
  (void)after;
#endif
  for (UniqueFd& client : pending) EXPECT_TRUE(ClosedWithin(client.get(), seconds(20)));
  ExpectStopsCleanly(tether, {port});
}

TEST_F(SocksE2E, ListShowsTheDynamicForwardWithItsKind) {
  Subprocess* tether = nullptr;
  // The -L forward is listed first, then the -D one.
  const std::vector<uint16_t> ports = LaunchReady({"-D", "0", "-L", ToEcho("0")}, 2, &tether);
  ASSERT_EQ(ports.size(), 2u);
  const uint16_t port = ports[1];
  const std::string address = "127.0.0.1:" + std::to_string(port);
  for (const bool json : {false, true}) {
    std::vector<std::string> args = {"list"};
    if (json) args.push_back("--json");
    std::string error;
    std::unique_ptr<Subprocess> list = StartTetherRaw(*sshd_, args, {}, &error);
    ASSERT_TRUE(list) << error;
    EXPECT_EQ(list->WaitExit(seconds(30)).value_or(-1), 0) << list->Stderr();
    const std::string out = list->Stdout();
    if (json) {
      EXPECT_TRUE(Contains(out, "{\"listen\": \"" + address +
                                    "\", \"target\": \"socks\", \"port\": " + std::to_string(port) +
                                    ", \"kind\": \"dynamic\"}"))
          << out;
      EXPECT_TRUE(Contains(out, "\"kind\": \"local\"")) << out;
    } else {
      EXPECT_TRUE(Contains(out, address + " (dynamic, SOCKS)")) << out;
    }
  }
  ExpectStopsCleanly(tether, ports);
}

TEST_F(SocksE2E, ForkPrintsTheChosenPortAndTheBackgroundEndsWithItsStarter) {
  // The starter is a script: tether -f prints the address and returns, the script stays.
  std::vector<std::string> argv = {"/bin/sh", "-c", "\"$0\" \"$@\"; echo \"rc=$?\"; exec sleep 30",
                                   TETHER_BINARY};
  const std::vector<std::string> args = TetherArgs(*sshd_, {"-f", "-E", LogPath(), "-D", "0"});
  argv.insert(argv.end(), args.begin(), args.end());
  std::string error;
  std::unique_ptr<Subprocess> script =
      Subprocess::Start(argv, sshd_->ClientProcessOptions(), &error);
  ASSERT_TRUE(script) << error;
  ASSERT_TRUE(WaitUntil([&] { return Contains(script->Stdout(), "rc="); }, kReadyTimeout));
  const std::string out = script->Stdout();
  ASSERT_EQ(out.rfind("127.0.0.1:", 0), 0u) << out << script->Stderr();
  const auto port = static_cast<uint16_t>(std::atoi(out.c_str() + strlen("127.0.0.1:")));
  ASSERT_EQ(out, "127.0.0.1:" + std::to_string(port) + "\nrc=0\n") << script->Stderr();
  UniqueFd client = ConnectLocal(port, kIo);
  ASSERT_TRUE(WriteAll(client.get(), Socks5Ipv4Loopback(echo_.port())));
  EXPECT_EQ(ReadUpTo(client.get(), 12), kMethodChoice + Socks5Reply('\x00'));
  EXPECT_TRUE(EchoOnce(client.get(), "background"));
  client.Reset();

  // The background tether's pid, from its log lines ("... tether[PID]: ...").
  const std::string log = ReadFile(LogPath());
  const size_t at = log.find("tether[");
  ASSERT_NE(at, std::string::npos) << log;
  const pid_t background = std::atoi(log.c_str() + at + strlen("tether["));
  ASSERT_GT(background, 0) << log;
  script->Signal(SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(background); }, kExitTimeout))
      << "the background tether outlived its starter";
  EXPECT_TRUE(PortIsFree(port)) << "port " << port << " still bound";
  EXPECT_TRUE(PortIsFree(port, "::1")) << "port " << port << " still bound on ::1";
}

TEST_F(SocksE2E, AutoPortReachesTheCommandAndTheListenerIsFreedAtTheEnd) {
  const std::string ports_file = scratch_.Join("ports");
  // -L forwards come first, then -D ones, as they are listed in $TETHER_PORTS.
  Subprocess* tether = Launch({"-D", "0", "-L", ToEcho("0"), "--", "/bin/sh", "-c",
                               "echo \"$TETHER_PORT $TETHER_PORTS\" > " + ShellQuote(ports_file)});
  ASSERT_TRUE(tether);
  EXPECT_EQ(tether->WaitExit(kReadyTimeout), 0) << tether->Stderr();
  std::istringstream in(ReadFile(ports_file));
  std::vector<uint16_t> given;
  for (unsigned port = 0; in >> port;) given.push_back(static_cast<uint16_t>(port));
  ASSERT_EQ(given.size(), 3u) << ReadFile(ports_file);
  EXPECT_NE(given[0], 0);
  EXPECT_EQ(given[0], given[1]);
  EXPECT_NE(given[1], given[2]);
  EXPECT_NE(given[2], 0);
  const std::vector<uint16_t> logged = ForwardedIpv4Ports(*tether);
  ASSERT_EQ(logged.size(), 2u) << tether->Stderr();
  EXPECT_EQ(logged, (std::vector<uint16_t>{given[1], given[2]}));
  EXPECT_TRUE(Contains(tether->Stderr(), "127.0.0.1:" + std::to_string(given[2]) + " -> socks"))
      << tether->Stderr();
  ExpectGone(*tether, {given[1], given[2]});
}

}  // namespace
}  // namespace tether::testing
