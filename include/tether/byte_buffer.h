#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>

namespace tether {

/// A fixed-capacity byte queue: producers write at the tail (Writable/Commit), consumers read
/// from the head (Data/Consume). Memory is allocated once, on the first write, and never
/// zero-filled: an idle connection costs no buffer pages, and the data path does not
/// allocate per packet.
class ByteBuffer {
 public:
  explicit ByteBuffer(size_t capacity) : capacity_(capacity) {}

  const char* Data() const { return storage_.get() + begin_; }
  size_t Size() const { return end_ - begin_; }
  bool Empty() const { return begin_ == end_; }
  bool Full() const { return Size() == capacity_; }

  /// Room to write into at the tail (possibly 0 bytes). Moves the data to the front first
  /// only when there is no room left at the tail, so most calls do not copy.
  std::pair<char*, size_t> Writable() {
    if (!storage_) storage_ = std::make_unique_for_overwrite<char[]>(capacity_);
    if (end_ == capacity_ && begin_ > 0) Compact();
    return {storage_.get() + end_, capacity_ - end_};
  }
  bool HasSpace() const { return Size() < capacity_; }
  void Commit(size_t n) { end_ += n; }
  void Consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

 private:
  void Compact() {
    std::memmove(storage_.get(), storage_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }

  std::unique_ptr<char[]> storage_;
  size_t capacity_;
  size_t begin_ = 0;  ///< first unread byte
  size_t end_ = 0;    ///< one past the last written byte
};

}  // namespace tether
