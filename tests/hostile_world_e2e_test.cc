// End to end, the data path in a hostile world (the hostile-input reproductions that concern
// the data path): a target that never answers must not freeze the other forwards nor get a
// healthy server declared dead; running out of file descriptors must not spin or flood the
// log; and many clients that never read must not grow tether's memory without bound.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/net_util.h"
#include "support/subprocess.h"
#include "support/tether_process.h"
#include "support/timeouts.h"
#include "tether/connection.h"
#include "tether/window_budget.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

/// A target that accepts no connection: a listener with backlog 0 whose queue is full, so
/// that the kernel drops every further SYN and whoever connects waits for minutes.
class StuckTarget {
 public:
  StuckTarget() {
    std::string error;
    listener_ = ListenTcp("127.0.0.1", 0, &error);
    if (!listener_) return;
    listen(listener_.get(), 0);
    // Fill the accept queue; a connect beyond it would hang, so these are non-blocking.
    for (int i = 0; i < 4; ++i) {
      UniqueFd filler(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port());
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      connect(filler.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
      fillers_.push_back(std::move(filler));
    }
    std::this_thread::sleep_for(milliseconds(100));  // the handshakes that can finish do
  }
  uint16_t port() const { return LocalPort(listener_.get()); }

 private:
  UniqueFd listener_;
  std::vector<UniqueFd> fillers_;
};

/// CPU seconds (user + system) `pid` has used so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// A target that sends every connection the same payload, as fast as each connection takes
/// it, and closes it once all is sent. One thread and small send buffers: a thousand stalled
/// connections cost the test little, and the kernel holds little of what they wait for.
class PayloadSource {
 public:
  explicit PayloadSource(std::string payload) : payload_(std::move(payload)) {
    std::string error;
    listener_ = ListenTcp("127.0.0.1", 0, &error);
    int pipe_fds[2];
    if (!listener_ || pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    stop_read_.Reset(pipe_fds[0]);
    stop_write_.Reset(pipe_fds[1]);
    fcntl(listener_.get(), F_SETFL, O_NONBLOCK);
    thread_ = std::thread([this] { Run(); });
  }
  ~PayloadSource() {
    if (!thread_.joinable()) return;
    WriteAll(stop_write_.get(), "x");
    thread_.join();
  }
  PayloadSource(const PayloadSource&) = delete;
  PayloadSource& operator=(const PayloadSource&) = delete;

  uint16_t port() const { return thread_.joinable() ? LocalPort(listener_.get()) : 0; }
  const std::string& payload() const { return payload_; }
  int accepted() const { return accepted_.load(); }
  /// Connections that took the whole payload.
  int finished() const { return finished_.load(); }
  uint64_t bytes_sent() const { return bytes_sent_.load(); }

 private:
  struct Sending {
    UniqueFd fd;
    size_t sent = 0;
  };

  void Run() {
    std::vector<Sending> sending;
    std::vector<pollfd> polled;
    while (true) {
      polled.assign({{stop_read_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}});
      for (const Sending& each : sending) polled.push_back({each.fd.get(), POLLOUT, 0});
      if (poll(polled.data(), polled.size(), -1) < 0) continue;
      if (polled[0].revents != 0) return;
      for (size_t i = 0; i < sending.size(); ++i) {
        if (polled[i + 2].revents != 0) Send(&sending[i]);
      }
      std::erase_if(sending, [](const Sending& each) { return !each.fd; });
      if (polled[1].revents != 0) Accept(&sending);
    }
  }

  void Accept(std::vector<Sending>* sending) {
    while (true) {
      UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) return;
      const int size = 32 * 1024;
      setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
      ++accepted_;
      sending->push_back({std::move(fd), 0});
    }
  }

  void Send(Sending* each) {
    while (each->sent < payload_.size()) {
      const ssize_t n = send(each->fd.get(), payload_.data() + each->sent,
                             payload_.size() - each->sent, MSG_NOSIGNAL);
      if (n > 0) {
        each->sent += static_cast<size_t>(n);
        bytes_sent_ += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      each->fd.Reset();  // the peer went away
      return;
    }
    ++finished_;
    each->fd.Reset();  // EOF follows the payload
  }

  const std::string payload_;
  UniqueFd listener_;
  UniqueFd stop_read_;
  UniqueFd stop_write_;
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::thread thread_;  ///< Declared last: starts once everything it uses exists.
};

/// A client that never reads, with a small receive buffer and small segments: what it is
/// sent waits in tether rather than in the kernel. (Loopback's 64 KiB segments would let the
/// kernel give tether's end a send buffer of a few MiB: a thousand of them fill the
/// machine's TCP memory and hide tether's own.)
UniqueFd ConnectNeverReading(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int size = 4096;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  const int segment = 1024;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_MAXSEG, &segment, sizeof(segment));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    fd.Reset();
  }
  return fd;
}

/// Waits until the source has sent nothing more for a second (the windows closed), or
/// `timeout` passed. True when it settled.
bool WaitSettled(const PayloadSource& source, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t last = source.bytes_sent();
  int quiet = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(250));
    const uint64_t now = source.bytes_sent();
    quiet = now == last ? quiet + 1 : 0;
    last = now;
    if (quiet == 4) return true;
  }
  return false;
}

