#pragma once

#include <libssh2.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "tether/byte_buffer.h"
#include "tether/ssh_handles.h"
#include "tether/unique_fd.h"
#include "tether/window_budget.h"

namespace tether {

/// What one libssh2 call on a channel left behind.
enum class ChannelResult {
  kOk,            ///< did what it could; any wait is for inbound data or window space
  kSendPending,   ///< a packet is partly sent: retry this same call first when writable
  kChannelError,  ///< this connection is broken; close it
  kSessionError,  ///< the SSH session itself is broken
};

/// Which libssh2 call a pending send belongs to, so it can be repeated exactly.
enum class ChannelOp { kWrite, kSendEof, kRead, kFree, kOpen, kAdjust, kAccept };

/// One accepted client and its SSH channel: two bounded buffers between them, half-close
/// carried both ways (client EOF -> channel EOF, channel EOF -> shutdown(SHUT_WR)).
class Connection {
 public:
  static constexpr size_t kBufferSize = size_t{256} * 1024;
  /// The largest packet a channel is opened to take; a read asks libssh2 for at least that
  /// much when the budget allows (see ReadLength).
  static constexpr size_t kChannelPacket = size_t{32} * 1024;

  Connection(uint64_t id, size_t forward_index, UniqueFd client, std::string peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  size_t forward_index() const { return forward_index_; }
  int client_fd() const { return client_.get(); }
  const std::string& peer() const { return peer_; }
  LIBSSH2_CHANNEL* channel() const { return channel_; }
  /// `window` is the receive window the channel is to start with; what the channel was
  /// opened with short of it is granted by the first TuneWindow (grant_due()).
  void AttachChannel(LIBSSH2_SESSION* session, LIBSSH2_CHANNEL* channel, uint32_t window = 0) {
    session_ = session;
    channel_ = channel;
    window_target_ = window;
    grant_due_ = window > 0;
  }
  /// Sizes the receive window from how it is used, within `budget`, which also caps what the
  /// client buffers hold in all. Without one (a jump host's channel), libssh2's fixed window.
  void set_budget(WindowBudget* budget) { budget_ = budget; }
  /// Bytes the client sent that went into the channel (out, to the server).
  uint64_t bytes_out() const { return bytes_out_; }
  /// Bytes written to the client (in, from the server).
  uint64_t bytes_in() const { return bytes_in_; }
  /// Bytes taken from the channel so far (some may still wait in the buffer).
  uint64_t bytes_from_channel() const { return bytes_from_channel_; }
  /// A closing connection has no client any more; only its channel remains to be freed.
  bool closing() const { return closing_; }
  void MarkClosing() {
    closing_ = true;
    client_.Reset();
  }

  /// Bytes the client sent before the connection was made (after its SOCKS request): they
  /// go into the channel first. Call before any read; at most the buffer's size is kept.
  void AddClientBytes(std::string_view bytes);

  // Client side (plain sockets). Each returns false when the client is gone for good.
  bool ReadFromClient();
  bool WriteToClient();
  /// epoll interest for the client fd given the buffer states.
  uint32_t WantedClientEvents() const;
  void CloseClient() { client_.Reset(); }

  // Channel side. Each loops until it would block or has nothing left to do.
  ChannelResult WriteToChannel();
  ChannelResult SendEofIfDue();
  ChannelResult ReadFromChannel();
  /// Grants a new channel its starting window (grant_due()); after a read, grows the window
  /// while the server is held up by it and the client keeps up, shrinks it to the budget's
  /// share, and tops it up (one WINDOW_ADJUST) once a quarter is used.
  ChannelResult TuneWindow();
  uint32_t window_target() const { return window_target_; }
  /// The channel has not been granted its starting window yet: TuneWindow is due before
  /// any data comes (the server sends nothing past the window it was opened with).
  bool grant_due() const { return grant_due_; }
  /// A window adjust waits to be sent (tether's, or libssh2's own inside a read, held up by
  /// a key exchange or a full socket): the next ReadFromChannel sends it, even with nothing
  /// queued to read.
  bool read_retry_due() const { return adjusting_ || topup_read_length_ != 0; }
  /// Closes and frees the channel; kOk once it is gone.
  ChannelResult FreeChannel();
  ChannelResult Retry(ChannelOp op);

  /// Both directions have ended: nothing more will ever move.
  bool Finished() const { return eof_sent_ && client_write_shut_; }
  bool channel_eof() const { return channel_eof_; }
  /// EOF has gone to the channel: everything the client sent is on its way.
  bool eof_sent() const { return eof_sent_; }
  bool HasDataForChannel() const { return !up_.Empty() || (client_eof_ && !eof_sent_); }
  /// Only input from the channel could move it: nothing waits to go either way, no window
  /// to grant or read to finish, no EOF seen. An idle connection of a session is such.
  bool WaitsOnlyForChannel() const {
    return !HasDataForChannel() && down_.Empty() && !grant_due_ && !read_retry_due() &&
           !channel_eof_;
  }
  /// True while the down buffer can take more from the channel (and the budget allows, or
  /// libssh2's top-up waits inside a read: only that read sends it, and it may be half sent).
  bool CanReadChannel() const {
    return down_.HasSpace() && !channel_eof_ &&
           (budget_ == nullptr || budget_->HasBufferRoom() || down_.Empty() ||
            topup_read_length_ != 0);
  }

 private:
  /// What a libssh2 error code means for this channel (the caller knows which operation).
  ChannelResult Classify(int rc);
  /// How much one libssh2_channel_read may ask for, of `room` free in the buffer.
  size_t ReadLength(size_t room) const;
  /// Sends (or repeats) the WINDOW_ADJUST of `adjustment_`.
  ChannelResult SendAdjustment();
  void ShutClientWriteIfDue();

  uint64_t id_;
  size_t forward_index_;
  UniqueFd client_;
  std::string peer_;
  LIBSSH2_SESSION* session_ = nullptr;  ///< the channel's session (1.10 cannot tell it)
  LIBSSH2_CHANNEL* channel_ = nullptr;  ///< owned; released by FreeChannel
  ByteBuffer up_{kBufferSize};          ///< client -> channel
  ByteBuffer down_{kBufferSize};        ///< channel -> client
  bool client_eof_ = false;             ///< the client shut its writing side
  bool eof_sent_ = false;               ///< EOF sent on the channel
  bool channel_eof_ = false;            ///< the server sent EOF
  bool client_write_shut_ = false;      ///< shutdown(SHUT_WR) done on the client
  uint64_t bytes_out_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_from_channel_ = 0;
  bool closing_ = false;
  WindowBudget* budget_ = nullptr;
  uint32_t window_target_ = 0;  ///< the receive window tether keeps open for the server
  bool adjusting_ = false;      ///< a WINDOW_ADJUST is partly sent: repeat it first
  bool grant_due_ = false;      ///< the starting window is still to be granted
  unsigned long adjustment_ = 0;
  /// libssh2 1.10 tops the window up inside a read when it runs low (to the size the channel
  /// opened with plus the read's length). When that adjust could not be sent, the read
  /// returned EAGAIN and only a read of the same length finishes it: tether's own adjust in
  /// between would go out as that one, counted at the other's size, and the next read then
  /// asks for a window of nearly 4 GiB (the server drops the session). Nonzero: that length.
  size_t topup_read_length_ = 0;
  /// Window sizing: the bytes read since the start of the current period of one round trip
  /// (the budget's).
  std::chrono::steady_clock::time_point period_start_{};
  uint64_t period_bytes_ = 0;
  uint64_t delivery_mark_ = 0;  ///< the window budget's count of delivering channels
};

}  // namespace tether
