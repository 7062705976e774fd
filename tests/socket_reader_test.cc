#include "tether/socket_reader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tether/fd_pair.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

// A connected, non-blocking stream socket pair: [0] is read through the reader, [1] writes.
struct Pair {
  UniqueFd ours;
  UniqueFd theirs;
};

Pair MakePair() {
  std::string error;
  std::optional<FdPair> pair = OpenSocketPair(SOCK_STREAM | SOCK_NONBLOCK, &error);
  EXPECT_TRUE(pair.has_value()) << error;
  if (!pair) return {};
  return {std::move(pair->first), std::move(pair->second)};
}

void Send(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// Reads up to `length` bytes through the reader; the string is empty unless bytes came.
std::string ReadSome(SocketReader* reader, int fd, size_t length, ssize_t* rc) {
  std::string out(length, '\0');
  *rc = reader->Read(fd, out.data(), length, 0);
  out.resize(*rc > 0 ? static_cast<size_t>(*rc) : 0);
  return out;
}

std::string Pattern(size_t n) {
  std::string text(n, '\0');
  for (size_t i = 0; i < n; ++i) text[i] = static_cast<char>('a' + i % 23);
  return text;
}

TEST(SocketReaderTest, ShortReadsAreServedFromOneRecv) {
  Pair pair = MakePair();
  SocketReader reader(64);
  const std::string sent = Pattern(100);
  Send(pair.theirs.get(), sent);

  std::string got;
  ssize_t rc = 0;
  got += ReadSome(&reader, pair.ours.get(), 16, &rc);
  EXPECT_EQ(rc, 16);
  EXPECT_EQ(reader.recv_calls(), 1u);
  EXPECT_EQ(reader.buffered(), 48u) << "one recv took as much as the buffer holds";
  // Served from memory until the buffer is empty: no further recv.
  while (reader.buffered() > 0) got += ReadSome(&reader, pair.ours.get(), 10, &rc);
  EXPECT_EQ(reader.recv_calls(), 1u);
  EXPECT_EQ(got, sent.substr(0, 64));
  // A read larger than what is held gets only what is held (a short read, as recv).
  got += ReadSome(&reader, pair.ours.get(), 30, &rc);
  EXPECT_EQ(rc, 30);
  got += ReadSome(&reader, pair.ours.get(), 30, &rc);
  EXPECT_EQ(rc, 6) << "the rest of the buffered bytes, without another recv";
  EXPECT_EQ(reader.recv_calls(), 2u);
  EXPECT_EQ(got, sent);
}

TEST(SocketReaderTest, EmptySocketIsEagain) {
  Pair pair = MakePair();
  SocketReader reader(64);
  char byte = 0;
  EXPECT_EQ(reader.Read(pair.ours.get(), &byte, 1, 0), -EAGAIN);
  EXPECT_EQ(reader.Read(pair.ours.get(), &byte, 1, 0), -EAGAIN);
  EXPECT_EQ(reader.recv_calls(), 2u) << "untrusted: every read tries the socket";
  Send(pair.theirs.get(), "x");
  EXPECT_EQ(reader.Read(pair.ours.get(), &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'x');
}

TEST(SocketReaderTest, TrustedWouldBlockIsNotAskedAgainUntilReset) {
  Pair pair = MakePair();
  SocketReader reader(64);
  reader.TrustWouldBlock(true);
  char buffer[8] = {};
  EXPECT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), -EAGAIN);
  Send(pair.theirs.get(), "late");
  EXPECT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), -EAGAIN)
      << "within the stretch, the empty socket is not asked again";
  EXPECT_EQ(reader.recv_calls(), 1u);
  reader.TrustWouldBlock(true);  // the next stretch asks again
  ASSERT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), 4);
  EXPECT_EQ(std::string(buffer, 4), "late");
  EXPECT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), -EAGAIN);
  reader.TrustWouldBlock(false);
  Send(pair.theirs.get(), "more");
  EXPECT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), 4)
      << "outside a stretch every read tries the socket";
}