/// VmHWM (peak resident memory) of `pid` in KiB, or -1.
int64_t PeakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

class HostileWorldE2E : public E2EFixture {};

/// Many clients at once: the test's descriptor limit (which sshd and tether inherit, as they
/// would from a shell; tether does not raise its own) goes up to the hard limit first.
class HostileWorldManyClientsE2E : public E2EFixture {
 protected:
  static constexpr int kStalledClients = 1000;

  void SetUp() override {
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved_limit_), 0);
    // This process holds the clients and the source's ends; sshd and tether one each per
    // client, plus their own.
    const rlim_t needed = 2 * kStalledClients + 256;
    if (saved_limit_.rlim_max != RLIM_INFINITY && saved_limit_.rlim_max < needed) {
      GTEST_SKIP() << "needs " << needed << " file descriptors; the hard limit is "
                   << saved_limit_.rlim_max;
    }
    rlimit raised = saved_limit_;
    raised.rlim_cur = std::max<rlim_t>(saved_limit_.rlim_cur, needed);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);
    limit_raised_ = true;
    E2EFixture::SetUp();
  }
  void TearDown() override {
    E2EFixture::TearDown();
    if (limit_raised_) setrlimit(RLIMIT_NOFILE, &saved_limit_);
  }

 private:
  rlimit saved_limit_{};
  bool limit_raised_ = false;
};

TEST_F(HostileWorldE2E, StuckTargetLeavesOtherForwardsServedAndTheServerAlive) {
  StuckTarget stuck;
  ASSERT_NE(stuck.port(), 0);
  Subprocess* tether = nullptr;
  // Keepalive silence would be declared after 6 s; the stuck client gives up after 3 s.
  const std::vector<uint16_t> ports =
      LaunchReady({"--keepalive", "2s", "--keepalive-count", "3", "-o", "ConnectTimeout=3", "-L",
                   "0:127.0.0.1:" + std::to_string(stuck.port()), "-L", ToEcho()},
                  2, &tether);
  ASSERT_EQ(ports.size(), 2u);
  UniqueFd waiting = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(waiting.valid());
  std::this_thread::sleep_for(milliseconds(300));  // its open is in flight, and stays so
  UniqueFd other = ConnectLocal(ports[1], kIoTimeout);
  ASSERT_TRUE(other.valid());
  EXPECT_TRUE(EchoOnce(other.get(), "served")) << "a stuck open froze the other forward";
  // Longer than keepalive interval x count: the healthy server must not be declared dead.
  std::this_thread::sleep_for(seconds(8));
  EXPECT_TRUE(tether->Running()) << "a healthy server was declared dead";
  EXPECT_TRUE(EchoOnce(other.get(), "still")) << "the other client lost its connection";
  // The stuck client was closed once ConnectTimeout passed.
  EXPECT_TRUE(WaitReadable(waiting.get(), seconds(1)));
  EXPECT_EQ(ReadUntilEof(waiting.get(), 16), "");
  EXPECT_NE(tether->Stderr().find("did not open 127.0.0.1:" + std::to_string(stuck.port()) +
                                  " within 3s"),
            std::string::npos);
  ExpectSigtermStops(tether, ports);
}

TEST_F(HostileWorldE2E, StuckOpenOnTheOnlySessionDoesNotGetTheServerDeclaredDead) {
  StuckTarget stuck;
  ASSERT_NE(stuck.port(), 0);
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports =
      LaunchReady({"--sessions", "1", "--keepalive", "2s", "--keepalive-count", "3", "-o",
                   "ConnectTimeout=3", "-L", "0:127.0.0.1:" + std::to_string(stuck.port())},
                  1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  UniqueFd waiting = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(waiting.valid());
  // The open slot stays taken (sshd waits for the target for minutes), so liveness must come
  // from a keepalive that needs no slot.
  std::this_thread::sleep_for(seconds(8));
  EXPECT_TRUE(tether->Running()) << "a healthy server was declared dead";
  EXPECT_EQ(tether->Stderr().find("not responding"), std::string::npos);
  ExpectSigtermStops(tether, ports);
}

TEST_F(HostileWorldE2E, OutOfFileDescriptorsPausesAcceptingQuietly) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizers' own checks need descriptors (UBSan's vptr check opens a pipe to probe
  // memory) and report false errors without them: this runs in the plain build only.
  GTEST_SKIP() << "needs free descriptors in the sanitizer runtime";
#endif
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports = LaunchReady({"-L", ToEcho()}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  // Few descriptors left: the clients below exhaust them.
  const rlimit limit{48, 48};
  ASSERT_EQ(prlimit(tether->pid(), RLIMIT_NOFILE, &limit, nullptr), 0);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 120; ++i) {
    std::string error;
    clients.push_back(ConnectTcp("127.0.0.1", ports[0], &error));  // the kernel queues them
  }
  const double cpu_before = CpuSeconds(tether->pid());
  std::this_thread::sleep_for(seconds(3));
  EXPECT_LT(CpuSeconds(tether->pid()) - cpu_before, 0.5) << "accept() spins";
  EXPECT_TRUE(tether->Running());
  // One warning per episode; an episode lasts at least a pause (1 s).
  const size_t warnings = CountOccurrences(tether->Stderr(), "cannot accept clients");
  EXPECT_GE(warnings, 1u) << "descriptors never ran out";
  EXPECT_LE(warnings, 4u) << tether->Stderr().size();
  EXPECT_LT(tether->Stderr().size(), 64u * 1024) << "the log is flooded";
  // Once descriptors are free again, clients are served.
  clients.clear();
  std::this_thread::sleep_for(seconds(2));
  UniqueFd late = ConnectLocal(ports[0], kIoTimeout);
  EXPECT_TRUE(EchoOnce(late.get(), "back")) << "accepting did not resume";
  late.Reset();
  ExpectSigtermStops(tether, ports);
}

