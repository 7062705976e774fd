// End to end, the data path in a hostile world (the hostile-input reproductions that concern
// the data path): a target that never answers must not freeze the other forwards nor get a
// healthy server declared dead; running out of file descriptors must not spin or flood the
// log; and many clients that never read must not grow tether's memory without bound.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
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

class HostileWorldE2E : public E2EFixture {};

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

}  // namespace
}  // namespace tether::testing
