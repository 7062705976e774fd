// RemoteListener on a non-blocking session against the real sshd: each call repeated as its
// result says, as the session driver will do it.
#include "tether/remote_listener.h"

#include <gtest/gtest.h>
#include <libssh2.h>
#include <poll.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "support/net_util.h"
#include "support/ssh_login.h"
#include "support/sshd_fixture.h"
#include "tether/forward_spec.h"
#include "tether/ssh_handles.h"
#include "tether/unique_fd.h"

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;

class RemoteListenerTest : public PlainSessionTest {
 protected:
  void SetUp() override {
    // Set up blocking (not what is tested), then switched to non-blocking as tether runs it.
    PlainSessionTest::SetUp();
    if (session_) libssh2_session_set_blocking(session_.get(), 0);
  }

  // Repeats `call` while it waits for the socket, polling the directions libssh2 asked for.
  RemoteListenResult Drive(const std::function<RemoteListenResult()>& call) {
    const Clock::time_point deadline = Clock::now() + kIoTimeout;
    for (;;) {
      const RemoteListenResult result = call();
      if (result != RemoteListenResult::kWaiting && result != RemoteListenResult::kSendPending) {
        return result;
      }
      if (Clock::now() >= deadline) return result;
      const int directions = libssh2_session_block_directions(session_.get());
      pollfd fd{socket_.get(), 0, 0};
      if (directions & LIBSSH2_SESSION_BLOCK_INBOUND) fd.events |= POLLIN;
      if (directions & LIBSSH2_SESSION_BLOCK_OUTBOUND) fd.events |= POLLOUT;
      poll(&fd, 1, 100);
    }
  }
};

TEST_F(RemoteListenerTest, PortZeroListensAcceptsBothWaysAndCancelFreesThePort) {
  RemoteListener listener(session_.get(), RemoteBindAddress(Endpoint{"", 0, ""}), 0);
  ASSERT_EQ(listener.bind_address(), "localhost");
  ASSERT_EQ(Drive([&] { return listener.Request(); }), RemoteListenResult::kDone)
      << LastSshError(session_.get());
  ASSERT_TRUE(listener.listening());
  const uint16_t port = listener.bound_port();
  ASSERT_NE(port, 0);

  std::string error;
  UniqueFd client = ConnectTcp("127.0.0.1", port, &error);
  ASSERT_TRUE(client.valid()) << error;
  SetIoTimeout(client.get(), kIoTimeout);
  LIBSSH2_CHANNEL* channel = nullptr;
  ASSERT_EQ(Drive([&] {
              RemoteListenResult result;
              channel = listener.Accept(&result);
              return result;
            }),
            RemoteListenResult::kDone);
  ASSERT_NE(channel, nullptr);

  const std::string up = RandomBytes(100000, 16);
  ASSERT_TRUE(WriteAll(client.get(), up));
  std::string got;
  const Clock::time_point deadline = Clock::now() + kIoTimeout;
  while (got.size() < up.size() && Clock::now() < deadline) {
    char buffer[16384];
    const ssize_t n = libssh2_channel_read(channel, buffer, sizeof(buffer));
    if (n > 0) got.append(buffer, static_cast<size_t>(n));
    if (n == LIBSSH2_ERROR_EAGAIN) {
      pollfd fd{socket_.get(), POLLIN, 0};
      poll(&fd, 1, 100);
    } else {
      ASSERT_GE(n, 0) << LastSshError(session_.get());
    }
  }
  EXPECT_EQ(Sha256Hex(got), Sha256Hex(up));
  const std::string down = "the local target's answer";
  ssize_t written = LIBSSH2_ERROR_EAGAIN;
  while (written == LIBSSH2_ERROR_EAGAIN && Clock::now() < deadline) {
    written = libssh2_channel_write(channel, down.data(), down.size());
  }
  ASSERT_EQ(written, static_cast<ssize_t>(down.size()));
  std::string back(down.size(), '\0');
  ASSERT_TRUE(ReadExactly(client.get(), back.data(), back.size()));
  EXPECT_EQ(back, down);
  while (libssh2_channel_free(channel) == LIBSSH2_ERROR_EAGAIN) {
  }

  ASSERT_EQ(Drive([&] { return listener.Cancel(); }), RemoteListenResult::kDone);
  EXPECT_FALSE(listener.listening());
  // The cancel wants no answer: wait (bounded) until the server has read it.
  const Clock::time_point free_by = Clock::now() + kIoTimeout;
  while (!PortIsFree(port) && Clock::now() < free_by) {
    pollfd fd{socket_.get(), POLLIN, 0};
    poll(&fd, 1, 20);
  }
  EXPECT_TRUE(PortIsFree(port)) << "the server still listens on " << port;
}

TEST_F(RemoteListenerTest, BusyPortIsRefused) {
  std::string error;
  UniqueFd busy = ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(busy.valid()) << error;
  RemoteListener listener(session_.get(), "127.0.0.1", LocalPort(busy.get()));
  EXPECT_EQ(Drive([&] { return listener.Request(); }), RemoteListenResult::kRefused);
  EXPECT_FALSE(listener.listening());
  EXPECT_EQ(listener.bound_port(), 0);
}

}  // namespace
}  // namespace tether::testing
