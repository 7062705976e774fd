// End to end: the session pool against a real sshd. libssh2 opens one channel per round trip
// per session, so when many clients arrive at once tether opens more sessions to the same
// server in the background and spreads the channel opens over them. These tests check what a
// user can see: the channels of a burst are carried by several sessions (tether's log and
// sshd's count of logins agree), a login that needed an answer keeps one session, `--sessions
// 1` keeps one, a lost extra session closes only its own clients, and a server that refuses
// more sessions leaves a working tunnel and a warning.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/fault_proxy.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tether_process.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kReadyTimeout = seconds(15);
constexpr milliseconds kIoTimeout = seconds(10);
constexpr milliseconds kExitTimeout = seconds(10);
// Each way, in front of sshd: opens take a round trip each, so a burst queues long enough for
// an extra session (several round trips to set up) to take part.
constexpr milliseconds kLinkDelay{15};
constexpr size_t kBurst = 30;

/// The session numbers of the "carried by session N" lines of a -v log.
std::set<int> CarryingSessions(const std::string& log) {
  std::set<int> sessions;
  const std::string needle = "carried by session ";
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    sessions.insert(std::atoi(log.c_str() + at + needle.size()));
  }
  return sessions;
}

/// How many "carried by session N" lines of a -v log name each session.
std::map<int, size_t> CarriedCounts(const std::string& log) {
  std::map<int, size_t> counts;
  const std::string needle = "carried by session ";
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    ++counts[std::atoi(log.c_str() + at + needle.size())];
  }
  return counts;
}

pid_t ParentOf(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(stat.substr(paren + 2));
  std::string state;
  pid_t parent = -1;
  rest >> state >> parent;
  return parent;
}

/// Sends one byte on `fd` and reads it back: the client is served.
bool Echoes(int fd) {
  const char byte = 'x';
  if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) return false;
  char back = 0;
  return recv(fd, &back, 1, 0) == 1 && back == byte;
}

class SessionPoolE2E : public E2EFixture {
 protected:
  /// Starts tether through a delaying proxy in front of sshd, with `extra` options, and
  /// waits until its one forward (to the echo service) serves; returns its port or 0.
  uint16_t StartThroughSlowLink(const std::vector<std::string>& extra,
                                const std::string& forward = "") {
    std::string error;
    proxy_ = FaultProxy::Start(sshd_->port(), &error);
    if (proxy_ == nullptr) {
      ADD_FAILURE() << error;
      return 0;
    }
    proxy_->SetDelay(kLinkDelay);
    return StartThrough(proxy_->port(), extra, forward);
  }

  /// Starts tether to sshd through whatever listens on `link_port`.
  uint16_t StartThrough(uint16_t link_port, const std::vector<std::string>& extra,
                        const std::string& forward) {
    const std::string known_hosts = scratch_.Join("proxy_known_hosts");
    std::ofstream(known_hosts) << "[127.0.0.1]:" << link_port << " "
                               << sshd_->host_public_key_line() << "\n";
    std::vector<std::string> args = {"-p",
                                     std::to_string(link_port),
                                     "-i",
                                     sshd_->user_key_path(),
                                     "-o",
                                     "UserKnownHostsFile=" + known_hosts,
                                     "-vv",
                                     "-L",
                                     forward.empty() ? ToEcho() : forward};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(sshd_->user() + "@127.0.0.1");
    tether_ = LaunchRaw(args);
    const size_t forwards = 1 + static_cast<size_t>(std::count(extra.begin(), extra.end(), "-L"));
    if (tether_ == nullptr || !WaitForForwarding(*tether_, forwards, kReadyTimeout)) {
      ADD_FAILURE() << "tether did not start forwarding";
      return 0;
    }
    return ForwardedIpv4Ports(*tether_)[0];
  }

  /// Starts bench/'s delay relay (tether-delay-relay) in front of sshd with round trip
  /// `rtt`; returns the port it listens on, or 0. It runs until the test ends.
  uint16_t StartDelayRelay(const std::string& rtt) {
    const std::string port_file = scratch_.Join("relay_port");
    std::string error;
    relay_ = Subprocess::Start({TETHER_DELAY_RELAY, "--to", std::to_string(sshd_->port()), "--rtt",
                                rtt, "--port-file", port_file},
                               SubprocessOptions{}, &error);
    if (relay_ == nullptr) {
      ADD_FAILURE() << error;
      return 0;
    }
    if (!WaitUntil([&] { return !ReadFile(port_file).empty(); }, seconds(5))) {
      ADD_FAILURE() << "the delay relay did not report its port";
      return 0;
    }
    return static_cast<uint16_t>(std::stoi(ReadFile(port_file)));
  }