// The total cap (WindowBudget::kTotalBuffered, 64 MiB) on what tether holds for clients that
// do not read. Each such client alone is bounded: its 256 KiB buffer (Connection::kBufferSize)
// plus what its channel's window lets the server send, which waits in libssh2's queue (at
// least WindowBudget::kMinWindow, 64 KiB), so 1000 of them hold at least 1000 x 320 KiB =
// 312 MiB on the per-connection bounds alone. With the cap, tether stops reading their
// channels once 64 MiB wait in buffers, their windows close, and what remains is the cap
// plus the windows granted before: about 1000 x 64 KiB (the clients connect together, so
// opens wait and no channel gets WindowBudget::kSettledWindow), more for the first channels,
// which are granted bigger starting windows. The bound allows the cap, twice the smallest
// windows, and 64 MiB for the process itself: 253 MiB, under the 312 MiB the
// per-connection bounds alone allow.
// A client that reads keeps moving past the cap, a little at a time, byte-exact.
TEST_F(HostileWorldManyClientsE2E, ClientsThatNeverReadDoNotGrowMemoryPastTheTotalCap) {
#if defined(__SANITIZE_ADDRESS__)
  // Under ASan, resident memory is mostly the sanitizer's (shadow, quarantine), not tether's.
  GTEST_SKIP() << "measures tether's resident memory: plain build only";
#endif
  PayloadSource source(RandomBytes(size_t{4} * 1024 * 1024, 17));
  ASSERT_NE(source.port(), 0);
  Subprocess* tether = nullptr;
  const std::vector<uint16_t> ports =
      LaunchReady({"-L", "0:127.0.0.1:" + std::to_string(source.port())}, 1, &tether);
  ASSERT_EQ(ports.size(), 1u);
  std::vector<UniqueFd> stalled;
  for (int i = 0; i < kStalledClients; ++i) {
    stalled.push_back(ConnectNeverReading(ports[0]));
    ASSERT_TRUE(stalled.back().valid()) << "client " << i << ": " << strerror(errno);
  }
  ASSERT_TRUE(WaitUntil([&] { return source.accepted() == kStalledClients; }, kReadyTimeout))
      << "channels opened: " << source.accepted();
  ASSERT_TRUE(WaitSettled(source, kReadyTimeout)) << "the stalled clients' data kept flowing";
  const int64_t stalled_rss = RssKiB(tether->pid());

  // One client that reads everything, arriving while the others hold tether over the cap.
  UniqueFd reader = ConnectLocal(ports[0], kIoTimeout);
  ASSERT_TRUE(reader.valid());
  const std::string received = ReadUntilEof(reader.get(), source.payload().size() + 1);
  EXPECT_EQ(received.size(), source.payload().size()) << "the reading client stalled";
  EXPECT_TRUE(received == source.payload()) << "the reading client got other bytes";
  EXPECT_EQ(source.finished(), 1) << "only the reading client takes its whole payload";
  ASSERT_TRUE(WaitSettled(source, kReadyTimeout));
  const int64_t settled_rss = RssKiB(tether->pid());
  const int64_t peak_rss = PeakRssKiB(tether->pid());

  constexpr int64_t kBoundKiB =
      static_cast<int64_t>(WindowBudget::kTotalBuffered +
                           uint64_t{kStalledClients} * 2 * WindowBudget::kMinWindow) /
          1024 +
      64 * 1024;
  static_assert(kBoundKiB < int64_t{kStalledClients} *
                                (Connection::kBufferSize + WindowBudget::kMinWindow) / 1024);
  const std::string numbers = "RSS with the clients stalled " + std::to_string(stalled_rss) +
                              " KiB, after the reader " + std::to_string(settled_rss) +
                              " KiB, peak " + std::to_string(peak_rss) + " KiB; sent " +
                              std::to_string(source.bytes_sent() >> 20) + " MiB";
  RecordProperty("rss", numbers);
  std::cout << numbers << "\n";
  EXPECT_GT(stalled_rss, 0);
  EXPECT_LT(stalled_rss, kBoundKiB) << numbers;
  EXPECT_LT(settled_rss, kBoundKiB) << numbers;
  stalled.clear();
  reader.Reset();
  ExpectSigtermStops(tether, ports);
}

}  // namespace
}  // namespace tether::testing
