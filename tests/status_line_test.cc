#include "tether/status_line.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/terminal.h"
#include "support/tether_process.h"

namespace tether {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Contains;

StatusFigures Figures() {
  StatusFigures figures;
  figures.state = "up";
  figures.forwards = "127.0.0.1:5432 \u2192 db:5432";
  figures.connections = 2;
  figures.bytes_in = 1536;
  figures.bytes_out = 10;
  figures.ttl_left = seconds(3 * 3600 + 61);
  return figures;
}

TEST(StatusLineFormat, ShowsStateForwardsConnectionsBytesRatesAndTtl) {
  EXPECT_EQ(FormatStatusLine(Figures(), {512, 0}, 200),
            "up | 127.0.0.1:5432 \u2192 db:5432 | 2 conns | in 1.5 KiB 512 B/s | out 10 B 0 B/s"
            " | TTL 3h1m1s");
  StatusFigures one = Figures();
  one.state = "connecting";
  one.connections = 1;
  one.ttl_left.reset();
  EXPECT_EQ(FormatStatusLine(one, {}, 200),
            "connecting | 127.0.0.1:5432 \u2192 db:5432 | 1 conn | in 1.5 KiB 0 B/s | out 10 B "
            "0 B/s | TTL none");
}

TEST(StatusLineFormat, CutToTheTerminalWidthNeverInsideACharacter) {
  // "up | 127.0.0.1:5432 →" is 21 columns and 23 bytes.
  EXPECT_EQ(FormatStatusLine(Figures(), {}, 21), "up | 127.0.0.1:5432 \u2192");
  EXPECT_EQ(FormatStatusLine(Figures(), {}, 20), "up | 127.0.0.1:5432 ");
  EXPECT_EQ(FormatStatusLine(Figures(), {}, 0), "");
}

/// A real sshd and echo service, and tether started with its stderr on a pty.
class StatusLineE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    sshd_ = testing::SshdServer::Start(&error);
    ASSERT_TRUE(sshd_) << error;
    ASSERT_TRUE(echo_.ok());
    ASSERT_TRUE(pty_.Open(250, 40));
  }

  /// Starts `tether FLAG -L 0:echo` on the terminal and waits for its forwarding line; sets
  /// tether_, port_ and forwards_ (as the status line shows them), and returns the terminal
  /// text so far.
  std::string StartOnTerminal(const std::string& flag) {
    testing::SubprocessOptions opts = sshd_->ClientProcessOptions();
    opts.stderr_path = pty_.SlavePath();
    const std::string target = "127.0.0.1:" + std::to_string(echo_.port());
    std::string error;
    tether_ = testing::Subprocess::Start(
        {TETHER_BINARY, flag, "-p", std::to_string(sshd_->port()), "-i", sshd_->user_key_path(),
         "-L", "0:" + target, sshd_->user() + "@127.0.0.1"},
        opts, &error);
    EXPECT_TRUE(tether_) << error;
    const std::regex forwarding("tether: forwarding 127\\.0\\.0\\.1:([0-9]+) ");
    std::smatch match;
    std::string text;
    const bool forwarding_seen = tether_ && testing::WaitUntil(
                                                [&] {
                                                  text = pty_.Text();
                                                  return std::regex_search(text, match, forwarding);
                                                },
                                                seconds(15));
    EXPECT_TRUE(forwarding_seen) << text;
    if (!forwarding_seen) return text;
    port_ = static_cast<uint16_t>(std::stoi(match[1]));
    forwards_ = "127.0.0.1:" + std::to_string(port_) + " \u2192 " + target;
    return text;
  }

  std::unique_ptr<testing::SshdServer> sshd_;
  testing::TcpServer echo_;
  testing::Terminal pty_;
  std::unique_ptr<testing::Subprocess> tether_;
  uint16_t port_ = 0;
  std::string forwards_;
};

