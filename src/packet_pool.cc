#include "tether/packet_pool.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TETHER_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TETHER_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TETHER_POISON(p, n) ((void)(p), (void)(n))
#define TETHER_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace tether::packet_pool {
namespace {

// Precedes every block handed to libssh2, pooled or not; its size keeps the block aligned
// as malloc's are.
struct alignas(alignof(std::max_align_t)) Header {
  size_t capacity;  ///< usable bytes after the header; kBlockBytes marks a pooled block
  Header* next;     ///< the next free block while on the list
};

bool Pooled(size_t count) { return count > kMinPooledBytes && count <= kBlockBytes; }

void* Payload(Header* header) { return header + 1; }
Header* HeaderOf(void* block) { return static_cast<Header*>(block) - 1; }

// A free list per thread. Blocks on the list are poisoned under AddressSanitizer, so that
// a use after free inside libssh2 is still reported although the memory is not returned.
class FreeList {
 public:
  FreeList() = default;
  FreeList(const FreeList&) = delete;
  FreeList& operator=(const FreeList&) = delete;
  ~FreeList() {
    Release();
    gone_ = true;
  }

  Header* Take() {
    if (head_ == nullptr) return nullptr;
    Header* header = head_;
    TETHER_UNPOISON(header, sizeof(Header) + kBlockBytes);
    head_ = header->next;
    --count_;
    return header;
  }

  void Put(Header* header) {
    if (gone_ || count_ == kMaxFreeBlocks) {
      std::free(header);
      return;
    }
    header->next = head_;
    head_ = header;
    ++count_;
    TETHER_POISON(header, sizeof(Header) + kBlockBytes);
  }

  void Release() {
    while (Header* header = Take()) std::free(header);
  }

  size_t count() const { return count_; }

 private:
  Header* head_ = nullptr;
  size_t count_ = 0;
  bool gone_ = false;  // a block freed during thread exit, after the list went
};

thread_local FreeList free_list;

Header* NewBlock(size_t capacity) {
  auto* header = static_cast<Header*>(std::malloc(sizeof(Header) + capacity));
  if (header == nullptr) return nullptr;
  header->capacity = capacity;
  header->next = nullptr;
  return header;
}

}  // namespace

void* Allocate(size_t count, void** abstract) {
  (void)abstract;
  if (!Pooled(count)) {
    Header* header = NewBlock(count);
    return header == nullptr ? nullptr : Payload(header);
  }
  Header* header = free_list.Take();
  if (header == nullptr) header = NewBlock(kBlockBytes);
  return header == nullptr ? nullptr : Payload(header);
}

void Free(void* block, void** abstract) {
  (void)abstract;
  if (block == nullptr) return;
  Header* header = HeaderOf(block);
  if (header->capacity == kBlockBytes) {
    free_list.Put(header);
  } else {
    std::free(header);
  }
}

void* Reallocate(void* block, size_t count, void** abstract) {
  if (block == nullptr) return Allocate(count, abstract);
  Header* header = HeaderOf(block);
  if (count <= header->capacity && (header->capacity == kBlockBytes) == Pooled(count)) {
    return block;
  }
  void* moved = Allocate(count, abstract);
  if (moved == nullptr) return nullptr;  // realloc semantics: the old block stays valid
  std::memcpy(moved, block, std::min(count, header->capacity));
  Free(block, abstract);
  return moved;
}

void ReleaseFreeBlocks() { free_list.Release(); }

size_t FreeBlockCount() { return free_list.count(); }

}  // namespace tether::packet_pool