TEST(SocketReaderTest, HeldBytesAreServedEvenWhenTheSocketWouldBlock) {
  Pair pair = MakePair();
  SocketReader reader(64);
  Send(pair.theirs.get(), Pattern(40));
  char buffer[16] = {};
  ASSERT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), 16);
  reader.TrustWouldBlock(true);
  // The socket itself is empty now (no event would announce anything), yet bytes are held.
  char probe = 0;
  EXPECT_EQ(recv(pair.ours.get(), &probe, 1, MSG_PEEK), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(reader.buffered(), 24u);
  ASSERT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), 16);
  ASSERT_EQ(reader.Read(pair.ours.get(), buffer, sizeof(buffer), 0), 8);
  EXPECT_EQ(std::string(buffer, 8), Pattern(40).substr(32));
}

TEST(SocketReaderTest, EofAfterTheHeldBytes) {
  Pair pair = MakePair();
  SocketReader reader(64);
  Send(pair.theirs.get(), "abc");
  pair.theirs.Reset();
  ssize_t rc = 0;
  EXPECT_EQ(ReadSome(&reader, pair.ours.get(), 2, &rc), "ab");
  EXPECT_EQ(ReadSome(&reader, pair.ours.get(), 2, &rc), "c");
  EXPECT_FALSE(reader.ended()) << "the bytes before the end are no end";
  EXPECT_EQ(ReadSome(&reader, pair.ours.get(), 2, &rc), "");
  EXPECT_EQ(rc, 0) << "end of stream once everything held was handed out";
  EXPECT_TRUE(reader.ended());
}

TEST(SocketReaderTest, AnEmptySocketIsNoEndButAnErrorIs) {
  Pair pair = MakePair();
  SocketReader reader(64);
  char byte = 0;
  EXPECT_EQ(reader.Read(pair.ours.get(), &byte, 1, 0), -EAGAIN);
  EXPECT_FALSE(reader.ended());
  EXPECT_EQ(reader.Read(-1, &byte, 1, 0), -EBADF);
  EXPECT_TRUE(reader.ended());
}

TEST(SocketReaderTest, ErrorsComeBackAsNegativeErrno) {
  SocketReader reader(64);
  char byte = 0;
  int pipe_fds[2] = {-1, -1};
  ASSERT_EQ(pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  EXPECT_EQ(reader.Read(read_end.get(), &byte, 1, 0), -ENOTSOCK);
  EXPECT_EQ(reader.Read(-1, &byte, 1, 0), -EBADF);

  Pair pair = MakePair();
  Send(pair.theirs.get(), "z");
  pair.theirs.Reset();
  pair.ours.Reset();
  EXPECT_EQ(reader.Read(pair.ours.get(), &byte, 1, 0), -EBADF);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(SocketReaderTest, ReadAsLargeAsTheBufferGoesStraightThrough) {
  Pair pair = MakePair();
  SocketReader reader(64);
  const std::string sent = Pattern(200);
  Send(pair.theirs.get(), sent);
  std::string got(128, '\0');
  ASSERT_EQ(reader.Read(pair.ours.get(), got.data(), got.size(), 0), 128);
  EXPECT_EQ(got, sent.substr(0, 128));
  EXPECT_EQ(reader.buffered(), 0u) << "nothing copied through the buffer";
  ssize_t rc = 0;
  EXPECT_EQ(ReadSome(&reader, pair.ours.get(), 100, &rc), sent.substr(128));
}

TEST(SocketReaderTest, LongRandomStreamArrivesInOrder) {
  Pair pair = MakePair();
  SocketReader reader(1000);
  const std::string sent = Pattern(50000);
  std::string got;
  size_t written = 0;
  const size_t sizes[] = {1, 5, 16, 999, 1000, 1001, 4096, 7};
  for (size_t turn = 0; got.size() < sent.size(); ++turn) {
    if (written < sent.size()) {
      const size_t chunk = std::min<size_t>(3000, sent.size() - written);
      Send(pair.theirs.get(), sent.substr(written, chunk));
      written += chunk;
    }
    ssize_t rc = 0;
    for (;;) {
      std::string part = ReadSome(&reader, pair.ours.get(), sizes[turn % 8], &rc);
      if (rc <= 0) break;
      got += part;
      ++turn;
    }
    ASSERT_EQ(rc, -EAGAIN);
  }
  EXPECT_EQ(got, sent);
}

}  // namespace
}  // namespace tether