TEST_F(StatusLineE2E, RedrawnInPlaceOnATerminalWithoutGarblingLogLines) {
  std::string text = StartOnTerminal("-v");
  ASSERT_NE(port_, 0);
  std::string error;
  EXPECT_TRUE(Contains(text, "\rconnecting | " + forwards_ + " | 0 conns")) << text;
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Contains(pty_.Text(), "\rup | " + forwards_ + " | 0 conns | in 0 B "); },
      seconds(5)))
      << pty_.Text();

  UniqueFd client = testing::ConnectTcp("127.0.0.1", port_, &error);
  ASSERT_TRUE(client) << error;
  ASSERT_TRUE(testing::SetIoTimeout(client.get(), seconds(10)));
  std::string back(5, '\0');
  ASSERT_TRUE(testing::WriteAll(client.get(), "hello") &&
              testing::ReadExactly(client.get(), back.data(), back.size()));
  const std::regex live(
      "\rup \\| [^\r]* \\| 1 conn \\| in 5 B [0-9.]+ [KMG]?i?B/s \\| out 5 B "
      "[0-9.]+ [KMG]?i?B/s \\| TTL (8h|7h59m[0-9]*s?)\x1b\\[K");
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        text = pty_.Text();
        return std::regex_search(text, live);
      },
      seconds(5)))
      << text;
  client.Reset();

  tether_->Signal(SIGTERM);
  EXPECT_EQ(tether_->WaitExit(seconds(10)), 0);
  EXPECT_TRUE(testing::ProcessGone(tether_->pid()));
  EXPECT_TRUE(testing::PortIsFree(port_));
  // The terminal's reader thread may not have taken tether's last bytes yet (it polls).
  testing::WaitUntil([&] { return Contains(pty_.Text(), "stopped by SIGTERM\r\n"); }, seconds(5));
  text = pty_.Text();
  // Every log line starts on a line of its own: at the start, after a newline, or right
  // after the status line was erased.
  for (size_t at = text.find("tether: "); at != std::string::npos;
       at = text.find("tether: ", at + 1)) {
    const bool own_line =
        at == 0 || text[at - 1] == '\n' || (at >= 4 && text.compare(at - 4, 4, "\r\x1b[K") == 0);
    EXPECT_TRUE(own_line) << "log line glued to the status line at " << at << ": " << text;
  }
  EXPECT_TRUE(Contains(text, "\r\x1b[Ktether: stopped by SIGTERM")) << text;
  // Nothing is drawn after the last line.
  EXPECT_EQ(text.substr(text.rfind("tether: stopped by SIGTERM")),
            "tether: stopped by SIGTERM\r\n");
}

TEST_F(StatusLineE2E, SaysReconnectingWhileTheServerIsAwayThenUpAgain) {
  StartOnTerminal("--reconnect");
  ASSERT_NE(port_, 0);
  std::string error;
  std::string text;
  ASSERT_TRUE(
      testing::WaitUntil([&] { return Contains(pty_.Text(), "\rup | " + forwards_); }, seconds(5)))
      << pty_.Text();

  sshd_->Stop();
  const std::string reconnecting = "\rreconnecting | " + forwards_ + " | 0 conns";
  ASSERT_TRUE(testing::WaitUntil([&] { return Contains(pty_.Text(), reconnecting); }, seconds(10)))
      << pty_.Text();
  ASSERT_TRUE(sshd_->Restart(false, &error)) << error;
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        text = pty_.Text();
        return text.find("\rup | " + forwards_, text.rfind(reconnecting)) != std::string::npos;
      },
      seconds(20)))
      << text;

  tether_->Signal(SIGTERM);
  EXPECT_EQ(tether_->WaitExit(seconds(10)), 0);
  EXPECT_TRUE(testing::ProcessGone(tether_->pid()));
  EXPECT_TRUE(testing::PortIsFree(port_));
}

}  // namespace
}  // namespace tether
