// End to end: --reconnect against a real sshd that goes away and comes back on the same
// port. While the server is away the listeners stay, clients wait (at most ConnectTimeout),
// `tether list` says "reconnecting" and `tether stop` still works; once it is back, clients
// are served again. A host key that changed meanwhile stops the tunnel (77). Every tunnel
// that ends is checked for exit code, process gone and port free.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/json_reader.h"
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

// The first attempt comes about 1 s after the loss, the next 2 s later: a server back
// within a few seconds is reached well within this.
constexpr milliseconds kReconnectTimeout = seconds(20);

constexpr char kLostLine[] = "; reconnecting";
constexpr char kReconnectedLine[] = "reconnected to ";

/// True when the peer closed `fd` (EOF or reset) rather than the read timing out.
bool ClosedByPeer(int fd) {
  char byte = 0;
  const ssize_t n = recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

class ReconnectE2E : public E2EFixture {
 protected:
  /// Starts `tether --reconnect -L 0:echo EXTRA...` and waits until it serves; returns its
  /// local port (0 after a test failure).
  uint16_t StartReconnecting(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--reconnect", "-L", ToEcho()};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::vector<uint16_t> ports = LaunchReady(args, 1, &tether_);
    return ports.empty() ? 0 : ports[0];
  }

  /// Takes the server away and waits until tether has noticed and keeps its port.
  void LoseServer(uint16_t port) {
    sshd_->Stop();
    ASSERT_TRUE(WaitForLog(*tether_, kLostLine, kReconnectTimeout)) << "loss not noticed";
    ASSERT_FALSE(tether_->exit_code().has_value()) << "tether ended instead of reconnecting";
    EXPECT_FALSE(PortIsFree(port)) << "the listener must stay while reconnecting";
  }

  /// `tether list --json` in the tunnel's environment: the state of our tunnel.
  std::string ListedState() {
    std::string output;
    std::string error;
    SubprocessOptions opts = sshd_->ClientProcessOptions();
    opts.stderr_path = "/dev/null";
    if (!RunCommand({TETHER_BINARY, "list", "--json"}, opts, seconds(30), &output, &error)) {
      ADD_FAILURE() << "tether list --json: " << error << "\n" << output;
      return "";
    }
    std::optional<JsonValue> list = ParseJson(output, &error);
    if (!list || list->kind != JsonValue::Kind::kArray || list->items.size() != 1) {
      ADD_FAILURE() << "expected one tunnel listed: " << error << "\n" << output;
      return "";
    }
    const JsonValue* state = list->items[0].Find("state");
    return state != nullptr && state->IsString() ? state->text : "";
  }

  void ExpectEndsWith(int exit_code, uint16_t port) {
    EXPECT_EQ(tether_->WaitExit(kExitTimeout), exit_code);
    ExpectGone(*tether_, {port});
  }

  Subprocess* tether_ = nullptr;  ///< owned by the fixture
};

TEST_F(ReconnectE2E, ServerRestartedOnTheSamePortServesNewClients) {
  const uint16_t port = StartReconnecting({});
  ASSERT_NE(port, 0);
  UniqueFd before = ConnectLocal(port, kIoTimeout);
  ASSERT_TRUE(EchoOnce(before.get(), "before the restart"));
  EXPECT_EQ(ListedState(), "up");

  LoseServer(port);
  EXPECT_TRUE(ClosedByPeer(before.get())) << "a connection open at the loss is closed";
  EXPECT_EQ(ListedState(), "reconnecting");

  std::string error;
  ASSERT_TRUE(sshd_->Restart(false, &error)) << error;
  ASSERT_TRUE(WaitForLog(*tether_, kReconnectedLine, kReconnectTimeout));
  UniqueFd after = ConnectLocal(port, kIoTimeout);
  EXPECT_TRUE(EchoOnce(after.get(), "after the restart"));
  EXPECT_EQ(ListedState(), "up");
  EXPECT_EQ(CountOccurrences(sshd_->sshd_log(), "Accepted publickey"), 1u)
      << "the restarted server saw one login: the reconnect";

  tether_->Signal(SIGTERM);
  ExpectEndsWith(0, port);
}

TEST_F(ReconnectE2E, ClientArrivingWhileTheServerIsAwayIsServedOnceItIsBack) {
  const uint16_t port = StartReconnecting({});
  ASSERT_NE(port, 0);
  LoseServer(port);

  // Accepted and held: what it sends waits in tether until a channel carries it.
  UniqueFd waiting = ConnectLocal(port, kIoTimeout);
  ASSERT_TRUE(WriteAll(waiting.get(), std::string("sent while away")));
  std::string error;
  ASSERT_TRUE(sshd_->Restart(false, &error)) << error;
  std::string back(15, '\0');
  ASSERT_TRUE(ReadExactly(waiting.get(), back.data(), back.size()));
  EXPECT_EQ(back, "sent while away");

  tether_->Signal(SIGTERM);
  ExpectEndsWith(0, port);
}

TEST_F(ReconnectE2E, WaitingClientIsClosedAfterConnectTimeoutAndTheTunnelWaitsOn) {
  const uint16_t port = StartReconnecting({"-o", "ConnectTimeout=2"});
  ASSERT_NE(port, 0);
  LoseServer(port);

  UniqueFd waiting = ConnectLocal(port, kIoTimeout);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(ClosedByPeer(waiting.get())) << "not closed within the I/O timeout";
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(1500))
      << "closed before ConnectTimeout";
  EXPECT_TRUE(WaitForLog(*tether_, "no connection to the server within 2s", kIoTimeout));
  EXPECT_FALSE(tether_->exit_code().has_value());
  EXPECT_TRUE(WaitForLog(*tether_, "(attempt 2)", kReconnectTimeout)) << "attempts go on";

  std::string error;
  ASSERT_TRUE(sshd_->Restart(false, &error)) << error;
  ASSERT_TRUE(WaitForLog(*tether_, kReconnectedLine, kReconnectTimeout));
  UniqueFd after = ConnectLocal(port, kIoTimeout);
  EXPECT_TRUE(EchoOnce(after.get(), "still here"));
  tether_->Signal(SIGTERM);
  ExpectEndsWith(0, port);
}

