#include "tether/socket_reader.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tether {

ssize_t SocketReader::Read(int fd, void* buffer, size_t length, int flags) {
  if (length == 0) return 0;
  if (buffered() == 0) {
    if (trust_would_block_ && found_empty_) return -EAGAIN;
    // A read as large as the buffer gains nothing from it: straight into the caller's.
    if (length >= capacity_) return Recv(fd, buffer, length, flags);
    if (!storage_) storage_ = std::make_unique_for_overwrite<char[]>(capacity_);
    const ssize_t filled = Recv(fd, storage_.get(), capacity_, flags);
    if (filled <= 0) return filled;
    begin_ = 0;
    end_ = static_cast<size_t>(filled);
  }
  const size_t n = std::min(length, buffered());
  std::memcpy(buffer, storage_.get() + begin_, n);
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;
  return static_cast<ssize_t>(n);
}

ssize_t SocketReader::Recv(int fd, void* into, size_t size, int flags) {
  for (;;) {
    ++recv_calls_;
    const ssize_t n = recv(fd, into, size, flags);
    if (n == 0 && size > 0) ended_ = true;
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      found_empty_ = true;
      return -EAGAIN;
    }
    ended_ = true;
    return -errno;
  }
}

}  // namespace tether
