#include "tether/keepalive.h"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <ostream>
#include <string>

namespace tether {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kTenYearsMs = int64_t{3650} * 24 * 3600 * 1000;

// Times are offsets from an arbitrary `now`, in milliseconds.
struct NextCheckCase {
  std::string name;
  int64_t last_arrival_ms;  // relative to now; negative = in the past
  int64_t interval_s;
  int count;
  int64_t expected_ms;  // relative to now
};

void PrintTo(const NextCheckCase& c, std::ostream* os) { *os << c.name; }

class KeepaliveNextCheckTest : public ::testing::TestWithParam<NextCheckCase> {};

TEST_P(KeepaliveNextCheckTest, ComputesNextCheck) {
  const NextCheckCase& c = GetParam();
  const EventLoop::Clock::time_point now{seconds(100000)};
  const auto next = Keepalive::NextCheck(now, now + milliseconds(c.last_arrival_ms),
                                         seconds(c.interval_s), c.count);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(next - now).count(), c.expected_ms);
}

// Rule: probe one interval after the later of the last arrival and now; but check exactly
// when the silence reaches interval x count; never sooner than 50 ms from now.
INSTANTIATE_TEST_SUITE_P(
    Keepalive, KeepaliveNextCheckTest,
    ::testing::Values(NextCheckCase{"JustHeardFrom", 0, 15, 3, 15000},
                      NextCheckCase{"HeardFromRecently", -5000, 15, 3, 15000},
                      NextCheckCase{"QuietForOneInterval", -15000, 15, 3, 15000},
                      NextCheckCase{"DeadlineBeforeNextProbe", -40000, 15, 3, 5000},
                      NextCheckCase{"DeadlineEqualsNextProbe", -30000, 15, 3, 15000},
                      NextCheckCase{"DeadlineJustAhead", -44900, 15, 3, 100},
                      NextCheckCase{"DeadlineTooCloseIsClamped", -44990, 15, 3, 50},
                      NextCheckCase{"DeadlineNowIsClamped", -45000, 15, 3, 50},
                      NextCheckCase{"DeadlinePassedIsClamped", -60000, 15, 3, 50},
                      NextCheckCase{"CountOneChecksAtDeadline", -3000, 10, 1, 7000},
                      NextCheckCase{"CountOneJustHeardFrom", 0, 10, 1, 10000},
                      NextCheckCase{"ShortInterval", -4500, 1, 5, 500},
                      NextCheckCase{"ArrivalAfterNow", 1000, 15, 3, 16000},
                      NextCheckCase{"ArrivalAfterNowCountOne", 1000, 15, 1, 16000},
                      // --keepalive 36500d: saturated at ten years instead of overflowing.
                      NextCheckCase{"HugeIntervalSaturates", 0, 3153600000, 3, kTenYearsMs},
                      NextCheckCase{"HugeCountSaturates", 0, 3600, 2147483647, 3600000},
                      NextCheckCase{"HugeCountQuietLongSaturates", -3600000, 3600, 2147483647,
                                    3600000}),
    [](const ::testing::TestParamInfo<NextCheckCase>& param_info) {
      return param_info.param.name;
    });

struct SilenceLimitCase {
  int64_t interval_s;
  int count;
  int64_t expected_s;
};

TEST(KeepaliveSilenceLimitTest, MultipliesAndSaturatesAtTenYears) {
  const int64_t ten_years_s = kTenYearsMs / 1000;
  for (const SilenceLimitCase& c :
       std::initializer_list<SilenceLimitCase>{{15, 3, 45},
                                               {1, 1, 1},
                                               {0, 3, 0},
                                               {3600, 2147483647, ten_years_s},
                                               {ten_years_s, 1, ten_years_s},
                                               {ten_years_s - 1, 2, ten_years_s},
                                               {int64_t{1} << 62, 3, ten_years_s},
                                               {int64_t{1} << 40, 2147483647, ten_years_s}}) {
    EXPECT_EQ(Keepalive::SilenceLimit(seconds(c.interval_s), c.count).count(), c.expected_s)
        << c.interval_s << " x " << c.count;
  }
}

}  // namespace
}  // namespace tether
