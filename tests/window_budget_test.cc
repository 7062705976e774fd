#include "tether/window_budget.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

constexpr uint32_t kKiB = 1024;
constexpr uint32_t kMiB = 1024 * 1024;

TEST(WindowBudgetTest, OpenWindowIsAShareOfTheTotal) {
  EXPECT_EQ(WindowBudget::OpenWindow(0), 2 * kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(1), 2 * kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(4), 2 * kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(8), kMiB);
  EXPECT_EQ(WindowBudget::OpenWindow(100), 64 * kMiB / 100 / 8 < 64 * kKiB ? 64 * kKiB
                                                                         : 64 * kMiB / 100 / 8);
  EXPECT_EQ(WindowBudget::OpenWindow(1000), 64 * kKiB);
}

TEST(WindowBudgetTest, FairShareIsBoundedBothWays) {
  EXPECT_EQ(WindowBudget::FairShare(1), 16 * kMiB);
  EXPECT_EQ(WindowBudget::FairShare(4), 16 * kMiB);
  EXPECT_EQ(WindowBudget::FairShare(8), 8 * kMiB);
  EXPECT_EQ(WindowBudget::FairShare(100), 64 * kMiB / 100);
  EXPECT_EQ(WindowBudget::FairShare(10000), 64 * kKiB);
}

struct TargetCase {
  uint32_t target;
  bool starved;
  bool keeps_up;
  size_t channels;
  uint32_t next;
};

class NextTargetTest : public ::testing::TestWithParam<TargetCase> {};

TEST_P(NextTargetTest, Table) {
  const TargetCase& c = GetParam();
  EXPECT_EQ(WindowBudget::NextTarget(c.target, c.starved, c.keeps_up, c.channels), c.next);
}

INSTANTIATE_TEST_SUITE_P(
    WindowBudgetTest, NextTargetTest,
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
