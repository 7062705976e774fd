#include "tether/fd_pair.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tether {
namespace {

bool CloseOnExec(const UniqueFd& fd) { return (fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0; }

bool NonBlocking(const UniqueFd& fd) { return (fcntl(fd.get(), F_GETFL) & O_NONBLOCK) != 0; }

std::string ReadSome(const UniqueFd& fd) {
  char buffer[64];
  const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

TEST(FdPair, PipeCarriesFromSecondToFirstAndBothCloseOnExec) {
  std::string error;
  std::optional<FdPair> pipe = OpenPipe(&error);
  ASSERT_TRUE(pipe) << error;
  EXPECT_TRUE(CloseOnExec(pipe->first));
  EXPECT_TRUE(CloseOnExec(pipe->second));
  ASSERT_EQ(write(pipe->second.get(), "ready", 5), 5);
  EXPECT_EQ(ReadSome(pipe->first), "ready");
  EXPECT_EQ(write(pipe->first.get(), "x", 1), -1) << "the first end is the read end";
}

TEST(FdPair, ClosingTheWriteEndIsEndOfFileForTheReader) {
  std::string error;
  std::optional<FdPair> pipe = OpenPipe(&error);
  ASSERT_TRUE(pipe) << error;
  pipe->second.Reset();
  char byte;
  EXPECT_EQ(read(pipe->first.get(), &byte, 1), 0);
}

TEST(FdPair, SocketPairCarriesBothWaysWithTheTypeFlagsAsked) {
  std::string error;
  std::optional<FdPair> ends = OpenSocketPair(SOCK_STREAM | SOCK_NONBLOCK, &error);
  ASSERT_TRUE(ends) << error;
  EXPECT_TRUE(CloseOnExec(ends->first) && CloseOnExec(ends->second));
  EXPECT_TRUE(NonBlocking(ends->first) && NonBlocking(ends->second));
  ASSERT_EQ(write(ends->first.get(), "ping", 4), 4);
  EXPECT_EQ(ReadSome(ends->second), "ping");
  ASSERT_EQ(write(ends->second.get(), "pong", 4), 4);
  EXPECT_EQ(ReadSome(ends->first), "pong");

  std::optional<FdPair> blocking = OpenSocketPair(SOCK_STREAM, &error);
  ASSERT_TRUE(blocking) << error;
  EXPECT_FALSE(NonBlocking(blocking->first));
}

// Out of descriptors: no pair, and a message that names the call and the reason.
TEST(FdPair, FailureNamesTheCallAndTheReason) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit tight = saved;
  tight.rlim_cur = 0;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::string pipe_error, socket_error;
  const bool pipe_opened = OpenPipe(&pipe_error).has_value();
  const bool pair_opened = OpenSocketPair(SOCK_STREAM, &socket_error).has_value();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_FALSE(pipe_opened);
  EXPECT_FALSE(pair_opened);
  EXPECT_EQ(pipe_error, std::string("pipe2: ") + std::strerror(EMFILE));
  EXPECT_EQ(socket_error, std::string("socketpair: ") + std::strerror(EMFILE));
}

}  // namespace
}  // namespace tether