  /// Connects `count` clients at once, then checks that each is echoed; keeps them open.
  void Burst(uint16_t port, size_t count = kBurst) {
    for (size_t i = 0; i < count; ++i) clients_.push_back(ConnectLocal(port, kIoTimeout));
    for (UniqueFd& client : clients_) {
      ASSERT_TRUE(client.valid());
      const char byte = 'x';
      ASSERT_EQ(send(client.get(), &byte, 1, MSG_NOSIGNAL), 1);
    }
    for (UniqueFd& client : clients_) {
      char back = 0;
      ASSERT_EQ(recv(client.get(), &back, 1, 0), 1) << "a client of the burst was not served";
    }
  }

  size_t SshdLogins() const { return CountOccurrences(sshd_->sshd_log(), "Accepted publickey"); }

  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<Subprocess> relay_;
  Subprocess* tether_ = nullptr;
  std::vector<UniqueFd> clients_;
};

TEST_F(SessionPoolE2E, BurstIsCarriedBySeveralSessions) {
  const uint16_t port = StartThroughSlowLink({});
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  const std::set<int> sessions = CarryingSessions(tether_->Stderr());
  EXPECT_GE(sessions.size(), 2u) << "every channel of the burst went over one session";
  EXPECT_LE(sessions.size(), 4u) << "more sessions than the default bound";
  EXPECT_GE(SshdLogins(), sessions.size());
  // tether list accounts for every session.
  std::string listed;
  std::string error;
  SubprocessOptions opts = sshd_->ClientProcessOptions();
  opts.stderr_path = "/dev/null";
  ASSERT_TRUE(RunCommand({TETHER_BINARY, "list", "--json"}, opts, seconds(30), &listed, &error))
      << error;
  const size_t at = listed.find("\"sessions\": ");
  ASSERT_NE(at, std::string::npos) << listed;
  EXPECT_GE(std::atoi(listed.c_str() + at + 12), static_cast<int>(sessions.size())) << listed;
  // A second burst still works, over whatever sessions the pool has.
  clients_.clear();
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  ExpectStopsCleanly(tether_, {port});
}

// Channels that came one at a time all went to the first session; a burst that follows is
// spread so that the sessions end up carrying about as many each: the first one leaves the
// burst's opens to the others until they have caught up. The sessions share the link per TCP
// connection, so a session carrying more would give each of its channels less.
TEST_F(SessionPoolE2E, ABurstEndsSpreadEvenlyOverTheSessions) {
  const uint16_t port = StartThroughSlowLink({"--sessions", "4"});
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  ASSERT_TRUE(WaitForLog(*tether_, "session 4 to", kIoTimeout)) << "the pool did not reach 4";
  clients_.clear();
  // Every channel of the first burst closed and released (its CLOSE answered), so that the
  // sessions carry only what follows.
  ASSERT_TRUE(WaitUntil([&] { return CountOccurrences(tether_->Stderr(), " closed: ") >= kBurst; },
                        kIoTimeout));
  std::this_thread::sleep_for(seconds(1));
  const size_t seen = tether_->Stderr().size();
  constexpr size_t kLone = 8;
  std::vector<UniqueFd> lone;
  for (size_t i = 0; i < kLone; ++i) {
    lone.push_back(ConnectLocal(port, kIoTimeout));
    ASSERT_TRUE(lone.back().valid());
    ASSERT_TRUE(Echoes(lone.back().get())) << "lone client " << i << " was not served";
  }
  ASSERT_EQ(CarriedCounts(tether_->Stderr().substr(seen)), (std::map<int, size_t>{{1, kLone}}));
  ASSERT_NO_FATAL_FAILURE(Burst(port, 40));
  const std::map<int, size_t> counts = CarriedCounts(tether_->Stderr().substr(seen));
  std::string spread;
  size_t fewest = SIZE_MAX;
  size_t most = 0;
  for (const auto& [session, carried] : counts) {
    spread += " " + std::to_string(session) + ":" + std::to_string(carried);
    fewest = std::min(fewest, carried);
    most = std::max(most, carried);
  }
  // Left to the first free session, the first one would end with 8 + 40 / 4 = 18 against 10.
  EXPECT_EQ(counts.size(), 4u) << "carried per session:" << spread;
  EXPECT_LE(most - fewest, 3u) << "carried per session:" << spread;
  lone.clear();
  ExpectStopsCleanly(tether_, {port});
}

