#include "tether/packet_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace tether {
namespace {

using packet_pool::Allocate;
using packet_pool::Free;
using packet_pool::FreeBlockCount;
using packet_pool::kBlockBytes;
using packet_pool::kMaxFreeBlocks;
using packet_pool::kMinPooledBytes;
using packet_pool::Reallocate;
using packet_pool::ReleaseFreeBlocks;

class PacketPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { ReleaseFreeBlocks(); }
  void TearDown() override { ReleaseFreeBlocks(); }
  void* abstract_ = nullptr;
};

TEST_F(PacketPoolTest, PacketSizedBlocksAreReused) {
  void* first = Allocate(32777, &abstract_);
  ASSERT_NE(first, nullptr);
  std::memset(first, 0xab, 32777);
  Free(first, &abstract_);
  EXPECT_EQ(FreeBlockCount(), 1u);
  void* second = Allocate(kBlockBytes, &abstract_);
  EXPECT_EQ(second, first);
  EXPECT_EQ(FreeBlockCount(), 0u);
  std::memset(second, 0xcd, kBlockBytes);  // the whole pooled size is usable
  Free(second, &abstract_);
}

TEST_F(PacketPoolTest, SmallAndLargeBlocksBypassTheList) {
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{48}, kMinPooledBytes, kBlockBytes + 1, size_t{1} << 20}) {
    void* block = Allocate(size, &abstract_);
    ASSERT_NE(block, nullptr) << size;
    if (size > 0) std::memset(block, 0x5a, size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % alignof(std::max_align_t), 0u) << size;
    Free(block, &abstract_);
    EXPECT_EQ(FreeBlockCount(), 0u) << size;
  }
  Free(nullptr, &abstract_);
}

TEST_F(PacketPoolTest, TheListIsBounded) {
  std::vector<void*> blocks;
  for (size_t i = 0; i < kMaxFreeBlocks + 10; ++i) blocks.push_back(Allocate(30000, &abstract_));
  for (void* block : blocks) Free(block, &abstract_);
  EXPECT_EQ(FreeBlockCount(), kMaxFreeBlocks);
  ReleaseFreeBlocks();
  EXPECT_EQ(FreeBlockCount(), 0u);
}

TEST_F(PacketPoolTest, ReallocateKeepsTheContentAcrossClasses) {
  auto* block = static_cast<char*>(Reallocate(nullptr, 100, &abstract_));
  ASSERT_NE(block, nullptr);
  for (int i = 0; i < 100; ++i) block[i] = static_cast<char>(i);
  block = static_cast<char*>(Reallocate(block, 20000, &abstract_));  // into the pooled class
  ASSERT_NE(block, nullptr);
  block[19999] = 'z';
  auto* same = static_cast<char*>(Reallocate(block, 30000, &abstract_));  // fits: stays
  EXPECT_EQ(same, block);
  block = static_cast<char*>(Reallocate(same, 100000, &abstract_));  // out of it again
  ASSERT_NE(block, nullptr);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(block[i], static_cast<char>(i));
  EXPECT_EQ(block[19999], 'z');
  block = static_cast<char*>(Reallocate(block, 10, &abstract_));  // shrinking in place
  for (int i = 0; i < 10; ++i) ASSERT_EQ(block[i], static_cast<char>(i));
  Free(block, &abstract_);
  EXPECT_EQ(FreeBlockCount(), 1u);  // the pooled block went back to the list
}

TEST_F(PacketPoolTest, EachThreadHasItsOwnListAndLeavesNothingBehind) {
  void* mine = Allocate(30000, &abstract_);
  std::thread other([&] {
    void* theirs = Allocate(30000, nullptr);
    Free(theirs, nullptr);
    EXPECT_EQ(FreeBlockCount(), 1u);
    Free(mine, nullptr);  // a block from another thread joins this thread's list
    EXPECT_EQ(FreeBlockCount(), 2u);
  });
  other.join();
  EXPECT_EQ(FreeBlockCount(), 0u);  // (LeakSanitizer checks the thread's list was freed)
}

TEST_F(PacketPoolTest, ASessionRunsOnThePool) {
  LIBSSH2_SESSION* session = packet_pool::InitSession();
  ASSERT_NE(session, nullptr);
  libssh2_session_set_blocking(session, 0);
  EXPECT_EQ(libssh2_session_free(session), 0);
}

}  // namespace
}  // namespace tether
