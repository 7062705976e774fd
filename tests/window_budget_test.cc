#include "tether/window_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace tether {
namespace {

constexpr uint32_t kKiB = 1024;
constexpr uint32_t kMiB = 1024 * 1024;

TEST(WindowBudgetTest, OpenWindowIsAShareOfTheTotal) {
  EXPECT_EQ(WindowBudget::OpenWindow(0), 2 * kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(1), 2 * kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(4), 2 * kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(8), kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(100),
            64 * kMiB / 100 / 8 < 64 * kKiB ? 64 * kKiB : 64 * kMiB / 100 / 8);
  EXPECT_EQ(WindowBudget::OpenWindow(1000), 64 * kKiB);
}

TEST(WindowBudgetTest, ShareIsBoundedBothWays) {
  constexpr uint64_t kTotal = WindowBudget::kTotalWindow;
  EXPECT_EQ(WindowBudget::ShareOf(kTotal, 1), 16 * kMiB);
  EXPECT_EQ(WindowBudget::ShareOf(kTotal, 4), 16 * kMiB);
  EXPECT_EQ(WindowBudget::ShareOf(kTotal, 8), 8 * kMiB);
  EXPECT_EQ(WindowBudget::ShareOf(kTotal, 100), 64 * kMiB / 100);
  EXPECT_EQ(WindowBudget::ShareOf(kTotal, 10000), 64 * kKiB);
  EXPECT_EQ(WindowBudget::ShareOf(4 * kMiB, 0), 4 * kMiB);
}

struct TargetCase {
  uint32_t target;
  bool starved;
  bool keeps_up;
  size_t channels;
  uint32_t next;
};

class NextTargetTest : public ::testing::TestWithParam<TargetCase> {};

// A budget that has not measured anything yet offers the whole total.
TEST_P(NextTargetTest, Table) {
  const TargetCase& c = GetParam();
  WindowBudget budget;
  budget.set_channels(c.channels);
  EXPECT_EQ(budget.NextTarget(c.target, c.starved, c.keeps_up), c.next);
}

INSTANTIATE_TEST_SUITE_P(WindowBudgetTest, NextTargetTest,
                         ::testing::Values(
                             // A lone channel that used its window doubles it, up to 16 MiB.
                             TargetCase{2 * kMiB, true, true, 1, 4 * kMiB},
                             TargetCase{8 * kMiB, true, true, 1, 16 * kMiB},
                             TargetCase{16 * kMiB, true, true, 1, 16 * kMiB},
                             // Not starved: unchanged.
                             TargetCase{4 * kMiB, false, true, 1, 4 * kMiB},
                             // A slow client stops its growth (its channel is not read meanwhile).
                             TargetCase{4 * kMiB, true, false, 1, 4 * kMiB},
                             TargetCase{64 * kKiB, false, false, 1, 64 * kKiB},
                             // Many channels: none above its share, even if it had more.
                             TargetCase{16 * kMiB, true, true, 100, 64 * kMiB / 100},
                             TargetCase{16 * kMiB, false, true, 8, 8 * kMiB}));

using std::chrono::milliseconds;

// Delivery measured over one round trip sets the total to twice it.
TEST(WindowBudgetTest, TotalFollowsDeliveryPerRoundTrip) {
  WindowBudget budget;
  uint64_t mark = 0;
  budget.NoteRoundTrip(milliseconds(40), WindowBudget::Clock::time_point{});
  const WindowBudget::Clock::time_point start{};
  budget.NoteDelivered(0, start + milliseconds(1000), &mark);  // starts a period (idle before)
  EXPECT_EQ(budget.total_target(), WindowBudget::kMinTotalWindow);
  budget.NoteDelivered(5 * kMiB, start + milliseconds(1020),
                       &mark);  // half a round trip: no change
  EXPECT_EQ(budget.total_target(), WindowBudget::kMinTotalWindow);
  budget.NoteDelivered(0, start + milliseconds(1040), &mark);
  EXPECT_EQ(budget.total_target(), uint64_t{10} * kMiB);
  // Two round trips brought what one did before: the same rate, the same total.
  budget.NoteDelivered(10 * kMiB, start + milliseconds(1120), &mark);
  EXPECT_EQ(budget.total_target(), uint64_t{10} * kMiB);
  // Never above the cap, never below the floor.
  budget.NoteDelivered(uint64_t{1} << 34, start + milliseconds(1160), &mark);
  EXPECT_EQ(budget.total_target(), WindowBudget::kTotalWindow);
  budget.NoteDelivered(1, start + milliseconds(5000), &mark);
  EXPECT_EQ(budget.total_target(), WindowBudget::kMinTotalWindow);
}

// The round trip is the least an open took lately: an open that waited behind a download's
// queued data does not lengthen the period (longer periods mean bigger windows, which queue
// more data ahead of the next open); an old minimum gives way to what the link is now.
TEST(WindowBudgetTest, RoundTripIsTheRecentMinimumOfOpenTimes) {
  WindowBudget budget;
  const WindowBudget::Clock::time_point start{};
  EXPECT_EQ(budget.round_trip(), milliseconds(1));
  budget.NoteRoundTrip(milliseconds(150), start + milliseconds(10));
  EXPECT_EQ(budget.round_trip(), milliseconds(150));  // the first one counts, whatever it is
  budget.NoteRoundTrip(milliseconds(42), start + milliseconds(200));
  EXPECT_EQ(budget.round_trip(), milliseconds(42));
  budget.NoteRoundTrip(milliseconds(160), start + milliseconds(400));
  EXPECT_EQ(budget.round_trip(), milliseconds(42));
  budget.NoteRoundTrip(milliseconds(160),
                       start + milliseconds(200) + WindowBudget::kRoundTripMemory);
  EXPECT_EQ(budget.round_trip(), milliseconds(160));
  budget.NoteRoundTrip(std::chrono::microseconds(200), start + std::chrono::seconds(20));
  EXPECT_EQ(budget.round_trip(), milliseconds(1));  // loopback: measured over a millisecond
}

// An aged-out minimum gives way to the best open seen since, not to whichever open comes
// next (which, under load, is one that waited behind queued data).
TEST(WindowBudgetTest, AgedOutMinimumGivesWayToTheNextBest) {
  WindowBudget budget;
  const WindowBudget::Clock::time_point start{};
  budget.NoteRoundTrip(milliseconds(42), start);
  budget.NoteRoundTrip(milliseconds(80), start + milliseconds(3000));
  budget.NoteRoundTrip(milliseconds(50), start + milliseconds(5000));
  budget.NoteRoundTrip(milliseconds(160), start + milliseconds(10200));
  EXPECT_EQ(budget.round_trip(), milliseconds(50));
  // Once that one ages out too, with nothing better seen since, the next open sets it.
  budget.NoteRoundTrip(milliseconds(170), start + milliseconds(15100));
  EXPECT_EQ(budget.round_trip(), milliseconds(160));
  budget.NoteRoundTrip(milliseconds(300), start + milliseconds(26000));
  EXPECT_EQ(budget.round_trip(), milliseconds(300));
}

// After a reconnect the link may be another one: the first open on it sets the round trip.
TEST(WindowBudgetTest, ForgottenRoundTripIsSetByTheNextOpen) {
  WindowBudget budget;
  const WindowBudget::Clock::time_point start{};
  budget.NoteRoundTrip(milliseconds(2), start);
  budget.ForgetRoundTrip();
  budget.NoteRoundTrip(milliseconds(40), start + milliseconds(100));
  EXPECT_EQ(budget.round_trip(), milliseconds(40));
}

// 100 channels sharing 10 MiB of delivery per round trip: each may have a fifth of a MiB,
// so none runs at more than about twice the average.
TEST(WindowBudgetTest, FairShareSplitsTheMeasuredTotal) {
  WindowBudget budget;
  budget.set_channels(100);
  budget.NoteRoundTrip(milliseconds(40), WindowBudget::Clock::time_point{});
  const WindowBudget::Clock::time_point start{};
  std::vector<uint64_t> marks(100, 0);
  budget.NoteDelivered(0, start + milliseconds(1000), &marks[0]);
  for (uint64_t& mark : marks) budget.NoteDelivered(kMiB / 10, start + milliseconds(1020), &mark);
  budget.NoteDelivered(0, start + milliseconds(1040), &marks[0]);
  EXPECT_EQ(budget.FairShare(), 2 * (kMiB / 10));
  // Below the settled floor, which a client that keeps up gets while no open waits.
  EXPECT_EQ(budget.NextTarget(kMiB, true, true), WindowBudget::kSettledWindow);
  EXPECT_EQ(budget.NextTarget(kMiB, true, false), 2 * (kMiB / 10));
  budget.set_channels(1);
  EXPECT_EQ(budget.FairShare(), 16 * kMiB);
}

// While connections wait for a channel, the channels share 1.25 times what they delivered
// in a round trip instead of twice it: each open's answer queues behind less data.
TEST(WindowBudgetTest, WaitingOpensShrinkTheShare) {
  WindowBudget budget;
  budget.set_channels(10);
  budget.NoteRoundTrip(milliseconds(40), WindowBudget::Clock::time_point{});
  const WindowBudget::Clock::time_point start{};
  std::vector<uint64_t> marks(10, 0);
  budget.NoteDelivered(0, start + milliseconds(1000), &marks[0]);
  for (uint64_t& mark : marks) budget.NoteDelivered(kMiB, start + milliseconds(1020), &mark);
  budget.NoteDelivered(0, start + milliseconds(1040), &marks[0]);
  ASSERT_EQ(budget.total_target(), 20 * kMiB);
  EXPECT_EQ(budget.FairShare(), 2 * kMiB);
  budget.set_opens_waiting(true);
  EXPECT_EQ(budget.FairShare(), 20 * kMiB / 8 * 5 / 10);
  EXPECT_EQ(budget.NextTarget(2 * kMiB, true, true), 20 * kMiB / 8 * 5 / 10);
  budget.set_opens_waiting(false);
  EXPECT_EQ(budget.FairShare(), 2 * kMiB);
}

// Many channels on a short link: the measured share is below kMinWindow, so every
// channel would be held to it; a client that keeps up gets kSettledWindow unless opens wait
// (each open's answer comes behind what the windows let queue) or its client is slow.
TEST(WindowBudgetTest, SettledFloorOnlyForClientsThatKeepUpWhileNoOpenWaits) {
  WindowBudget budget;
  budget.set_channels(100);
  EXPECT_EQ(budget.NextTarget(WindowBudget::kMinWindow, false, true), WindowBudget::kSettledWindow);
  EXPECT_EQ(budget.NextTarget(WindowBudget::kMinWindow, false, false), WindowBudget::kMinWindow);
  budget.set_opens_waiting(true);
  EXPECT_EQ(budget.NextTarget(WindowBudget::kMinWindow, false, true), WindowBudget::kMinWindow);
}

// A download next to an idle channel (iperf3's control connection, a second psql session
// that waits): the idle one does not halve the busy one's share, so it can still double.
TEST(WindowBudgetTest, IdleChannelsDoNotShareTheTotal) {
  WindowBudget budget;
  budget.set_channels(2);
  budget.NoteRoundTrip(milliseconds(40), WindowBudget::Clock::time_point{});
  const WindowBudget::Clock::time_point start{};
  uint64_t busy = 0;
  uint64_t idle = 0;
  budget.NoteDelivered(0, start + milliseconds(1000), &idle);
  budget.NoteDelivered(2 * kMiB, start + milliseconds(1040), &busy);
  EXPECT_EQ(budget.total_target(), 4 * kMiB);
  EXPECT_EQ(budget.FairShare(), 4 * kMiB);
  EXPECT_EQ(budget.NextTarget(2 * kMiB, true, true), 4 * kMiB);
  // Once both deliver, they share it; one delivery counts a channel once per round trip.
  budget.NoteDelivered(kMiB, start + milliseconds(1050), &busy);
  budget.NoteDelivered(kMiB, start + milliseconds(1060), &busy);
  budget.NoteDelivered(kMiB, start + milliseconds(1070), &idle);
  budget.NoteDelivered(kMiB, start + milliseconds(1080), &idle);
  EXPECT_EQ(budget.total_target(), 8 * kMiB);
  EXPECT_EQ(budget.FairShare(), 4 * kMiB);
}

TEST(WindowBudgetTest, BufferedBytesAreCountedAgainstTheCap) {
  WindowBudget budget;
  EXPECT_TRUE(budget.HasBufferRoom());
  budget.AddBuffered(static_cast<int64_t>(WindowBudget::kTotalBuffered) - 1);
  EXPECT_TRUE(budget.HasBufferRoom());
  budget.AddBuffered(1);
  EXPECT_FALSE(budget.HasBufferRoom());
  budget.AddBuffered(-4096);
  EXPECT_TRUE(budget.HasBufferRoom());
  EXPECT_EQ(budget.buffered(), WindowBudget::kTotalBuffered - 4096);
}

}  // namespace
}  // namespace tether
