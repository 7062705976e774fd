// End to end, the data path in a hostile world (the hostile-input reproductions that concern
// the data path): a target that never answers must not freeze the other forwards nor get a
// healthy server declared dead; running out of file descriptors must not spin or flood the
// log; and many clients that never read must not grow tether's memory without bound.

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/net_util.h"
#include "support/subprocess.h"
#include "support/tether_process.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kIoTimeout = seconds(10);
constexpr milliseconds kReadyTimeout = seconds(15);

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

class HostileWorldE2E : public E2EFixture {};

TEST_F(HostileWorldE2E, StuckTargetLeavesOtherForwardsServedAndTheServerAlive) {
  StuckTarget stuck;
  ASSERT_NE(stuck.port(), 0);
  Subprocess* tether = nullptr;
  // Keepalive silence would be declared after 6 s; the stuck client gives up after 3 s.
  const std::vector<uint16_t> ports =
      LaunchReady({"--keepalive", "3s", "--keepalive-count", "2", "-o", "ConnectTimeout=3",
                   "-L", "0:127.0.0.1:" + std::to_string(stuck.port()), "-L", ToEcho()},
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
      LaunchReady({"--sessions", "1", "--keepalive", "3s", "--keepalive-count", "2", "-o",
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

}  // namespace
}  // namespace tether::testing
