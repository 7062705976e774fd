#include "tether/event_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tether/unique_fd.h"

namespace tether {
namespace {

using std::chrono::milliseconds;
using Clock = EventLoop::Clock;

// Both ends of a Unix stream socketpair.
struct SocketPair {
  UniqueFd a;
  UniqueFd b;
};

SocketPair MakeSocketPair() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Makes `pair.a` readable by writing one byte into `pair.b`.
void MakeReadable(const SocketPair& pair) { ASSERT_EQ(write(pair.b.get(), "x", 1), 1); }

class EventLoopTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    loop_ = EventLoop::Create(&error);
    ASSERT_NE(loop_, nullptr) << error;
  }

  // Runs single iterations until `done` or `limit` passes; never hangs a test.
  void RunUntil(const bool& done, milliseconds limit = milliseconds(2000)) {
    const auto deadline = Clock::now() + limit;
    while (!done && Clock::now() < deadline) loop_->RunOnce(milliseconds(20));
  }

  std::unique_ptr<EventLoop> loop_;
};

TEST_F(EventLoopTest, DeliversReadableEventOnlyWhenDataArrives) {
  SocketPair pair = MakeSocketPair();
  std::vector<uint32_t> seen;
  ASSERT_TRUE(
      loop_->Watch(pair.a.get(), EPOLLIN, [&](uint32_t events) { seen.push_back(events); }));
  EXPECT_TRUE(loop_->IsWatched(pair.a.get()));

  loop_->RunOnce(milliseconds(0));
  EXPECT_TRUE(seen.empty()) << "no data yet, yet the callback ran";

  MakeReadable(pair);
  loop_->RunOnce(milliseconds(1000));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0] & EPOLLIN);
  EXPECT_FALSE(seen[0] & EPOLLOUT) << "EPOLLOUT was not asked for";
}

TEST_F(EventLoopTest, WatchingTheSameFdTwiceFails) {
  SocketPair pair = MakeSocketPair();
  ASSERT_TRUE(loop_->Watch(pair.a.get(), EPOLLIN, [](uint32_t) {}));
  EXPECT_FALSE(loop_->Watch(pair.a.get(), EPOLLIN, [](uint32_t) {}));
}

TEST_F(EventLoopTest, SetEventsSwitchesToWritable) {
  SocketPair pair = MakeSocketPair();
  std::vector<uint32_t> seen;
  ASSERT_TRUE(
      loop_->Watch(pair.a.get(), EPOLLIN, [&](uint32_t events) { seen.push_back(events); }));
  loop_->RunOnce(milliseconds(0));
  ASSERT_TRUE(seen.empty()) << "an idle socket is not readable";

  loop_->SetEvents(pair.a.get(), EPOLLOUT);
  loop_->RunOnce(milliseconds(1000));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0] & EPOLLOUT);

  loop_->SetEvents(pair.a.get(), 0);
  loop_->RunOnce(milliseconds(0));
  EXPECT_EQ(seen.size(), 1u) << "no interest left, yet the callback ran";
}

TEST_F(EventLoopTest, UnwatchingAnotherFdDropsItsPendingEvent) {
  SocketPair first = MakeSocketPair();
  SocketPair second = MakeSocketPair();
  MakeReadable(first);
  MakeReadable(second);
  int calls = 0;
  // Both fds are ready in the same wake-up; whichever runs first unwatches both.
  auto unwatch_both = [&](uint32_t) {
    ++calls;
    loop_->Unwatch(first.a.get());
    loop_->Unwatch(second.a.get());
  };
  ASSERT_TRUE(loop_->Watch(first.a.get(), EPOLLIN, unwatch_both));
  ASSERT_TRUE(loop_->Watch(second.a.get(), EPOLLIN, unwatch_both));

  loop_->RunOnce(milliseconds(1000));
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(loop_->IsWatched(first.a.get()));
  EXPECT_FALSE(loop_->IsWatched(second.a.get()));
  loop_->RunOnce(milliseconds(0));
  EXPECT_EQ(calls, 1) << "an unwatched fd still delivered events";
}

TEST_F(EventLoopTest, RewatchedFdDoesNotReceiveTheStaleEvent) {
  SocketPair first = MakeSocketPair();
  SocketPair second = MakeSocketPair();
  MakeReadable(first);
  MakeReadable(second);
  int old_calls = 0;
  int new_calls = 0;
  auto replace_both = [&](uint32_t) {
    ++old_calls;
    for (int fd : {first.a.get(), second.a.get()}) {
      loop_->Unwatch(fd);
      ASSERT_TRUE(loop_->Watch(fd, EPOLLIN, [&](uint32_t) { ++new_calls; }));
    }
  };
  ASSERT_TRUE(loop_->Watch(first.a.get(), EPOLLIN, replace_both));
  ASSERT_TRUE(loop_->Watch(second.a.get(), EPOLLIN, replace_both));

  loop_->RunOnce(milliseconds(1000));
  EXPECT_EQ(old_calls, 1);
  EXPECT_EQ(new_calls, 0) << "an event of the old watch reached the new callback";

  loop_->RunOnce(milliseconds(1000));
  EXPECT_EQ(new_calls, 2) << "both fds are still readable under their new watches";
}