// A short burst is served by the first session before an extra one is up (each takes several
// round trips to set up); the pool still grows to what the burst asked for, one extra session
// per two waiting opens, so that the next burst finds it ready.
TEST_F(SessionPoolE2E, PoolGrowsToWhatABurstAskedForAfterItIsServed) {
  const uint16_t port = StartThroughSlowLink({"--sessions", "3"});
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(Burst(port, 6));
  clients_.clear();
  EXPECT_TRUE(WaitForLog(*tether_, "session 3 to", kIoTimeout))
      << "the pool stopped growing when the burst was served";
  EXPECT_EQ(tether_->Stderr().find("session 4 to"), std::string::npos) << "grown past --sessions";
  ASSERT_NO_FATAL_FAILURE(Burst(port, 6));
  EXPECT_EQ(CarryingSessions(tether_->Stderr()).count(3), 1u)
      << "the next burst did not use the session grown for it";
  ExpectStopsCleanly(tether_, {port});
}

// Once a burst has grown the pool, connections that come one at a time (a connection pool's
// clients, a shell's) all go to the first session: the extra ones carry only what queues.
// Spread over every session instead, they would split small round trips over several sshd
// processes, which costs their latency on a machine with few cores.
TEST_F(SessionPoolE2E, LoneConnectionsAfterABurstGoToTheFirstSession) {
  const uint16_t port = StartThroughSlowLink({"--sessions", "4"});
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  ASSERT_TRUE(WaitForLog(*tether_, "session 4 to", kIoTimeout)) << "the pool did not reach 4";
  clients_.clear();
  const size_t seen = tether_->Stderr().size();
  std::vector<UniqueFd> lone;
  for (int i = 0; i < 5; ++i) {  // kept open: each one adds to its session's count
    lone.push_back(ConnectLocal(port, kIoTimeout));
    ASSERT_TRUE(lone.back().valid());
    ASSERT_TRUE(Echoes(lone.back().get())) << "lone client " << i << " was not served";
  }
  EXPECT_EQ(CarryingSessions(tether_->Stderr().substr(seen)), std::set<int>{1})
      << tether_->Stderr().substr(seen);
  ExpectStopsCleanly(tether_, {port});
}

// ... except onto a session carrying a bulk download: a new channel's open would wait
// behind the data queued on that session's connection, so a lone client goes to the next one.
TEST_F(SessionPoolE2E, LoneConnectionAvoidsTheSessionOfABulkDownload) {
  constexpr size_t kDownload = size_t{80} * 1024 * 1024;
  TcpServer source(TcpServer::kGreeting, std::string(kDownload, 'd'));
  ASSERT_TRUE(source.ok()) << source.error();
  // bench/'s link model at a 150 ms round trip: a 2 MiB window is the download's limit, so
  // its window grows.
  const uint16_t relay_port = StartDelayRelay("150ms");
  ASSERT_NE(relay_port, 0);
  const uint16_t port = StartThrough(
      relay_port, {"--sessions", "4", "-L", "0:127.0.0.1:" + std::to_string(source.port())}, "");
  ASSERT_NE(port, 0);
  const std::vector<uint16_t> ports = ForwardedIpv4Ports(*tether_);
  ASSERT_EQ(ports.size(), 2u);
  ASSERT_NO_FATAL_FAILURE(Burst(ports[0]));
  ASSERT_TRUE(WaitForLog(*tether_, "session 2 to", kIoTimeout)) << "the pool did not grow";
  clients_.clear();
  size_t seen = tether_->Stderr().size();
  UniqueFd download = ConnectLocal(ports[1], kIoTimeout);
  ASSERT_TRUE(download.valid());
  std::vector<char> chunk(1 << 20);
  // Grown past 2 MiB, what a lone channel starts with: the window was the download's limit.
  // (The burst's channels may still be closing when it opens, so it may start smaller.)
  const auto grown_past_open_window = [&] {
    const std::string log = tether_->Stderr();
    const std::string needle = "receive window grown to ";
    for (size_t at = log.find(needle, seen); at != std::string::npos;
         at = log.find(needle, at + 1)) {
      if (std::atoi(log.c_str() + at + needle.size()) > 2048) return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        if (WaitReadable(download.get(), milliseconds(100))) {
          (void)recv(download.get(), chunk.data(), chunk.size(), 0);
        }
        return grown_past_open_window();
      },
      seconds(30)))
      << "the download's window did not grow";
  const std::set<int> bulk = CarryingSessions(tether_->Stderr().substr(seen));
  ASSERT_EQ(bulk.size(), 1u);
  seen = tether_->Stderr().size();
  UniqueFd lone = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(lone.valid());
  ASSERT_TRUE(Echoes(lone.get()));
  const std::set<int> carrying = CarryingSessions(tether_->Stderr().substr(seen));
  ASSERT_EQ(carrying.size(), 1u);
  EXPECT_NE(*carrying.begin(), *bulk.begin()) << "the lone client went behind the download";
  download.Reset();
  lone.Reset();
  ExpectStopsCleanly(tether_, ports);
}

