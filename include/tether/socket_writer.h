#pragma once

#include <sys/types.h>

#include <cstddef>
#include <vector>

namespace tether {

/// Gathers a session's socket writes into one send() per driver step.
///
/// libssh2 1.10 sends every packet with its own send(): an upload of 32 KiB packets costs
/// a syscall, and on loopback a wake-up of the server, per packet. ssh instead writes
/// whatever its packet buffer holds once per poll. Within a stretch its driver opens with
/// Gather(true), writes are appended here (up to kCapacity) and libssh2 is told they were
/// sent; Flush() sends them together when the stretch ends. Outside a stretch (handshake,
/// authentication, blocking calls, disconnect) every write first sends what is held, so the
/// order on the wire never changes.
///
/// Within a stretch a write is never partial: it is taken whole, or refused with -EAGAIN
/// when nothing of it could be taken (libssh2 then keeps the packet and sends it again
/// later). A whole packet is taken even when the socket accepted only part of it, so the
/// held bytes may exceed kCapacity by at most one packet. Bytes held here want a writable socket:
/// whoever drives libssh2 must wait for one while pending() > 0 (SessionDriver::SocketEvents does),
/// and an error met while sending them is reported by every later write.
class SocketWriter {
 public:
  /// Bytes held before a write has to reach the socket first: eight full SSH packets.
  static constexpr size_t kCapacity = size_t{256} * 1024;

  explicit SocketWriter(size_t capacity = kCapacity) : capacity_(capacity) {}
  SocketWriter(const SocketWriter&) = delete;
  SocketWriter& operator=(const SocketWriter&) = delete;

  /// As send(fd, data, length, flags) for libssh2's LIBSSH2_CALLBACK_SEND: `length` when
  /// the bytes were taken (sent or held), otherwise -errno (-EAGAIN: try again later).
  ssize_t Write(int fd, const void* data, size_t length, int flags);

  /// Sends what is held. 0 when all of it went out, -EAGAIN when the socket is full (the
  /// rest stays held), or the -errno of a failed send (kept: later writes report it too).
  int Flush(int fd);

  /// While true, writes are held rather than sent (see the class comment).
  void Gather(bool gather) { gather_ = gather; }

  /// Bytes taken from libssh2 and not yet sent.
  size_t pending() const { return held_.size() - sent_; }

  /// send() calls made so far (for tests and traces).
  size_t send_calls() const { return send_calls_; }

 private:
  /// One send() of [data, data + length), repeated after EINTR; bytes sent or -errno.
  ssize_t Send(int fd, const char* data, size_t length, int flags);
  void Hold(const char* data, size_t length);

  std::vector<char> held_;  ///< taken from libssh2; [sent_, size) still to send
  size_t sent_ = 0;
  size_t capacity_;
  int error_ = 0;  ///< -errno of a failed send of held bytes, reported from then on
  bool gather_ = false;
  size_t send_calls_ = 0;
};

}  // namespace tether
