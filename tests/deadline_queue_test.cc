// DeadlineQueue on a real EventLoop: ids expire in order, none before its deadline, with one
// timer at a time, and nothing fires once the queue is gone.

#include "tether/deadline_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tether {
namespace {

using Clock = EventLoop::Clock;
using std::chrono::milliseconds;

class DeadlineQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    loop_ = EventLoop::Create(&error);
    ASSERT_TRUE(loop_) << error;
  }

  std::unique_ptr<EventLoop> loop_;
};

TEST_F(DeadlineQueueTest, IdsExpireInOrderAndNotBeforeTheirDeadline) {
  const Clock::time_point start = Clock::now();
  std::vector<std::pair<uint64_t, Clock::duration>> expired;
  DeadlineQueue queue(loop_.get(), [&](uint64_t id) {
    expired.emplace_back(id, Clock::now() - start);
    if (expired.size() == 3) loop_->Stop();
  });
  queue.Add(start + milliseconds(30), 7);
  queue.Add(start + milliseconds(30), 8);  // the same deadline: both at once
  queue.Add(start + milliseconds(80), 9);
  EXPECT_EQ(queue.size(), 3u);
  const EventLoop::TimerId guard =
      loop_->AddTimer(start + milliseconds(5000), [&] { loop_->Stop(); });
  loop_->Run();
  loop_->CancelTimer(guard);
  ASSERT_EQ(expired.size(), 3u);
  EXPECT_EQ(expired[0].first, 7u);
  EXPECT_EQ(expired[1].first, 8u);
  EXPECT_EQ(expired[2].first, 9u);
  EXPECT_GE(expired[0].second, milliseconds(30));
  EXPECT_GE(expired[2].second, milliseconds(80));
  EXPECT_EQ(queue.size(), 0u);
}

TEST_F(DeadlineQueueTest, AnIdAddedAfterTheQueueRanDryStillExpires) {
  std::vector<uint64_t> expired;
  DeadlineQueue queue(loop_.get(), [&](uint64_t id) {
    expired.push_back(id);
    loop_->Stop();
  });
  queue.Add(Clock::now() + milliseconds(10), 1);
  loop_->Run();
  loop_->Resume();
  queue.Add(Clock::now() + milliseconds(10), 2);
  const EventLoop::TimerId guard =
      loop_->AddTimer(Clock::now() + milliseconds(5000), [&] { loop_->Stop(); });
  loop_->Run();
  loop_->CancelTimer(guard);
  EXPECT_EQ(expired, (std::vector<uint64_t>{1, 2}));
}

TEST_F(DeadlineQueueTest, NothingFiresOnceTheQueueIsGone) {
  bool fired = false;
  {
    DeadlineQueue queue(loop_.get(), [&](uint64_t) { fired = true; });
    queue.Add(Clock::now() + milliseconds(10), 1);
  }
  const EventLoop::TimerId guard =
      loop_->AddTimer(Clock::now() + milliseconds(60), [&] { loop_->Stop(); });
  loop_->Run();
  loop_->CancelTimer(guard);
  EXPECT_FALSE(fired);
}

}  // namespace
}  // namespace tether
