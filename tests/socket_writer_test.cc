#include "tether/socket_writer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>

#include "tether/fd_pair.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

// A connected, non-blocking stream socket pair: [0] is written through the writer.
struct Pair {
  UniqueFd ours;
  UniqueFd theirs;
};

Pair MakePair() {
  std::string error;
  std::optional<FdPair> pair = OpenSocketPair(SOCK_STREAM | SOCK_NONBLOCK, &error);
  EXPECT_TRUE(pair.has_value()) << error;
  if (!pair) return {};
  // Small kernel buffers, so that "the socket is full" comes after a few KiB.
  const int size = 4096;
  setsockopt(pair->first.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  setsockopt(pair->second.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  return {std::move(pair->first), std::move(pair->second)};
}

std::string Pattern(size_t n, char first = 'a') {
  std::string text(n, '\0');
  for (size_t i = 0; i < n; ++i) text[i] = static_cast<char>(first + i % 23);
  return text;
}

// Everything readable on `fd` now.
std::string Drain(int fd) {
  std::string out;
  char buffer[65536];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

ssize_t Write(SocketWriter* writer, int fd, const std::string& bytes) {
  return writer->Write(fd, bytes.data(), bytes.size(), 0);
}

TEST(SocketWriterTest, OutsideAStretchEveryWriteIsASend) {
  Pair pair = MakePair();
  SocketWriter writer(1024);
  EXPECT_EQ(Write(&writer, pair.ours.get(), "one"), 3);
  EXPECT_EQ(Write(&writer, pair.ours.get(), "two"), 3);
  EXPECT_EQ(writer.send_calls(), 2u);
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(Drain(pair.theirs.get()), "onetwo");
}

TEST(SocketWriterTest, WritesOfAStretchLeaveInOneSend) {
  Pair pair = MakePair();
  SocketWriter writer(1024);
  writer.Gather(true);
  for (char c = 'a'; c < 'f'; ++c) {
    EXPECT_EQ(Write(&writer, pair.ours.get(), std::string(100, c)), 100);
  }
  EXPECT_EQ(writer.send_calls(), 0u) << "held, not sent";
  EXPECT_EQ(writer.pending(), 500u);
  EXPECT_EQ(Drain(pair.theirs.get()), "");
  writer.Gather(false);
  EXPECT_EQ(writer.Flush(pair.ours.get()), 0);
  EXPECT_EQ(writer.send_calls(), 1u);
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(Drain(pair.theirs.get()), std::string(100, 'a') + std::string(100, 'b') +
                                          std::string(100, 'c') + std::string(100, 'd') +
                                          std::string(100, 'e'));
}

TEST(SocketWriterTest, AFullBufferIsSentBeforeTheNextWriteIsHeld) {
  Pair pair = MakePair();
  SocketWriter writer(250);
  writer.Gather(true);
  const std::string first = Pattern(200, 'a');
  const std::string second = Pattern(100, 'b');
  EXPECT_EQ(Write(&writer, pair.ours.get(), first), 200);
  EXPECT_EQ(Write(&writer, pair.ours.get(), second), 100) << "200 + 100 > 250: flush, then hold";
  EXPECT_EQ(writer.send_calls(), 1u);
  EXPECT_EQ(writer.pending(), 100u);
  EXPECT_EQ(writer.Flush(pair.ours.get()), 0);
  EXPECT_EQ(Drain(pair.theirs.get()), first + second);
}

TEST(SocketWriterTest, AFullSocketKeepsTheOrderAndRefusesWholeWrites) {
  Pair pair = MakePair();
  SocketWriter writer(16 * 1024);
  writer.Gather(true);
  std::string taken;
  // Fill the writer and the kernel until a write is refused.
  for (char c = 'a';; c = c == 'y' ? 'a' : static_cast<char>(c + 1)) {
    const std::string packet = Pattern(3000, c);
    const ssize_t rc = Write(&writer, pair.ours.get(), packet);
    if (rc == -EAGAIN) break;
    ASSERT_EQ(rc, 3000) << "a write is taken whole or not at all";
    taken += packet;
    ASSERT_LT(taken.size(), 64u * 1024 * 1024) << "the socket never filled";
  }
  EXPECT_GT(writer.pending(), 0u);
  EXPECT_LE(writer.pending(), 16u * 1024 + 3000) << "bounded by the capacity and one packet";
  EXPECT_EQ(writer.Flush(pair.ours.get()), -EAGAIN) << "the peer reads nothing yet";
  // The peer reads; flushing and draining in turns delivers everything, in order.
  std::string received;
  for (int i = 0; i < 10000 && writer.pending() > 0; ++i) {
    received += Drain(pair.theirs.get());
    const int rc = writer.Flush(pair.ours.get());
    ASSERT_TRUE(rc == 0 || rc == -EAGAIN) << rc;
  }
  EXPECT_EQ(writer.pending(), 0u);
  received += Drain(pair.theirs.get());
  EXPECT_EQ(received, taken);
}

TEST(SocketWriterTest, OutsideAStretchHeldBytesGoFirstOrTheWriteWaits) {
  Pair pair = MakePair();
  SocketWriter writer(64 * 1024);
  writer.Gather(true);
  std::string taken;
  while (writer.Flush(pair.ours.get()) == 0) {
    const std::string packet = Pattern(4000, static_cast<char>('a' + taken.size() % 20));
    ASSERT_EQ(Write(&writer, pair.ours.get(), packet), 4000);
    taken += packet;
  }
  writer.Gather(false);
  // Held bytes cannot leave: a direct write must not overtake them.
  EXPECT_EQ(Write(&writer, pair.ours.get(), "late"), -EAGAIN);
  std::string received;
  for (int i = 0; i < 10000 && writer.pending() > 0; ++i) {
    received += Drain(pair.theirs.get());
    const int rc = writer.Flush(pair.ours.get());
    ASSERT_TRUE(rc == 0 || rc == -EAGAIN) << rc;
  }
  EXPECT_EQ(Write(&writer, pair.ours.get(), "late"), 4);
  received += Drain(pair.theirs.get());
  EXPECT_EQ(received, taken + "late");
}

TEST(SocketWriterTest, AFailedSendIsReportedByEveryLaterCall) {
  Pair pair = MakePair();
  SocketWriter writer(1024);
  writer.Gather(true);
  EXPECT_EQ(Write(&writer, pair.ours.get(), "held"), 4);
  pair.theirs.Reset();  // the server went away
  EXPECT_EQ(writer.Flush(pair.ours.get()), -EPIPE);
  EXPECT_EQ(Write(&writer, pair.ours.get(), "more"), -EPIPE);
  writer.Gather(false);
  EXPECT_EQ(Write(&writer, pair.ours.get(), "more"), -EPIPE);
}

}  // namespace
}  // namespace tether