TEST_F(ReconnectE2E, ChangedHostKeyOnReconnectStopsWithExit77) {
  const uint16_t port = StartReconnecting({});
  ASSERT_NE(port, 0);
  LoseServer(port);
  std::string error;
  ASSERT_TRUE(sshd_->Restart(true, &error)) << error;
  ExpectEndsWith(77, port);
  EXPECT_NE(tether_->Stderr().find("REMOTE HOST IDENTIFICATION HAS CHANGED"), std::string::npos)
      << tether_->Stderr();
  EXPECT_EQ(CountOccurrences(sshd_->sshd_log(), "Accepted publickey"), 0u)
      << "no login to a server whose key changed";
}

TEST_F(ReconnectE2E, TtlEndsAReconnectThatNeverSucceeds) {
  const uint16_t port = StartReconnecting({"--ttl", "4s"});
  ASSERT_NE(port, 0);
  LoseServer(port);
  EXPECT_EQ(tether_->WaitExit(seconds(15)), 0);
  ExpectGone(*tether_, {port});
  EXPECT_NE(tether_->Stderr().find("TTL"), std::string::npos) << tether_->Stderr();
}

// The server's port answers TCP but never speaks SSH (a hung server): the attempt waits in
// the handshake, and meanwhile the loop must go on serving list, stop and new clients.
TEST_F(ReconnectE2E, ListAndStopAnswerWhileAnAttemptHangsInTheHandshake) {
  const uint16_t port = StartReconnecting({"-o", "ConnectTimeout=30"});
  ASSERT_NE(port, 0);
  const uint16_t server_port = sshd_->port();
  LoseServer(port);
  std::string error;
  UniqueFd mute = ListenTcp("127.0.0.1", server_port, &error);  // never accepts
  ASSERT_TRUE(mute.valid()) << error;
  ASSERT_TRUE(WaitForLog(*tether_, "connecting to ", kReconnectTimeout));

  UniqueFd waiting = ConnectLocal(port, kIoTimeout);  // accepted and held, not refused
  EXPECT_EQ(ListedState(), "reconnecting");
  std::string output;
  ASSERT_TRUE(RunCommand({TETHER_BINARY, "stop", std::to_string(tether_->pid())},
                         sshd_->ClientProcessOptions(), seconds(30), &output, &error))
      << error << "\n"
      << output;
  ExpectEndsWith(0, port);
  EXPECT_TRUE(ClosedByPeer(waiting.get()));
}

