#include "tether/session_events.h"

#include <gtest/gtest.h>

#include <string>

namespace tether {
namespace {

std::string Lines(const std::string& line, size_t count) {
  std::string text;
  for (size_t i = 0; i < count; ++i) text += line;
  return text;
}

TEST(BannerWatchTest, SeesTheBannerAtOnce) {
  BannerWatch watch;
  const std::string bytes = std::string("SSH-2.0-OpenSSH_9.6\r\n\0\0\0\x14", 25) + "after it";
  EXPECT_TRUE(watch.Watch(bytes.data(), bytes.size()));
  EXPECT_TRUE(watch.seen);
  EXPECT_EQ(watch.lines_before, 0u);
}

TEST(BannerWatchTest, SeesABannerThatArrivesAByteAtATime) {
  BannerWatch watch;
  const std::string bytes = "hello\r\nSSH-2.0-x\r\n";
  for (char c : bytes) ASSERT_TRUE(watch.Watch(&c, 1));
  EXPECT_TRUE(watch.seen);
  EXPECT_EQ(watch.lines_before, 1u);
}

TEST(BannerWatchTest, AcceptsOpenSshsBoundsExactly) {
  BannerWatch watch;
  const std::string lines = Lines(std::string(8191, 'x') + "\n", BannerWatch::kMaxLinesBefore);
  EXPECT_TRUE(watch.Watch(lines.data(), lines.size()));
  const std::string banner = "SSH-2.0-x\r\n";
  EXPECT_TRUE(watch.Watch(banner.data(), banner.size()));
  EXPECT_TRUE(watch.seen);
  EXPECT_FALSE(watch.refusal);
}

TEST(BannerWatchTest, RefusesLine1025BeforeTheBanner) {
  BannerWatch watch;
  const std::string lines = Lines("not yet\r\n", BannerWatch::kMaxLinesBefore + 1);
  EXPECT_FALSE(watch.Watch(lines.data(), lines.size()));
  EXPECT_EQ(watch.refusal.value_or(""), "the server sent no SSH banner in its first 1024 lines");
}

TEST(BannerWatchTest, RefusesALineOf8193Bytes) {
  BannerWatch watch;
  const std::string line(8193, 'x');
  EXPECT_FALSE(watch.Watch(line.data(), line.size()));
  EXPECT_EQ(watch.refusal.value_or(""),
            "the server sent a line longer than 8192 bytes instead of an SSH banner");
}

TEST(BannerWatchTest, TakesOnlyALineThatStartsWithSshDashAsTheBanner) {
  BannerWatch watch;
  const std::string bytes = "SSH\nxSSH-2.0\nSSH-";
  EXPECT_TRUE(watch.Watch(bytes.data(), bytes.size()));
  EXPECT_FALSE(watch.seen) << "the banner line has not ended yet";
  EXPECT_EQ(watch.lines_before, 2u);
}

}  // namespace
}  // namespace tether