TEST_F(EventLoopTest, CallbackMayUnwatchItselfAndKeepUsingItsCaptures) {
  SocketPair pair = MakeSocketPair();
  MakeReadable(pair);
  const std::string captured(1000, 'c');  // heap-allocated, freed if the function is
  std::string seen;
  int fd = pair.a.get();
  ASSERT_TRUE(loop_->Watch(fd, EPOLLIN, [this, fd, captured, &seen](uint32_t) {
    loop_->Unwatch(fd);
    seen = captured;
  }));
  loop_->RunOnce(milliseconds(1000));
  EXPECT_EQ(seen, captured);
  EXPECT_FALSE(loop_->IsWatched(fd));
}

TEST_F(EventLoopTest, UnwatchOfUnknownFdIsHarmless) {
  loop_->Unwatch(12345);
  loop_->SetEvents(12345, EPOLLIN);
  EXPECT_FALSE(loop_->IsWatched(12345));
}

struct TimerOrderCase {
  std::string name;
  std::vector<int> delays_ms;       // one timer per entry, added in this order
  std::vector<int> expected_order;  // indexes into delays_ms, in firing order
};

void PrintTo(const TimerOrderCase& c, std::ostream* os) { *os << c.name; }

class EventLoopTimerOrderTest : public testing::TestWithParam<TimerOrderCase> {};

TEST_P(EventLoopTimerOrderTest, FiresInDeadlineOrder) {
  std::string error;
  std::unique_ptr<EventLoop> loop = EventLoop::Create(&error);
  ASSERT_NE(loop, nullptr) << error;
  const auto start = Clock::now();
  std::vector<int> fired;
  const std::vector<int>& delays = GetParam().delays_ms;
  for (size_t i = 0; i < delays.size(); ++i) {
    loop->AddTimer(start + milliseconds(delays[i]), [&fired, &loop, &delays, i] {
      fired.push_back(static_cast<int>(i));
      if (fired.size() == delays.size()) loop->Stop();
    });
  }
  const auto safety = loop->AddTimer(start + milliseconds(3000), [&loop] { loop->Stop(); });
  loop->Run();
  loop->CancelTimer(safety);
  EXPECT_EQ(fired, GetParam().expected_order);
}

INSTANTIATE_TEST_SUITE_P(
    EventLoop, EventLoopTimerOrderTest,
    testing::Values(TimerOrderCase{"AddedOutOfOrder", {30, 10, 20}, {1, 2, 0}},
                    TimerOrderCase{"AddedInOrder", {5, 10, 15}, {0, 1, 2}},
                    TimerOrderCase{"SameDeadlineKeepsInsertionOrder", {10, 10, 10}, {0, 1, 2}},
                    TimerOrderCase{"PastDeadlinesFirstAndAtOnce", {20, -50, 0, -10}, {1, 3, 2, 0}}),
    [](const testing::TestParamInfo<TimerOrderCase>& param_info) { return param_info.param.name; });

TEST_F(EventLoopTest, CancelledTimerNeverFires) {
  const auto start = Clock::now();
  bool cancelled_fired = false;
  bool kept_fired = false;
  EventLoop::TimerId cancelled =
      loop_->AddTimer(start + milliseconds(5), [&] { cancelled_fired = true; });
  loop_->AddTimer(start + milliseconds(20), [&] { kept_fired = true; });
  loop_->CancelTimer(cancelled);
  RunUntil(kept_fired);
  EXPECT_TRUE(kept_fired);
  EXPECT_FALSE(cancelled_fired);
  loop_->CancelTimer(cancelled);  // a second cancel, and of a fired id, is harmless
}

TEST_F(EventLoopTest, CancelledTimerNoLongerShortensTheWait) {
  loop_->CancelTimer(loop_->AddTimer(Clock::now() + milliseconds(10), [] {}));
  const auto start = Clock::now();
  loop_->RunOnce(milliseconds(100));
  EXPECT_GE(Clock::now() - start, milliseconds(90)) << "woke up for a cancelled timer";
}

TEST_F(EventLoopTest, TimerMayCancelAnotherDueInTheSameWakeUp) {
  const auto when = Clock::now() + milliseconds(5);
  bool second_fired = false;
  bool first_fired = false;
  EventLoop::TimerId second = 0;
  loop_->AddTimer(when, [&] {
    first_fired = true;
    loop_->CancelTimer(second);
  });
  second = loop_->AddTimer(when, [&] { second_fired = true; });
  std::this_thread::sleep_for(milliseconds(10));  // both are due before the loop looks
  loop_->RunOnce(milliseconds(0));
  EXPECT_TRUE(first_fired);
  EXPECT_FALSE(second_fired);
}