// A blackholed server (its connection processes stopped) is noticed by the keepalives;
// the next session is a new connection, while the silent one is let go.
TEST_F(ReconnectE2E, ServerThatStopsAnsweringIsReplacedByANewSession) {
  const uint16_t port = StartReconnecting({"--keepalive", "1", "--keepalive-count", "2"});
  ASSERT_NE(port, 0);
  const std::vector<pid_t> silent = sshd_->ConnectionPids();
  ASSERT_FALSE(silent.empty());
  for (pid_t pid : silent) kill(pid, SIGSTOP);
  ASSERT_TRUE(WaitForLog(*tether_, kLostLine, kReconnectTimeout));
  ASSERT_TRUE(WaitForLog(*tether_, kReconnectedLine, kReconnectTimeout));
  for (pid_t pid : silent) kill(pid, SIGKILL);
  UniqueFd after = ConnectLocal(port, kIoTimeout);
  EXPECT_TRUE(EchoOnce(after.get(), "through the new session"));
  tether_->Signal(SIGTERM);
  ExpectEndsWith(0, port);
}

// The whole chain is built again: the jump host's session is gone with the server too.
TEST_F(ReconnectE2E, ReconnectsThroughAJumpHost) {
  const std::string config = sshd_->dir() + "/reconnect_config";
  ASSERT_TRUE(WriteFile(config, "Host jump target\n  HostName 127.0.0.1\n  Port " +
                                    std::to_string(sshd_->port()) + "\n  User " + sshd_->user() +
                                    "\n  IdentityFile " + sshd_->user_key_path() +
                                    "\n  IdentitiesOnly yes\n  BatchMode yes\n"));
  std::string error;
  tether_ = LaunchRaw({"-F", config, "--reconnect", "-J", "jump", "-L", ToEcho(), "target"});
  ASSERT_TRUE(tether_);
  ASSERT_TRUE(WaitForForwarding(*tether_, 1, kReadyTimeout));
  const uint16_t port = ForwardedIpv4Ports(*tether_).at(0);
  LoseServer(port);
  ASSERT_TRUE(sshd_->Restart(false, &error)) << error;
  ASSERT_TRUE(WaitForLog(*tether_, kReconnectedLine, kReconnectTimeout));
  UniqueFd after = ConnectLocal(port, kIoTimeout);
  EXPECT_TRUE(EchoOnce(after.get(), "through the jump host again"));
  EXPECT_EQ(CountOccurrences(sshd_->sshd_log(), "Accepted publickey"), 2u)
      << "the jump host and the destination each logged in again";
  tether_->Signal(SIGTERM);
  ExpectEndsWith(0, port);
}

