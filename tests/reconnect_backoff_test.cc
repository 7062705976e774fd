#include "tether/reconnect_backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace tether {
namespace {

using std::chrono::milliseconds;

TEST(ReconnectBackoffTest, DoublesFromOneSecondUpToAMinuteWithAtMostAQuarterOff) {
  ReconnectBackoff backoff(1);
  const int64_t bases[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
  for (int64_t base : bases) {
    const milliseconds wait = backoff.Next();
    EXPECT_LE(wait.count(), base);
    EXPECT_GE(wait.count(), base - base / 4) << "base " << base;
  }
  EXPECT_EQ(backoff.attempts(), 9);
}

TEST(ReconnectBackoffTest, StaysAtTheCapForeverWithoutOverflow) {
  ReconnectBackoff backoff(2);
  milliseconds wait{0};
  for (int i = 0; i < 100000; ++i) wait = backoff.Next();
  EXPECT_LE(wait, ReconnectBackoff::kLongest);
  EXPECT_GE(wait, ReconnectBackoff::kLongest * 3 / 4);
}

TEST(ReconnectBackoffTest, ResetStartsAgainAtOneSecond) {
  ReconnectBackoff backoff(3);
  for (int i = 0; i < 5; ++i) backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.attempts(), 0);
  EXPECT_LE(backoff.Next(), ReconnectBackoff::kFirst);
}

TEST(ReconnectBackoffTest, JitterSpreadsTunnelsThatLostTheSameServer) {
  // Twenty tunnels cut off at once must not all come back at the same millisecond.
  std::set<int64_t> first_waits;
  for (uint64_t seed = 0; seed < 20; ++seed)
    first_waits.insert(ReconnectBackoff(seed).Next().count());
  EXPECT_GT(first_waits.size(), 10u);
}

}  // namespace
}  // namespace tether
