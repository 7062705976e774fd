#pragma once

#include <libssh2.h>

#include <cstddef>

namespace tether {

/// libssh2's allocation callbacks (libssh2_session_init_ex). libssh2 1.10 mallocs every
/// inbound packet's payload (~32 KiB for channel data) and frees it once the channel has
/// read it; glibc hands such blocks back to the kernel (heap trim) and faults them in again,
/// packet after packet. These callbacks keep a bounded free list of packet-sized blocks per
/// thread instead; everything else goes straight to malloc. Single-threaded per thread:
/// a block freed on another thread than the one that allocated it joins that thread's list.
namespace packet_pool {

/// Requests larger than this but no larger than kBlockBytes are served from the list.
inline constexpr size_t kMinPooledBytes = 4096;
/// The usable size of a pooled block: libssh2 1.10 accepts inbound packets up to 35000
/// bytes of payload (LIBSSH2_PACKET_MAXPAYLOAD is 40000 with the MAC and padding).
inline constexpr size_t kBlockBytes = 40000;
/// How many free blocks a thread keeps (~2.5 MiB): a full 2 MiB channel window of 32 KiB
/// packets is 64 of them, queued at once when libssh2 drains the socket.
inline constexpr size_t kMaxFreeBlocks = 64;

void* Allocate(size_t count, void** abstract);
void Free(void* block, void** abstract);
void* Reallocate(void* block, size_t count, void** abstract);

/// Gives every free block of this thread back to malloc (e.g. when the tunnel is idle,
/// before malloc_trim).
void ReleaseFreeBlocks();

/// Free blocks this thread holds now.
size_t FreeBlockCount();

/// A session whose allocations go through the callbacks above.
inline LIBSSH2_SESSION* InitSession() {
  return libssh2_session_init_ex(&Allocate, &Free, &Reallocate, nullptr);
}

}  // namespace packet_pool
}  // namespace tether