TEST_F(ReconnectE2E, EveryAttemptIsAnEventInTheJsonLog) {
  // The forwarding line is JSON too: a fixed port instead of 0.
  const uint16_t port = FreeTcpPort();
  std::string error;
  tether_ = Launch({"--reconnect", "--log-format", "json", "-L", ToEcho(std::to_string(port))});
  ASSERT_TRUE(tether_);
  ASSERT_TRUE(WaitForLog(*tether_, "\"forward_listening\"", kReadyTimeout));
  sshd_->Stop();
  // Attempt 1 is refused (the server is away); attempt 2 reaches the restarted server.
  ASSERT_TRUE(WaitForLog(*tether_, "\"reconnect_failed\"", kReconnectTimeout));
  ASSERT_TRUE(sshd_->Restart(false, &error)) << error;
  ASSERT_TRUE(WaitForLog(*tether_, "\"reconnected\"", kReconnectTimeout));
  tether_->Signal(SIGTERM);
  ExpectEndsWith(0, port);

  std::vector<std::string> events;
  std::vector<std::string> attempts;
  std::istringstream lines(tether_->Stderr());
  for (std::string line; std::getline(lines, line);) {
    std::optional<JsonValue> object = ParseJsonObjectLine(line, &error);
    ASSERT_TRUE(object) << error << ": " << line;
    const std::string event = object->Find("event")->text;
    if (event.rfind("reconnect", 0) != 0 && event != "connection_lost") continue;
    events.push_back(event);
    const JsonValue* attempt = object->Find("attempt");
    ASSERT_TRUE(attempt != nullptr && attempt->IsNumber()) << line;
    attempts.push_back(attempt->text);
  }
  ASSERT_GE(events.size(), 5u) << tether_->Stderr();
  EXPECT_EQ(events.front(), "connection_lost");
  EXPECT_EQ(events.back(), "reconnected");
  EXPECT_EQ(std::count(events.begin(), events.end(), "reconnect_attempt"),
            std::count(events.begin(), events.end(), "reconnect_failed") + 1)
      << "each attempt logged, and each but the last failed";
  EXPECT_EQ(attempts.back(),
            std::to_string(std::count(events.begin(), events.end(), "reconnect_attempt")));
}

// The loss lands in the middle of traffic: sends partly written, channels with data queued.
// Every client then sees its connection closed (none hangs), and the next session carries
// fresh data intact.
TEST_F(ReconnectE2E, LossUnderFullTrafficClosesEveryClientAndTheNextSessionWorks) {
  const uint16_t port = StartReconnecting({});
  ASSERT_NE(port, 0);
  constexpr int kClients = 16;
  std::atomic<uint64_t> echoed{0};
  std::atomic<int> closed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      UniqueFd fd = ConnectLocal(port, kIoTimeout);
      const std::string chunk(64 * 1024, static_cast<char>('a' + i));
      std::string back(chunk.size(), '\0');
      while (WriteAll(fd.get(), chunk) && ReadExactly(fd.get(), back.data(), back.size())) {
        if (back != chunk) return;  // counted as neither closed nor echoing: fails below
        echoed += chunk.size();
      }
      // Whatever was in flight is lost with the session; the end must be a close, not a hang.
      if (ClosedByPeer(fd.get())) ++closed;
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return echoed.load() > 32u * 1024 * 1024; }, seconds(30)));
  sshd_->Stop();
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(closed.load(), kClients) << "clients that hung instead of being closed";
  ASSERT_TRUE(WaitForLog(*tether_, kLostLine, kReconnectTimeout));

  std::string error;
  ASSERT_TRUE(sshd_->Restart(false, &error)) << error;
  ASSERT_TRUE(WaitForLog(*tether_, kReconnectedLine, kReconnectTimeout));
  UniqueFd after = ConnectLocal(port, kIoTimeout);
  EXPECT_TRUE(EchoOnce(after.get(), std::string(256 * 1024, 'z')));
  tether_->Signal(SIGTERM);
  ExpectEndsWith(0, port);
}

TEST_F(ReconnectE2E, WithoutReconnectALostServerEndsTheTunnelWith74) {
  tether_ = Launch({"-L", ToEcho()});
  ASSERT_TRUE(tether_);
  ASSERT_TRUE(WaitForForwarding(*tether_, 1, kReadyTimeout));
  const uint16_t port = ForwardedIpv4Ports(*tether_).at(0);
  sshd_->Stop();
  ExpectEndsWith(74, port);
  EXPECT_EQ(tether_->Stderr().find(kLostLine), std::string::npos);
}

}  // namespace
}  // namespace tether::testing