/// The most setups of extra sessions the -v log shows under way at once.
int MostSetupsAtOnce(const std::string& log) {
  int most = 0;
  const std::string needle = "setting up another session to ";
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    const size_t open = log.find(" (", at + needle.size());
    if (open != std::string::npos) most = std::max(most, std::atoi(log.c_str() + open + 2));
  }
  return most;
}

// Each extra session takes several round trips to set up: a burst over a long link would
// wait for them one after another. They are set up side by side (on threads of their own),
// and every one of them becomes a session of the pool.
TEST_F(SessionPoolE2E, ExtraSessionsAreSetUpSideBySide) {
  const uint16_t port = StartThroughSlowLink({"--sessions", "4"});
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  EXPECT_TRUE(WaitForLog(*tether_, "session 4 to", kIoTimeout)) << "the pool did not reach 4";
  const std::string log = tether_->Stderr();
  EXPECT_GE(MostSetupsAtOnce(log), 2) << "extra sessions were set up one at a time:\n" << log;
  EXPECT_EQ(log.find("session 5 to"), std::string::npos) << "grown past --sessions";
  EXPECT_EQ(SshdLogins(), 4u);
  ExpectStopsCleanly(tether_, {port});
}

// A stop while extra sessions are being set up (a slow link, a burst just arrived) ends them
// with the rest: the process is gone promptly and its port is free.
TEST_F(SessionPoolE2E, StopWhileSessionsAreBeingSetUpEndsEverything) {
  std::string error;
  proxy_ = FaultProxy::Start(sshd_->port(), &error);
  ASSERT_NE(proxy_, nullptr) << error;
  proxy_->SetDelay(milliseconds(15));
  const uint16_t port = StartThrough(proxy_->port(), {"--sessions", "4"}, "");
  ASSERT_NE(port, 0);
  // Several round trips at 300 ms each way: the setups are still under way at the stop.
  proxy_->SetDelay(milliseconds(300));
  for (size_t i = 0; i < 8; ++i) clients_.push_back(ConnectLocal(port, kIoTimeout));
  ASSERT_TRUE(WaitForLog(*tether_, "setting up another session", kIoTimeout));
  ExpectSigtermStops(tether_, {port});
  EXPECT_EQ(tether_->Stderr().find("session 2 to"), std::string::npos)
      << "a setup finished before the stop: the test did not stop one under way";
}

TEST_F(SessionPoolE2E, SessionsOneKeepsOneSshConnection) {
  const uint16_t port = StartThroughSlowLink({"--sessions", "1"});
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  EXPECT_EQ(CarryingSessions(tether_->Stderr()), std::set<int>{1});
  EXPECT_EQ(SshdLogins(), 1u);
  EXPECT_EQ(proxy_->connections_accepted(), 1);
  ExpectStopsCleanly(tether_, {port});
}

TEST_F(SessionPoolE2E, ExtraSessionLostClosesOnlyItsClientsAndIsReplaced) {
  const uint16_t port = StartThroughSlowLink({});
  ASSERT_NE(port, 0);
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  ASSERT_GE(CarryingSessions(tether_->Stderr()).size(), 2u);
  // sshd's children serve the proxied connections in the order they came: the first one is
  // the first session's, the second the first extra one, which the burst certainly used.
  const std::vector<pid_t> all = sshd_->ConnectionPids();
  std::vector<pid_t> monitors;
  for (pid_t pid : all) {
    if (ParentOf(pid) == sshd_->sshd_pid()) monitors.push_back(pid);
  }
  ASSERT_GE(monitors.size(), 2u);
  ASSERT_EQ(CarryingSessions(tether_->Stderr()).count(2), 1u);
  std::sort(monitors.begin(), monitors.end());
  const pid_t second = monitors[1];
  for (pid_t pid : all) {  // the monitor and the processes under it
    for (pid_t up = pid; up > 1 && up != sshd_->sshd_pid(); up = ParentOf(up)) {
      if (up == second) kill(pid, SIGKILL);
    }
  }
  ASSERT_TRUE(WaitForLog(*tether_, "was lost", kIoTimeout)) << "the loss was not noticed";
  size_t served = 0;
  size_t closed = 0;
  for (UniqueFd& client : clients_) (Echoes(client.get()) ? served : closed)++;
  EXPECT_GT(closed, 0u) << "the lost session carried no client";
  EXPECT_GT(served, 0u) << "clients of the other sessions were closed too";
  EXPECT_TRUE(tether_->Running()) << "losing an extra session ended the tunnel";
  // New clients are served after the loss, and the pool replaces the lost session when
  // opens queue again.
  UniqueFd late = ConnectLocal(port, kIoTimeout);
  EXPECT_TRUE(Echoes(late.get()));
  const int highest = *CarryingSessions(tether_->Stderr()).rbegin();
  clients_.clear();
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  EXPECT_GT(*CarryingSessions(tether_->Stderr()).rbegin(), highest)
      << "no new session replaced the lost one";
  ExpectSigtermStops(tether_, {port});
}

