// Connection over a real channel of a real sshd: the receive window it keeps open for the
// server, which bounds what waits on the way (and ahead of the next open's answer).
#include "tether/connection.h"

#include <gtest/gtest.h>
#include <libssh2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "support/echo_server.h"
#include "support/ssh_login.h"
#include "tether/ssh_handles.h"
#include "tether/ssh_wire.h"
#include "tether/unique_fd.h"
#include "tether/window_budget.h"

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;

class ConnectionWindowTest : public PlainSessionTest {
 protected:
  // A direct-tcpip channel to 127.0.0.1:`port`, opened with the least window, as the tunnel
  // opens its channels.
  LIBSSH2_CHANNEL* OpenChannel(uint16_t port) {
    WireWriter message;
    message.PutString("127.0.0.1");
    message.PutU32(port);
    message.PutString("127.0.0.1");
    message.PutU32(40000);
    const std::string type = "direct-tcpip";
    return libssh2_channel_open_ex(session_.get(), type.data(),
                                   static_cast<unsigned int>(type.size()), WindowBudget::kMinWindow,
                                   32768, message.data().data(),
                                   static_cast<unsigned int>(message.data().size()));
  }

  // A Connection whose client is one end of a socket pair; the other end is `*test_end`.
  static std::unique_ptr<Connection> MakeConnection(UniqueFd* test_end) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      return nullptr;
    }
    *test_end = UniqueFd(fds[1]);
    return std::make_unique<Connection>(1, 0, UniqueFd(fds[0]), "test");
  }
};

// libssh2 tops a channel's window up to what it was opened with plus the length of the read
// before every read. Read with the whole 256 KiB buffer, a channel whose target is the least
// window kept 320 KiB or more open for the server (448 KiB seen) instead of 64 KiB. No
// TuneWindow here: the window moves only by libssh2's own top-ups.
TEST_F(ConnectionWindowTest, ReadsKeepTheWindowNearTheBudgetsShare) {
  constexpr size_t kDownload = size_t{8} * 1024 * 1024;
  TcpServer source(TcpServer::kGreeting, std::string(kDownload, 'd'));
  ASSERT_TRUE(source.ok()) << source.error();
  LIBSSH2_CHANNEL* channel = OpenChannel(source.port());
  ASSERT_NE(channel, nullptr) << LastSshError(session_.get());
  WindowBudget budget;
  UniqueFd test_end;
  std::unique_ptr<Connection> connection = MakeConnection(&test_end);
  ASSERT_TRUE(connection);
  connection->AttachChannel(session_.get(), channel, WindowBudget::kMinWindow);
  connection->set_budget(&budget);
  libssh2_session_set_blocking(session_.get(), 0);

  std::string got;
  unsigned long widest = 0;
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
  while (got.size() < kDownload && Clock::now() < deadline) {
    const ChannelResult result = connection->ReadFromChannel();
    ASSERT_TRUE(result == ChannelResult::kOk || result == ChannelResult::kSendPending)
        << LastSshError(session_.get());
    widest = std::max(widest, libssh2_channel_window_read_ex(channel, nullptr, nullptr));
    ASSERT_TRUE(connection->WriteToClient());
    char buffer[65536];
    ssize_t n = 0;
    while ((n = read(test_end.get(), buffer, sizeof(buffer))) > 0) {
      got.append(buffer, static_cast<size_t>(n));
    }
    pollfd ssh{socket_.get(), POLLIN, 0};
    poll(&ssh, 1, 10);
  }
  ASSERT_EQ(got.size(), kDownload);
  EXPECT_EQ(got.find_first_not_of('d'), std::string::npos);
  EXPECT_LE(widest, WindowBudget::kMinWindow + Connection::kChannelPacket)
      << "the server was let send more than the channel's share";
  libssh2_session_set_blocking(session_.get(), 1);
  libssh2_channel_free(channel);
}

// A channel opens with the least window (what libssh2 keeps topping up); TuneWindow grants
// the window it is to start with in one adjust, before anything was read.
TEST_F(ConnectionWindowTest, TheStartingWindowIsGrantedAtOnce) {
  TcpServer echo;
  ASSERT_TRUE(echo.ok()) << echo.error();
  LIBSSH2_CHANNEL* channel = OpenChannel(echo.port());
  ASSERT_NE(channel, nullptr) << LastSshError(session_.get());
  ASSERT_EQ(libssh2_channel_window_read_ex(channel, nullptr, nullptr), WindowBudget::kMinWindow);
  WindowBudget budget;
  budget.set_channels(1);
  UniqueFd test_end;
  std::unique_ptr<Connection> connection = MakeConnection(&test_end);
  ASSERT_TRUE(connection);
  constexpr uint32_t kStart = 1024 * 1024;
  connection->AttachChannel(session_.get(), channel, kStart);
  connection->set_budget(&budget);
  EXPECT_TRUE(connection->grant_due());
  ASSERT_EQ(connection->TuneWindow(), ChannelResult::kOk) << LastSshError(session_.get());
  EXPECT_FALSE(connection->grant_due());
  EXPECT_EQ(libssh2_channel_window_read_ex(channel, nullptr, nullptr), kStart);
  libssh2_channel_free(channel);
}

}  // namespace
}  // namespace tether::testing
