#include "tether/connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace tether {

Connection::Connection(uint64_t id, size_t forward_index, UniqueFd client, std::string peer)
    : id_(id), forward_index_(forward_index), client_(std::move(client)), peer_(std::move(peer)) {}

// The channel, if still held, belongs to a session that is being torn down; libssh2 frees
// it together with the session.
Connection::~Connection() {
  if (budget_ != nullptr) budget_->AddBuffered(-static_cast<int64_t>(down_.Size()));
}

void Connection::AddClientBytes(std::string_view bytes) {
  auto [space, room] = up_.Writable();
  const size_t n = std::min(room, bytes.size());
  std::copy_n(bytes.data(), n, space);
  up_.Commit(n);
}

bool Connection::ReadFromClient() {
  while (!client_eof_ && client_.valid()) {
    auto [space, room] = up_.Writable();
    if (room == 0) return true;
    ssize_t n = recv(client_.get(), space, room, 0);
    if (n > 0) {
      up_.Commit(static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      client_eof_ = true;
      return true;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

bool Connection::WriteToClient() {
  while (!down_.Empty() && client_.valid()) {
    ssize_t n = send(client_.get(), down_.Data(), down_.Size(), MSG_NOSIGNAL);
    if (n > 0) {
      down_.Consume(static_cast<size_t>(n));
      bytes_in_ += static_cast<uint64_t>(n);
      if (budget_ != nullptr) budget_->AddBuffered(-n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  ShutClientWriteIfDue();
  return true;
}

void Connection::ShutClientWriteIfDue() {
  if (channel_eof_ && down_.Empty() && !client_write_shut_ && client_.valid()) {
    shutdown(client_.get(), SHUT_WR);
    client_write_shut_ = true;
  }
}

uint32_t Connection::WantedClientEvents() const {
  uint32_t events = 0;
  if (!client_eof_ && up_.HasSpace()) events |= EPOLLIN;
  if (!down_.Empty()) events |= EPOLLOUT;
  return events;
}

ChannelResult Connection::Classify(int rc) {
  if (rc == LIBSSH2_ERROR_EAGAIN) {
    bool outbound = libssh2_session_block_directions(session_) & LIBSSH2_SESSION_BLOCK_OUTBOUND;
    return outbound ? ChannelResult::kSendPending : ChannelResult::kOk;
  }
  return IsSessionError(rc) ? ChannelResult::kSessionError : ChannelResult::kChannelError;
}

ChannelResult Connection::WriteToChannel() {
  while (!up_.Empty()) {
    ssize_t n = libssh2_channel_write(channel_, up_.Data(), up_.Size());
    if (n > 0) {
      up_.Consume(static_cast<size_t>(n));
      bytes_out_ += static_cast<uint64_t>(n);
      continue;
    }
    // 0: the server's window is closed; a window adjust will arrive as inbound data.
    if (n == 0) return ChannelResult::kOk;
    return Classify(static_cast<int>(n));
  }
  return SendEofIfDue();
}

ChannelResult Connection::SendEofIfDue() {
  if (!client_eof_ || !up_.Empty() || eof_sent_) return ChannelResult::kOk;
  int rc = libssh2_channel_send_eof(channel_);
  if (rc != 0) return Classify(rc);
  eof_sent_ = true;
  return ChannelResult::kOk;
}

ChannelResult Connection::ReadFromChannel() {
  // libssh2 keeps one WINDOW_ADJUST per channel: a read that tops the window up would send
  // tether's unfinished adjust as its own and count its own size instead.
  if (adjusting_) {
    const ChannelResult adjusted = SendAdjustment();
    if (adjusted != ChannelResult::kOk || adjusting_) return adjusted;
  }
  uint64_t delivered = 0;
  ChannelResult result = ChannelResult::kOk;
  while (CanReadChannel()) {
    auto [space, room] = down_.Writable();
    unsigned long initial = 0;
    const unsigned long window = libssh2_channel_window_read_ex(channel_, nullptr, &initial);
    // Only the read that started a top-up may finish it, with the same length: libssh2 sizes
    // the adjust it counts from the read's length and the window as they are then. The
    // buffer has only emptied since, so the length still fits.
    size_t length = topup_read_length_;
    if (length == 0) {
      // Over the budget only a client that took everything may read, a little at a time: it
      // keeps moving while those that never read hold no more.
      if (budget_ != nullptr && !budget_->HasBufferRoom()) {
        room = std::min(room, WindowBudget::kOverBudgetRead);
      }
      // libssh2_channel_read also grants a read's whole length, beside the top-up, when it is
      // more than the window: never ask for more than the window.
      length = std::min<size_t>(ReadLength(room), window);
    }
    const bool tops_up = topup_read_length_ != 0 || window < initial / 4 * 3 + length;
    ssize_t n = libssh2_channel_read(channel_, space, length);
    // A top-up that went out raised the window (by at least libssh2's minimum adjust); one
    // still waiting (a key exchange, a full socket) left it as it was.
    const bool topup_waits = n == LIBSSH2_ERROR_EAGAIN && tops_up &&
                             libssh2_channel_window_read_ex(channel_, nullptr, nullptr) == window;
    topup_read_length_ = topup_waits ? length : 0;
    if (n > 0) {
      down_.Commit(static_cast<size_t>(n));
      bytes_from_channel_ += static_cast<uint64_t>(n);
      delivered += static_cast<uint64_t>(n);
      if (budget_ != nullptr) budget_->AddBuffered(n);
      continue;
    }
    if (n == 0) {
      if (libssh2_channel_eof(channel_)) channel_eof_ = true;
      break;
    }
    result = Classify(static_cast<int>(n));
    break;
  }
  // One clock read per pass, not per read.
  if (budget_ != nullptr && delivered > 0) {
    budget_->NoteDelivered(delivered, std::chrono::steady_clock::now(), &delivery_mark_);
  }
  if (result != ChannelResult::kOk) return result;
  ShutClientWriteIfDue();
  return ChannelResult::kOk;
}

// Before every read libssh2 tops the window up to what the channel opened with plus the
// read's length, whatever tether's target: reads of the whole buffer kept 256 KiB more in
// flight per channel than the budget gave (100 channels: 25 MiB queued ahead of every open's
// answer). A quarter of the target is read at a time, at least a packet.
size_t Connection::ReadLength(size_t room) const {
  if (budget_ == nullptr || window_target_ == 0) return room;
  return std::min(room, std::max<size_t>(kChannelPacket, window_target_ / 4));
}

ChannelResult Connection::TuneWindow() {
  if (budget_ == nullptr || channel_ == nullptr || channel_eof_ || window_target_ == 0) {
    grant_due_ = false;
    return ChannelResult::kOk;
  }
  // libssh2's own top-up waits inside a read: an adjust now would go out as that one and be
  // counted at its size; the read that finishes it comes first (read_retry_due()).
  if (topup_read_length_ != 0) return ChannelResult::kOk;
  if (!adjusting_) {
    const unsigned long open = libssh2_channel_window_read_ex(channel_, nullptr, nullptr);
    // Delivery rate x round trip against the window: the server may have at most the window
    // in flight, and adjusts go out when a quarter of it is used, so a flow held up by the
    // window brings between half and all of it per round trip of the link. The budget's
    // total lets up to another round trip queue on the way, which halves that again: a
    // quarter or more per round trip, grow (at most to the fair share).
    bool starved = false;
    const auto now = std::chrono::steady_clock::now();
    const auto elapsed = now - period_start_;
    const auto round_trip = budget_->round_trip();  // the link's, as it is now
    if (elapsed >= round_trip) {
      const uint64_t bytes = bytes_from_channel_ - period_bytes_;
      const auto per_round_trip = static_cast<uint64_t>(static_cast<double>(bytes) *
                                                        static_cast<double>(round_trip.count()) /
                                                        static_cast<double>(elapsed.count()));
      starved = per_round_trip >= window_target_ / 4;
      period_start_ = now;
      period_bytes_ = bytes_from_channel_;
    }
    window_target_ = budget_->NextTarget(window_target_, starved, !down_.Full());
    grant_due_ = false;
    if (open >= window_target_ - window_target_ / 4) return ChannelResult::kOk;
    adjusting_ = true;
    adjustment_ = static_cast<unsigned long>(window_target_ - open);
  }
  return SendAdjustment();
}

ChannelResult Connection::SendAdjustment() {
  unsigned int window = 0;
  const int rc = libssh2_channel_receive_window_adjust2(channel_, adjustment_, 1, &window);
  if (rc == LIBSSH2_ERROR_EAGAIN) return Classify(rc);
  adjusting_ = false;
  return rc == 0 ? ChannelResult::kOk : Classify(rc);
}

ChannelResult Connection::FreeChannel() {
  if (channel_ == nullptr) return ChannelResult::kOk;
  int rc = libssh2_channel_free(channel_);
  if (rc == 0) {
    channel_ = nullptr;
    return ChannelResult::kOk;
  }
  ChannelResult result = Classify(rc);
  // Waiting for the server's CLOSE is an ordinary wait; any other error means the channel
  // is as good as gone (libssh2 frees it with the session).
  if (result == ChannelResult::kChannelError) channel_ = nullptr;
  return result == ChannelResult::kChannelError ? ChannelResult::kOk : result;
}

ChannelResult Connection::Retry(ChannelOp op) {
  switch (op) {
    case ChannelOp::kWrite:
      return WriteToChannel();
    case ChannelOp::kSendEof:
      return SendEofIfDue();
    case ChannelOp::kRead:
      return ReadFromChannel();
    case ChannelOp::kFree:
      return FreeChannel();
    case ChannelOp::kAdjust:
      return TuneWindow();
    case ChannelOp::kOpen:
    case ChannelOp::kAccept:
      break;  // opens and accepts are repeated by the driver, which owns them
  }
  return ChannelResult::kOk;
}

}  // namespace tether
