#include "tether/byte_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace tether {
namespace {

// Copies `text` into the writable tail and commits it; the tail must have room.
void Append(ByteBuffer* buffer, const std::string& text) {
  auto [tail, room] = buffer->Writable();
  ASSERT_GE(room, text.size());
  std::memcpy(tail, text.data(), text.size());
  buffer->Commit(text.size());
}

std::string Contents(const ByteBuffer& buffer) { return std::string(buffer.Data(), buffer.Size()); }

TEST(ByteBufferTest, WritableCommitConsume) {
  ByteBuffer buffer(8);
  auto [tail, room] = buffer.Writable();
  EXPECT_EQ(room, 8u);
  EXPECT_EQ(tail, buffer.Data()) << "an empty buffer writes at its start";

  Append(&buffer, "hello");
  EXPECT_EQ(Contents(buffer), "hello");
  EXPECT_EQ(buffer.Writable().second, 3u);

  buffer.Consume(2);
  EXPECT_EQ(Contents(buffer), "llo");
  EXPECT_EQ(buffer.Writable().second, 3u) << "consuming does not move data";

  Append(&buffer, "!!!");
  EXPECT_EQ(Contents(buffer), "llo!!!");
}

TEST(ByteBufferTest, ConsumingEverythingRewindsToTheStart) {
  ByteBuffer buffer(8);
  Append(&buffer, "abcdef");
  buffer.Consume(6);
  EXPECT_TRUE(buffer.Empty());
  EXPECT_EQ(buffer.Writable().second, 8u) << "an emptied buffer offers its full capacity";
}

TEST(ByteBufferTest, CompactsOnlyWhenTheTailIsFull) {
  ByteBuffer buffer(8);
  Append(&buffer, "abcdef");
  buffer.Consume(4);  // "ef" at offsets 4..5, room for 2 at the tail
  const char* before = buffer.Data();

  auto [tail, room] = buffer.Writable();
  EXPECT_EQ(room, 2u);
  EXPECT_EQ(buffer.Data(), before) << "compacted although the tail had room";
  EXPECT_EQ(tail, before + 2);

  std::memcpy(tail, "gh", 2);
  buffer.Commit(2);  // the tail is full now, with 4 free bytes at the front
  EXPECT_EQ(buffer.Data(), before);

  auto [new_tail, new_room] = buffer.Writable();
  EXPECT_EQ(new_room, 4u);
  EXPECT_EQ(buffer.Data(), before - 4) << "data moved to the front of the storage";
  EXPECT_EQ(new_tail, buffer.Data() + 4);
  EXPECT_EQ(Contents(buffer), "efgh");
}

TEST(ByteBufferTest, FullBufferOffersNoRoom) {
  ByteBuffer buffer(4);
  Append(&buffer, "abcd");
  auto [tail, room] = buffer.Writable();
  EXPECT_EQ(room, 0u);
  EXPECT_EQ(Contents(buffer), "abcd");
  (void)tail;
}

// One step of a scripted sequence and the state expected after it.
struct StateStep {
  int commit = 0;   // bytes written at the tail (through Writable) before the check
  int consume = 0;  // then bytes consumed at the head
  size_t size;
  bool empty;
  bool full;
  bool has_space;
};

struct StateCase {
  std::string name;
  size_t capacity;
  std::vector<StateStep> steps;
};

void PrintTo(const StateCase& c, std::ostream* os) { *os << c.name; }

class ByteBufferStateTest : public testing::TestWithParam<StateCase> {};

TEST_P(ByteBufferStateTest, ReportsSizeEmptyFullHasSpace) {
  ByteBuffer buffer(GetParam().capacity);
  EXPECT_TRUE(buffer.Empty());
  for (size_t i = 0; i < GetParam().steps.size(); ++i) {
    const StateStep& step = GetParam().steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    if (step.commit > 0) Append(&buffer, std::string(static_cast<size_t>(step.commit), 'x'));
    if (step.consume > 0) buffer.Consume(static_cast<size_t>(step.consume));
    EXPECT_EQ(buffer.Size(), step.size);
    EXPECT_EQ(buffer.Empty(), step.empty);
    EXPECT_EQ(buffer.Full(), step.full);
    EXPECT_EQ(buffer.HasSpace(), step.has_space);
  }
}

INSTANTIATE_TEST_SUITE_P(
    ByteBuffer, ByteBufferStateTest,
    testing::Values(
        StateCase{"FillAndDrain",
                  4,
                  {{2, 0, 2, false, false, true},
                   {2, 0, 4, false, true, false},
                   {0, 1, 3, false, false, true},
                   {0, 3, 0, true, false, true}}},
        StateCase{"FullAfterWrapByCompaction",
                  4,
                  {{3, 2, 1, false, false, true},
                   {1, 0, 2, false, false, true},    // tail full, front free: HasSpace
                   {2, 0, 4, false, true, false}}},  // Writable compacted to make room
        StateCase{"CapacityOne", 1, {{1, 0, 1, false, true, false}, {0, 1, 0, true, false, true}}}),
    [](const testing::TestParamInfo<StateCase>& param_info) { return param_info.param.name; });

struct RandomCase {
  std::string name;
  size_t capacity;
  unsigned seed;
};

void PrintTo(const RandomCase& c, std::ostream* os) { *os << c.name; }

class ByteBufferRandomTest : public testing::TestWithParam<RandomCase> {};

TEST_P(ByteBufferRandomTest, MatchesADequeOverManyOperations) {
  ByteBuffer buffer(GetParam().capacity);
  std::deque<char> reference;
  std::mt19937 random(GetParam().seed);
  for (int op = 0; op < 20000; ++op) {
    if (random() % 2 == 0) {
      auto [tail, room] = buffer.Writable();
      ASSERT_EQ(room == 0, reference.size() == GetParam().capacity) << "op " << op;
      size_t n = room == 0 ? 0 : random() % (room + 1);
      for (size_t i = 0; i < n; ++i) {
        tail[i] = static_cast<char>(random());
        reference.push_back(tail[i]);
      }
      buffer.Commit(n);
    } else {
      size_t n = reference.empty() ? 0 : random() % (reference.size() + 1);
      ASSERT_TRUE(
          std::equal(reference.begin(), reference.begin() + static_cast<long>(n), buffer.Data()))
          << "op " << op;
      buffer.Consume(n);
      reference.erase(reference.begin(), reference.begin() + static_cast<long>(n));
    }
    ASSERT_EQ(buffer.Size(), reference.size()) << "op " << op;
    ASSERT_EQ(buffer.Full(), reference.size() == GetParam().capacity);
  }
  ASSERT_TRUE(std::equal(reference.begin(), reference.end(), buffer.Data()));
}

INSTANTIATE_TEST_SUITE_P(ByteBuffer, ByteBufferRandomTest,
                         testing::Values(RandomCase{"Tiny", 3, 1}, RandomCase{"Small", 17, 2},
                                         RandomCase{"Page", 4096, 3}),
                         [](const testing::TestParamInfo<RandomCase>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace tether