TEST_F(EventLoopTest, TimerCallbackMayAddATimer) {
  const auto start = Clock::now();
  std::vector<std::string> fired;
  loop_->AddTimer(start + milliseconds(5), [&] {
    fired.push_back("first");
    loop_->AddTimer(Clock::now() + milliseconds(10), [&] {
      fired.push_back("second");
      loop_->Stop();
    });
  });
  const auto safety = loop_->AddTimer(start + milliseconds(3000), [&] { loop_->Stop(); });
  loop_->Run();
  loop_->CancelTimer(safety);
  EXPECT_EQ(fired, (std::vector<std::string>{"first", "second"}));
  EXPECT_GE(Clock::now() - start, milliseconds(15));
}

TEST_F(EventLoopTest, TimerAddedForNowFromATimerWaitsForTheNextTurn) {
  // A callback that re-arms itself "now" (the tunnel does, to stay responsive) must not keep
  // one RunOnce busy forever: fd events get their turn in between.
  SocketPair pair = MakeSocketPair();
  MakeReadable(pair);
  int fd_calls = 0;
  ASSERT_TRUE(loop_->Watch(pair.a.get(), EPOLLIN, [&](uint32_t) { ++fd_calls; }));
  int timer_calls = 0;
  std::function<void()> rearm = [&] {
    ++timer_calls;
    loop_->AddTimer(Clock::now(), rearm);
  };
  loop_->AddTimer(Clock::now(), rearm);

  loop_->RunOnce(milliseconds(0));
  EXPECT_EQ(timer_calls, 1);
  loop_->RunOnce(milliseconds(0));
  EXPECT_EQ(timer_calls, 2);
  EXPECT_EQ(fd_calls, 2);
}

TEST_F(EventLoopTest, OneUnboundedWaitFiresATimerWithSubMillisecondDeadline) {
  // The wait is rounded up: waking a fraction of a millisecond early would return with the
  // timer still pending.
  bool fired = false;
  loop_->AddTimer(Clock::now() + std::chrono::microseconds(7500), [&] { fired = true; });
  loop_->RunOnce(milliseconds(-1));
  EXPECT_TRUE(fired);
}

struct MaxWaitCase {
  std::string name;
  int max_wait_ms;
  int timer_in_ms;  // < 0: no timer
  int min_elapsed_ms;
  int max_elapsed_ms;
  bool timer_fires;
};

void PrintTo(const MaxWaitCase& c, std::ostream* os) { *os << c.name; }

class EventLoopMaxWaitTest : public testing::TestWithParam<MaxWaitCase> {};

TEST_P(EventLoopMaxWaitTest, RunOnceReturnsInTime) {
  const MaxWaitCase& c = GetParam();
  std::string error;
  std::unique_ptr<EventLoop> loop = EventLoop::Create(&error);
  ASSERT_NE(loop, nullptr) << error;
  const auto start = Clock::now();
  bool fired = false;
  if (c.timer_in_ms >= 0) {
    loop->AddTimer(start + milliseconds(c.timer_in_ms), [&fired] { fired = true; });
  }
  loop->RunOnce(milliseconds(c.max_wait_ms));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(c.min_elapsed_ms));
  EXPECT_LT(elapsed, milliseconds(c.max_elapsed_ms));
  EXPECT_EQ(fired, c.timer_fires);
}

INSTANTIATE_TEST_SUITE_P(
    EventLoop, EventLoopMaxWaitTest,
    testing::Values(MaxWaitCase{"NothingToDo", 50, -1, 45, 1000, false},
                    MaxWaitCase{"ZeroWaitPolls", 0, -1, 0, 100, false},
                    MaxWaitCase{"TimerLaterThanMaxWait", 30, 10000, 25, 1000, false},
                    MaxWaitCase{"TimerSoonerThanMaxWait", 5000, 20, 15, 1000, true}),
    [](const testing::TestParamInfo<MaxWaitCase>& param_info) { return param_info.param.name; });

TEST_F(EventLoopTest, StopFromFdCallbackEndsRunAndSkipsTheRestOfTheWakeUp) {
  SocketPair first = MakeSocketPair();
  SocketPair second = MakeSocketPair();
  MakeReadable(first);
  MakeReadable(second);
  int calls = 0;
  auto stop = [&](uint32_t) {
    ++calls;
    loop_->Stop();
  };
  ASSERT_TRUE(loop_->Watch(first.a.get(), EPOLLIN, stop));
  ASSERT_TRUE(loop_->Watch(second.a.get(), EPOLLIN, stop));
  bool timer_fired = false;
  loop_->AddTimer(Clock::now() - milliseconds(1), [&] { timer_fired = true; });
  const auto safety = loop_->AddTimer(Clock::now() + milliseconds(3000), [&] { loop_->Stop(); });

  loop_->Run();
  loop_->CancelTimer(safety);
  EXPECT_TRUE(loop_->stopping());
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(timer_fired) << "due timers ran after Stop()";
}

TEST_F(EventLoopTest, StopFromTimerEndsRun) {
  const auto start = Clock::now();
  loop_->AddTimer(start + milliseconds(10), [&] { loop_->Stop(); });
  bool late_fired = false;
  loop_->AddTimer(start + milliseconds(3000), [&] {
    late_fired = true;
    loop_->Stop();
  });
  loop_->Run();
  EXPECT_FALSE(late_fired);
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
}

}  // namespace
}  // namespace tether
