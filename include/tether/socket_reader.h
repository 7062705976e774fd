#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>

namespace tether {

/// Serves a session's socket reads from a larger buffer filled by one recv().
///
/// libssh2 1.10 reads its socket at most 16 KiB at a time (PACKETBUFSIZE), so a 32 KiB
/// packet costs two or more recv() calls, each of which may also make the kernel send an
/// ACK. Through this reader a recv() takes up to kCapacity bytes at once, and libssh2's reads
/// are served from memory. Bytes held here are announced by no socket event: whoever drives
/// libssh2 must treat buffered() > 0 as a readable socket (SessionDriver::Step does).
///
/// Within a stretch its driver opens with TrustWouldBlock(true), a recv() that found the
/// socket empty is not repeated: every later read answers -EAGAIN at once, until the stretch
/// ends. libssh2 drains the socket to EAGAIN in every channel read and write; the driver
/// waits on a level-triggered epoll afterwards, which announces what arrived meanwhile.
/// Outside such a stretch (handshake, authentication, blocking calls) every read tries the
/// socket.
class SocketReader {
 public:
  /// Bytes one recv() may take: eight full SSH packets.
  static constexpr size_t kCapacity = size_t{256} * 1024;

  explicit SocketReader(size_t capacity = kCapacity) : capacity_(capacity) {}
  SocketReader(const SocketReader&) = delete;
  SocketReader& operator=(const SocketReader&) = delete;

  /// As recv(fd, buffer, length, flags) for libssh2's LIBSSH2_CALLBACK_RECV: the number of
  /// bytes copied to `buffer` (fewer than `length` when fewer are buffered), 0 at EOF once
  /// everything buffered was handed out, or -errno (-EAGAIN when nothing is there).
  ssize_t Read(int fd, void* buffer, size_t length, int flags);

  /// Bytes received from the socket and not yet handed out.
  size_t buffered() const { return end_ - begin_; }

  /// While true, a read after one that found the socket empty answers -EAGAIN without a
  /// recv(). Setting it (either way) forgets that the socket was found empty.
  void TrustWouldBlock(bool trust) {
    trust_would_block_ = trust;
    found_empty_ = false;
  }

  /// True once a recv() found the connection closed (EOF) or broken: a caller whose libssh2
  /// call cannot tell a dead socket from "nothing yet" (libssh2_channel_forward_accept)
  /// learns it here.
  bool ended() const { return ended_; }
  /// recv() calls made so far (for tests and traces).
  size_t recv_calls() const { return recv_calls_; }

 private:
  /// One recv() into `into`, repeated after EINTR; -errno on failure.
  ssize_t Recv(int fd, void* into, size_t size, int flags);

  std::unique_ptr<char[]> storage_;  ///< allocated on the first read, never zero-filled
  size_t capacity_;
  size_t begin_ = 0;  ///< first byte not handed out
  size_t end_ = 0;    ///< one past the last byte received
  bool trust_would_block_ = false;
  bool found_empty_ = false;
  bool ended_ = false;
  size_t recv_calls_ = 0;
};

}  // namespace tether
