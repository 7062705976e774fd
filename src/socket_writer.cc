#include "tether/socket_writer.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

namespace tether {

ssize_t SocketWriter::Write(int fd, const void* data, size_t length, int flags) {
  if (error_ != 0) return error_;
  if (length == 0) return 0;
  const char* bytes = static_cast<const char*>(data);
  if (gather_ && pending() + length <= capacity_) {
    Hold(bytes, length);
    return static_cast<ssize_t>(length);
  }
  // Held bytes go first: the order on the wire is libssh2's.
  if (const int rc = Flush(fd); rc != 0) return rc;
  if (gather_ && length <= capacity_) {
    Hold(bytes, length);
    return static_cast<ssize_t>(length);
  }
  const ssize_t n = Send(fd, bytes, length, flags);
  if (n < 0 || !gather_) return n;  // outside a stretch, exactly send()
  // Within one, never a partial write: libssh2_keepalive_send, for one, ignores it and
  // would leave the stream broken. What the socket did not take is held for Flush.
  Hold(bytes + n, length - static_cast<size_t>(n));
  return static_cast<ssize_t>(length);
}

int SocketWriter::Flush(int fd) {
  if (error_ != 0) return error_;
  while (pending() > 0) {
    const ssize_t n = Send(fd, held_.data() + sent_, pending(), 0);
    if (n == -EAGAIN) return -EAGAIN;
    if (n < 0) {
      error_ = static_cast<int>(n);
      return error_;
    }
    sent_ += static_cast<size_t>(n);
  }
  held_.clear();
  sent_ = 0;
  return 0;
}

void SocketWriter::Hold(const char* data, size_t length) {
  if (length == 0) return;
  // After a partial flush: keep only what is still to be sent, so the storage stays bounded.
  if (sent_ > 0) {
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(sent_));
    sent_ = 0;
  }
  if (held_.capacity() == 0) held_.reserve(capacity_);
  held_.insert(held_.end(), data, data + length);
}

ssize_t SocketWriter::Send(int fd, const char* data, size_t length, int flags) {
  for (;;) {
    ++send_calls_;
    // MSG_NOSIGNAL: a server gone away is an error to report, not a SIGPIPE.
    const ssize_t n = send(fd, data, length, flags | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -EAGAIN;
    return -errno;
  }
}

}  // namespace tether
