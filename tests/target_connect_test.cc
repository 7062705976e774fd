// StartTargetConnect: the connect tether makes for each connection a server forwards (-R),
// against real sockets: a listening TCP port and Unix socket are reached, a closed one fails
// (at once or as a socket error), a bad name or path says why.

#include "tether/target_connect.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "support/net_util.h"
#include "support/temp_dir.h"

namespace tether {
namespace {

// Waits for the connect to finish; its SO_ERROR (0: connected).
int ConnectOutcome(int fd) {
  pollfd ready{fd, POLLOUT, 0};
  if (poll(&ready, 1, 5000) != 1) return ETIMEDOUT;
  int error = 0;
  socklen_t length = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  return error;
}

TEST(TargetConnectTest, ReachesAListeningTcpPortNonBlocking) {
  std::string error;
  UniqueFd listener = testing::ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(listener) << error;
  std::string reason;
  UniqueFd fd =
      StartTargetConnect(Endpoint{"127.0.0.1", testing::LocalPort(listener.get()), ""}, &reason);
  ASSERT_TRUE(fd) << reason;
  EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(ConnectOutcome(fd.get()), 0);
  UniqueFd accepted(accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(testing::WriteAll(fd.get(), "ping"));
  char buffer[4];
  ASSERT_TRUE(testing::ReadExactly(accepted.get(), buffer, sizeof(buffer)));
  EXPECT_EQ(std::string(buffer, 4), "ping");
}

TEST(TargetConnectTest, ANameIsResolvedHere) {
  std::string error;
  UniqueFd listener = testing::ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(listener) << error;
  std::string reason;
  UniqueFd fd =
      StartTargetConnect(Endpoint{"localhost", testing::LocalPort(listener.get()), ""}, &reason);
  ASSERT_TRUE(fd) << reason;
  // localhost may name ::1 first, where nothing listens: then the connect fails later, as
  // with ssh, which also takes the first address that does not refuse at once.
  const int outcome = ConnectOutcome(fd.get());
  EXPECT_TRUE(outcome == 0 || outcome == ECONNREFUSED) << outcome;
}

TEST(TargetConnectTest, AClosedPortFails) {
  const uint16_t port = testing::FreeTcpPort();
  std::string reason;
  UniqueFd fd = StartTargetConnect(Endpoint{"127.0.0.1", port, ""}, &reason);
  if (fd) {
    EXPECT_EQ(ConnectOutcome(fd.get()), ECONNREFUSED);
  } else {
    EXPECT_EQ(reason, std::strerror(ECONNREFUSED));
  }
}

TEST(TargetConnectTest, AnUnknownNameSaysSo) {
  std::string reason;
  UniqueFd fd = StartTargetConnect(Endpoint{"no-such-host.invalid", 80, ""}, &reason);
  EXPECT_FALSE(fd);
  EXPECT_EQ(reason.rfind("cannot resolve no-such-host.invalid: ", 0), 0u) << reason;
}

TEST(TargetConnectTest, ReachesAUnixSocketAndNamesAMissingOne) {
  testing::TempDir dir;
  const std::string path = dir.Join("app.sock");
  UniqueFd listener = testing::ListenUnix(path);
  ASSERT_TRUE(listener);
  std::string reason;
  UniqueFd fd = StartTargetConnect(Endpoint{"", 0, path}, &reason);
  ASSERT_TRUE(fd) << reason;
  EXPECT_EQ(ConnectOutcome(fd.get()), 0);

  UniqueFd missing = StartTargetConnect(Endpoint{"", 0, dir.Join("none.sock")}, &reason);
  EXPECT_FALSE(missing);
  EXPECT_EQ(reason, std::strerror(ENOENT));
  UniqueFd too_long = StartTargetConnect(Endpoint{"", 0, "/" + std::string(200, 'x')}, &reason);
  EXPECT_FALSE(too_long);
  EXPECT_EQ(reason, "socket path too long");
}

}  // namespace
}  // namespace tether