TEST_F(SessionPoolE2E, ServerRefusingMoreSessionsLeavesAWorkingTunnelAndAWarning) {
  // MaxStartups 1: while one connection waits unauthenticated, sshd drops every other new
  // one, as a busy server does.
  std::string error;
  SshdConfig config;
  config.extra_config = {"MaxStartups 1"};
  sshd_ = SshdServer::Start(config, &error);
  ASSERT_NE(sshd_, nullptr) << error;
  const uint16_t port = StartThroughSlowLink({});
  ASSERT_NE(port, 0);
  UniqueFd slot_taker = ConnectLocal(sshd_->port(), kIoTimeout);
  ASSERT_TRUE(slot_taker.valid());
  char banner[64];
  ASSERT_GT(recv(slot_taker.get(), banner, sizeof(banner), 0), 0) << "sshd did not take it";
  ASSERT_NO_FATAL_FAILURE(Burst(port));
  EXPECT_TRUE(WaitForLog(*tether_, "could not open another session", kIoTimeout))
      << "no warning about the refused session";
  EXPECT_EQ(CarryingSessions(tether_->Stderr()), std::set<int>{1});
  EXPECT_TRUE(tether_->Running());
  slot_taker.Reset();
  ExpectStopsCleanly(tether_, {port});
}

// Over a long link a download runs at most window / round trip: a lone channel's window grows
// while the server waits for it, up to its cap.
TEST_F(SessionPoolE2E, WindowGrowsForABulkDownloadOverASlowLink) {
  constexpr size_t kDownload = size_t{80} * 1024 * 1024;
  TcpServer source(TcpServer::kGreeting, std::string(kDownload, 'd'));
  ASSERT_TRUE(source.ok()) << source.error();
  // The link model of bench/: 150 ms round trip, unpaced. A 2 MiB window allows ~14 MB/s,
  // far below what tether and sshd move here even under load: the window is the limit.
  const uint16_t relay_port = StartDelayRelay("150ms");
  ASSERT_NE(relay_port, 0);
  // A second forward, to the echo server, for a connection that stays idle meanwhile (as a
  // download tool's control connection does): it must not halve the download's share.
  const uint16_t port =
      StartThrough(relay_port, {"-L", ToEcho()}, "0:127.0.0.1:" + std::to_string(source.port()));
  ASSERT_NE(port, 0);
  const std::vector<uint16_t> ports = ForwardedIpv4Ports(*tether_);
  ASSERT_EQ(ports.size(), 2u);
  UniqueFd idle = ConnectLocal(ports[1], seconds(60));
  ASSERT_TRUE(idle.valid());
  ASSERT_TRUE(EchoOnce(idle.get(), "idle from now on"));
  UniqueFd client = ConnectLocal(port, seconds(60));
  ASSERT_TRUE(client.valid());
  std::string data(kDownload, '\0');
  ASSERT_TRUE(ReadExactly(client.get(), data.data(), data.size()));
  EXPECT_EQ(data.find_first_not_of('d'), std::string::npos);
  // It grows from 2 MiB by doubling each round trip that brought a quarter of it or more, to 16 MiB
  // when nothing else holds the flow back (a loaded or sanitized build may be the limit
  // itself after the first doubling).
  EXPECT_NE(tether_->Stderr().find("receive window grown to 4096 KiB"), std::string::npos)
      << "the window did not grow for a bulk download beside an idle connection";
  client.Reset();
  idle.Reset();
  ExpectSigtermStops(tether_, ports);
}

}  // namespace
}  // namespace tether::testing
