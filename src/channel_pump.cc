#include "tether/channel_pump.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>

namespace tether {
namespace {

// Enough to finish what one wake-up brought; whatever is left is announced again by the
// level-triggered fds.
constexpr int kMaxRounds = 8;
// Like the tunnel's keepalive: a channel type no server implements, so the open costs one
// round trip, is always refused, and makes libssh2 read what waits on the socket.
constexpr char kProbeChannelType[] = "tether-probe@tether";
constexpr unsigned int kProbeWindow = 32768;

}  // namespace

ChannelPump::ChannelPump(SshSession* session, LIBSSH2_CHANNEL* channel, UniqueFd local)
    : session_(session), connection_(0, 0, std::move(local), "jump channel") {
  connection_.AttachChannel(session->get(), channel);
}

uint32_t ChannelPump::SessionEvents() const {
  if (broken_) return 0;
  return EPOLLIN | (pending_ ? EPOLLOUT : 0u);
}

uint32_t ChannelPump::LocalEvents() const {
  if (broken_ || local_fd() < 0) return 0;
  return connection_.WantedClientEvents();
}

bool ChannelPump::Service(bool session_readable) {
  if (broken_) return false;
  transport_read_ = false;
  // The socketpair side needs no libssh2 call, so it moves even while a send is pending.
  ReadLocal();
  WriteLocal();
  if (pending_ && !RetryPending()) return !broken_;
  ContinueProbe();
  MoveData();
  // Bytes on the socket that no call read (the next session is slow to take what came
  // before) would wake a level-triggered wait forever: let libssh2 queue them.
  if (session_readable && !transport_read_) SendKeepalive();
  return !broken_;
}

void ChannelPump::SendKeepalive() {
  if (broken_ || pending_ || probing_) return;
  probing_ = true;
  ContinueProbe();
}

// A failure on the socketpair means the next session closed its end: nothing more to carry.
void ChannelPump::ReadLocal() {
  if (local_fd() >= 0 && !connection_.ReadFromClient()) connection_.CloseClient();
}

void ChannelPump::WriteLocal() {
  if (local_fd() >= 0 && !connection_.WriteToClient()) connection_.CloseClient();
}

void ChannelPump::MoveData() {
  for (int round = 0; round < kMaxRounds && !pending_ && !broken_; ++round) {
    const uint64_t before = Progress();
    ReadLocal();
    if (!connection_.closing() && connection_.HasDataForChannel()) {
      transport_read_ = true;
      if (!Handle(ChannelOp::kWrite, connection_.WriteToChannel())) return;
    }
    if (!connection_.closing() && connection_.CanReadChannel()) {
      transport_read_ = true;
      if (!Handle(ChannelOp::kRead, connection_.ReadFromChannel())) return;
    }
    WriteLocal();
    if (Progress() == before) return;
  }
}

bool ChannelPump::RetryPending() {
  const ChannelOp op = *pending_;
  pending_.reset();
  transport_read_ = true;
  if (op == ChannelOp::kOpen) {
    ContinueProbe();
  } else {
    Handle(op, connection_.Retry(op));
  }
  return !pending_ && !broken_;
}

void ChannelPump::ContinueProbe() {
  if (!probing_ || pending_ || broken_) return;
  transport_read_ = true;
  LIBSSH2_SESSION* session = session_->get();
  LIBSSH2_CHANNEL* channel =
      libssh2_channel_open_ex(session, kProbeChannelType, sizeof(kProbeChannelType) - 1,
                              kProbeWindow, kProbeWindow, nullptr, 0);
  const int rc = channel != nullptr ? 0 : libssh2_session_last_errno(session);
  if (rc == LIBSSH2_ERROR_EAGAIN) {
    if (libssh2_session_block_directions(session) & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
      pending_ = ChannelOp::kOpen;
    }
    return;
  }
  probing_ = false;
  if (channel != nullptr) libssh2_channel_free(channel);
  if (IsSessionError(rc)) Break(LastSshError(session));
}

// False when the caller must stop making libssh2 calls on this session for now.
bool ChannelPump::Handle(ChannelOp op, ChannelResult result) {
  switch (result) {
    case ChannelResult::kOk:
      return true;
    case ChannelResult::kSendPending:
      pending_ = op;
      return false;
    case ChannelResult::kChannelError:
      // Only the connection to the next hop broke: its session learns it from the socket.
      spdlog::debug("channel through {} failed: {}", session_->host_label(),
                    LastSshError(session_->get()));
      connection_.MarkClosing();
      return true;
    case ChannelResult::kSessionError:
      Break(LastSshError(session_->get()));
      return false;
  }
  return true;
}

void ChannelPump::Break(std::string why) {
  const int rc = libssh2_session_last_errno(session_->get());
  if (rc == LIBSSH2_ERROR_SOCKET_RECV || why.empty()) why = "the server closed the connection";
  if (rc == LIBSSH2_ERROR_SOCKET_DISCONNECT) why = "the server disconnected (" + why + ")";
  broken_ = true;
  failure_ = {ExitCode::kConnectionLost,
              "connection to " + session_->host_label() + " lost: " + why};
}

uint64_t ChannelPump::Progress() const {
  return connection_.bytes_up() + connection_.bytes_down() + connection_.bytes_from_channel() +
         session_->inbound().bytes + (connection_.eof_sent() ? 1 : 0) +
         (connection_.channel_eof() ? 1 : 0) + (local_fd() < 0 ? 1 : 0);
}

}  // namespace tether
