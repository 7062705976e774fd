#include "tether/session_driver.h"

#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <utility>

#include "tether/failure.h"
#include "tether/logging.h"
#include "tether/session_waiter.h"

namespace tether {
namespace {

// Rounds of one step, and full passes over the channels within a round. Under a steady flow
// something always arrives, so both are bounded: the rest waits for the next turn of the loop
// (Step returns true), which keeps accepts, other sockets and timers served.
constexpr int kMaxRounds = 16;
constexpr int kMaxPasses = 4;
// A channel type no server implements: opening it costs one round trip and is always
// refused, which makes libssh2 read (and answer) whatever the server sent meanwhile.
constexpr char kProbeChannelType[] = "tether-probe@tether";
constexpr unsigned int kProbeWindow = 32768;
// libssh2 sends a global keepalive at most once per this many seconds (its own clock).
constexpr unsigned int kGlobalKeepaliveSeconds = 2;

// Opens a channel of kProbeChannelType: the server answers it, with a refusal.
LIBSSH2_CHANNEL* OpenProbe(LIBSSH2_SESSION* session) {
  return libssh2_channel_open_ex(session, kProbeChannelType, sizeof(kProbeChannelType) - 1,
                                 kProbeWindow, kProbeWindow, nullptr, 0);
}

// libssh2_keepalive_send builds its packet on its own stack and ignores a partial send, after
// which every other send would fail: send it only when the socket surely takes it whole.
bool SocketHasRoom(int fd) {
  pollfd ready{fd, POLLOUT, 0};
  return poll(&ready, 1, 0) == 1 && (ready.revents & POLLOUT) != 0;
}

}  // namespace

void SessionDriver::Serve(Connection* connection) {
  served_[connection->id()] = connection;
  ++served_changes_;
  active_.insert(connection->id());
}

void SessionDriver::Close(Connection* connection) {
  const uint64_t id = connection->id();
  if (served_.erase(id) != 0) ++served_changes_;
  active_.erase(id);
  closing_[id] = connection;
}

void SessionDriver::Forget(Connection* connection) {
  const uint64_t id = connection->id();
  if (served_.erase(id) != 0) ++served_changes_;
  closing_.erase(id);
  active_.erase(id);
  if (pending_ && pending_->id == id && pending_->orphan == nullptr) pending_.reset();
}

void SessionDriver::MarkAllActive() {
  for (const auto& [id, connection] : served_) active_.insert(id);
}

void SessionDriver::MarkActive(Connection* connection) {
  if (served_.count(connection->id()) != 0) active_.insert(connection->id());
}

void SessionDriver::Open(OpenRequest request) { open_queue_.push_back(std::move(request)); }

void SessionDriver::CancelOpen(uint64_t id) {
  if (opening_ && opening_->id == id) {
    opening_cancelled_ = true;
    return;
  }
  for (auto it = open_queue_.begin(); it != open_queue_.end(); ++it) {
    if (it->id == id) {
      open_queue_.erase(it);
      return;
    }
  }
}

std::optional<SessionDriver::Clock::time_point> SessionDriver::open_started() const {
  if (!opening_) return std::nullopt;
  return open_started_;
}

std::vector<uint64_t> SessionDriver::TakeWaitingOpens() {
  std::vector<uint64_t> ids;
  if (opening_ && !opening_cancelled_) ids.push_back(opening_->id);
  for (const OpenRequest& request : open_queue_) ids.push_back(request.id);
  opening_.reset();
  open_queue_.clear();
  return ids;
}

void SessionDriver::Probe() {
  if (lost_ || probing_) return;
  if (!opening_) {
    probing_ = true;
    return;
  }
  // The open slot is taken by an open whose answer may take long (a target that drops SYNs
  // keeps the server waiting): ask with a global request instead, which needs no slot.
  global_keepalive_due_ = true;
}

uint32_t SessionDriver::SocketEvents() const {
  if (lost_) return 0;
  return EPOLLIN | (pending_ ? EPOLLOUT : 0u);
}

bool SessionDriver::Step() {
  if (lost_) return false;
  transport_read_ = false;
  unsettled_ = false;
  SocketReader& reader = session_->reader();
  // Bytes the reader holds are readable data no epoll event announces. Within the step, a
  // socket found empty is not asked again: what arrives meanwhile wakes the next wait.
  if (reader.buffered() > 0) readable_ = true;
  reader.TrustWouldBlock(true);
  for (int round = 0;; ++round) {
    if (round == kMaxRounds) {
      unsettled_ = true;
      break;
    }
    const uint64_t before = Progress();
    if (pending_ && !RetryPending()) break;
    SendGlobalKeepalive();
    AdvanceOpens();
    ServeChannels();
    AcceptForwarded();
    FreeClosed();
    FreeOrphans();
    if (Blocked() || Progress() == before) break;
  }
  // Bytes on the socket that no call read would wake a level-triggered wait forever: a probe
  // makes libssh2 read (and queue) them.
  if (readable_ && !transport_read_ && !Blocked() && !opening_) {
    probing_ = true;
    AdvanceOpens();
  }
  readable_ = false;
  reader.TrustWouldBlock(false);
  // Whatever the reader still holds must be served without a socket event: step again soon.
  return (unsettled_ || reader.buffered() > 0) && !Blocked();
}

bool SessionDriver::RetryPending() {
  const Pending pending = *pending_;
  pending_.reset();
  transport_read_ = true;
  if (pending.op == ChannelOp::kOpen) {
    AdvanceOpens();
    return !Blocked();
  }
  if (pending.op == ChannelOp::kAccept) {
    AcceptOn(pending.id);
    return !Blocked();
  }
  if (pending.orphan != nullptr) {
    FreeOrphans();
    return !Blocked();
  }
  Connection* connection = Find(pending.id);
  if (connection == nullptr) return true;
  return Handle(connection, pending.op, connection->Retry(pending.op));
}

void SessionDriver::SendGlobalKeepalive() {
  if (!global_keepalive_due_ || Blocked() || !SocketHasRoom(session_->fd())) return;
  global_keepalive_due_ = false;
  LIBSSH2_SESSION* session = session_->get();
  libssh2_keepalive_config(session, 1, kGlobalKeepaliveSeconds);
  int next = 0;
  const int rc = libssh2_keepalive_send(session, &next);
  if (IsSessionError(rc)) Lose(LastSshError(session));
}

bool SessionDriver::BeginOpen() {
  if (open_queue_.empty()) return false;
  opening_ = std::move(open_queue_.front());
  open_queue_.pop_front();
  opening_cancelled_ = false;
  open_started_ = Clock::now();
  return true;
}

void SessionDriver::AdvanceOpens() {
  while (!Blocked()) {
    if (!opening_ && !probing_ && !BeginOpen()) return;
    transport_read_ = true;
    LIBSSH2_SESSION* session = session_->get();
    LIBSSH2_CHANNEL* channel =
        opening_
            ? libssh2_channel_open_ex(
                  session, opening_->type.c_str(), static_cast<unsigned int>(opening_->type.size()),
                  opening_->window, Connection::kChannelPacket, opening_->message.data(),
                  static_cast<unsigned int>(opening_->message.size()))
            : OpenProbe(session);
    const int rc = channel != nullptr ? 0 : libssh2_session_last_errno(session);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
      if (libssh2_session_block_directions(session) & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
        pending_ = Pending{0, ChannelOp::kOpen, nullptr};
      }
      return;
    }
    if (opening_) {
      FinishOpen(channel, rc);
    } else {
      probing_ = false;
      if (channel != nullptr) orphans_.push_back(channel);
    }
    if (IsSessionError(rc)) return Lose(LastSshError(session));
  }
}

void SessionDriver::FinishOpen(LIBSSH2_CHANNEL* channel, int rc) {
  if (IsSessionError(rc)) return;  // stays in opening_: TakeWaitingOpens hands it back
  OpenRequest request = std::move(*opening_);
  opening_.reset();
  last_open_time_ = Clock::now() - open_started_;
  if (std::exchange(opening_cancelled_, false)) {
    if (channel != nullptr) orphans_.push_back(channel);
    return;
  }
  ++moved_;
  const std::string error = channel != nullptr ? "" : LastSshError(session_->get());
  callbacks_.opened(request.id, channel, error);
}

void SessionDriver::ServeChannels() {
  // First the connections whose client moved, then, while the socket brings data, all.
  std::vector<uint64_t> active(active_.begin(), active_.end());
  active_.clear();
  socket_drained_ = false;
  for (uint64_t id : active) {
    if (Blocked()) {
      active_.insert(id);
      continue;
    }
    auto it = served_.find(id);
    if (it != served_.end()) ServeOne(it->second);
  }
  const uint64_t arrived = session_->inbound().bytes;
  if (!readable_ && arrived == inbound_seen_ && !unsettled_) return;
  for (int pass = 0; pass < kMaxPasses && !Blocked(); ++pass) {
    if (!ServeAll()) return;
    inbound_seen_ = session_->inbound().bytes;
    if (inbound_seen_ == inbound_after_drain_) return;
    AdvanceOpens();  // a new connection gets its turn between passes
  }
  unsettled_ = true;  // data may wait in libssh2's queue, which no socket event announces
}

void SessionDriver::CancelRemoteListeners(std::chrono::milliseconds budget,
                                          WaitBackground* background) {
  if (remote_listeners_.empty() || Blocked()) return;
  LIBSSH2_SESSION* session = session_->get();
  // Not libssh2's blocking mode: behind a jump host it would wait on a socket that only the
  // background's pumps move, and the cancels would reach the server after tether had gone.
  SessionWaiter waiter(session, session_->fd(), -1, budget, "cancelling the remote forwards");
  waiter.set_deadline(Clock::now() + budget);
  waiter.set_background(background);
  bool sent = true;
  for (RemoteListener* listener : remote_listeners_) {
    RemoteListenResult result = RemoteListenResult::kWaiting;
    const int rc = waiter.Run([&] {
      result = listener->Cancel();
      const bool again =
          result == RemoteListenResult::kWaiting || result == RemoteListenResult::kSendPending;
      return again ? LIBSSH2_ERROR_EAGAIN : 0;
    });
    sent = rc == 0 && result == RemoteListenResult::kDone && sent;
  }
  // A cancel gets no answer, a refused open does: once it has come, the server has closed
  // the ports and tether may exit. An open still in flight is finished first (libssh2 keeps
  // its state in the session): only the answer to an open sent after the cancels counts.
  for (int opens = opening_ || probing_ ? 2 : 1; sent && opens > 0; --opens) {
    LIBSSH2_CHANNEL* channel =
        waiter.RunForPointer<LIBSSH2_CHANNEL>([&] { return OpenProbe(session); });
    // A real open that succeeded: its channel goes with the session.
    if (channel == nullptr &&
        (waiter.abandoned() || IsSessionError(libssh2_session_last_errno(session)))) {
      break;
    }
  }
}

void SessionDriver::AcceptForwarded() {
  for (size_t i = 0; i < remote_listeners_.size() && !Blocked(); ++i) AcceptOn(i);
}

void SessionDriver::AcceptOn(size_t index) {
  RemoteListener* listener = remote_listeners_[index];
  while (!Blocked() && listener->listening()) {
    transport_read_ = true;
    RemoteListenResult result = RemoteListenResult::kWaiting;
    LIBSSH2_CHANNEL* channel = listener->Accept(&result);
    // The read inside the accept may have left a confirmation (of this or another forwarded
    // connection) partly sent, even when it hands a channel back: the same call goes on with it.
    const bool send_pending =
        result == RemoteListenResult::kSendPending ||
        (channel != nullptr &&
         (libssh2_session_block_directions(session_->get()) & LIBSSH2_SESSION_BLOCK_OUTBOUND));
    if (channel != nullptr) {
      ++moved_;
      callbacks_.accepted(index, channel);
    }
    if (send_pending) {
      pending_ = Pending{index, ChannelOp::kAccept, nullptr};
      return;
    }
    if (result == RemoteListenResult::kSessionError) return Lose(LastSshError(session_->get()));
    // libssh2 reports a failed read of the socket here as "nothing queued": the reader knows.
    if (channel == nullptr && session_->reader().ended()) {
      return Lose("the server closed the connection");
    }
    if (channel == nullptr) return;
  }
}

bool SessionDriver::ServeAll() {
  socket_drained_ = false;
  draining_read_ = false;
  inbound_after_drain_ = session_->inbound().bytes;
  // Walked at every wake-up that brought data: a copy in id order, made again only when the
  // connections served change, rather than the map itself (with 1000 idle connections the
  // walk was most of a round trip's cost).
  if (pass_order_changes_ != served_changes_) {
    // Grown geometrically: remade to fit exactly at each of 1000 opens, it freed blocks of
    // every size up to 16 KB (8 MB in all), and glibc kept 2.7-4 MB of heap it could not reuse.
    if (served_.size() > pass_order_.capacity()) {
      pass_order_.reserve(std::max(served_.size(), 2 * pass_order_.capacity()));
    }
    pass_order_.clear();
    pass_order_.insert(pass_order_.end(), served_.begin(), served_.end());
    pass_order_changes_ = served_changes_;
  }
  const size_t count = pass_order_.size();
  if (count == 0) return true;
  // Start each pass one connection further on: under load, no channel is always last.
  auto first = std::lower_bound(
      pass_order_.begin(), pass_order_.end(), next_pass_start_,
      [](const std::pair<uint64_t, Connection*>& entry, uint64_t id) { return entry.first < id; });
  const size_t start = first == pass_order_.end() ? 0 : first - pass_order_.begin();
  next_pass_start_ = pass_order_[start].first + 1;
  for (size_t k = 0; k < count; ++k) {
    auto [id, connection] = pass_order_[(start + k) % count];
    // A connection closed during this pass is no longer served; the others are where they were.
    if (pass_order_changes_ != served_changes_) {
      auto it = served_.find(id);
      if (it == served_.end()) continue;
      connection = it->second;
    }
    if (!ServeOne(connection)) return false;
  }
  return true;
}

bool SessionDriver::ServeOne(Connection* connection) {
  if (connection->closing() || connection->channel() == nullptr) return true;
  // With the socket drained, an idle connection costs a look at libssh2's queue: with 1000
  // of them open, every answer the server sends to one of them wakes the whole pass.
  if (socket_drained_ && connection->WaitsOnlyForChannel() && !MayHaveChannelInput(connection)) {
    return true;
  }
  const uint64_t before =
      connection->bytes_out() + connection->bytes_from_channel() + connection->bytes_in();
  // Before any read: libssh2's own top-up in the first read would otherwise go out first.
  if (connection->grant_due() && !TuneWindow(connection)) return false;
  if (connection->HasDataForChannel()) {
    transport_read_ = true;
    if (!Handle(connection, ChannelOp::kWrite, connection->WriteToChannel())) return false;
  }
  // Reading stops when the client's buffer is full, while more may wait in libssh2's queue
  // (which no socket event will announce): read again as long as the client takes it all.
  std::string failure;
  for (bool more = true; more && failure.empty() && !connection->closing();) {
    bool buffer_was_full = !connection->CanReadChannel();
    const uint64_t read_before = connection->bytes_from_channel();
    if (connection->CanReadChannel() && MayHaveChannelInput(connection)) {
      transport_read_ = true;
      if (!Handle(connection, ChannelOp::kRead, connection->ReadFromChannel())) return false;
      if (std::exchange(draining_read_, false)) inbound_after_drain_ = session_->inbound().bytes;
      buffer_was_full = !connection->CanReadChannel() && !connection->channel_eof();
    }
    if (connection->closing()) break;
    if (!connection->WriteToClient()) failure = "client went away";
    // Sized once the client took what it could: a full buffer now means a slow client.
    if (failure.empty() && connection->bytes_from_channel() != read_before &&
        !TuneWindow(connection)) {
      return false;
    }
    more = buffer_was_full && connection->CanReadChannel();
  }
  moved_ +=
      connection->bytes_out() + connection->bytes_from_channel() + connection->bytes_in() - before;
  if (!connection->closing()) callbacks_.served(connection, failure);
  return true;
}

bool SessionDriver::TuneWindow(Connection* connection) {
  const uint32_t window = connection->window_target();
  if (!Handle(connection, ChannelOp::kAdjust, connection->TuneWindow())) return false;
  if (connection->window_target() > window) {
    LogEvent(spdlog::level::trace, "window_grown",
             "connection #{connection}: receive window grown to {kib} KiB",
             {{"connection", connection->id()},
              {"kib", static_cast<uint64_t>(connection->window_target() / 1024)}});
  }
  return true;
}

bool SessionDriver::MayHaveChannelInput(Connection* connection) {
  // The first read of a pass drains the SSH socket into libssh2's packet queue; after it,
  // a channel with nothing queued is skipped without a call that would try recv() again.
  // With many idle channels this keeps the cost of a wake-up to list walks, no syscalls.
  if (!socket_drained_) {
    socket_drained_ = true;
    draining_read_ = true;
    return true;
  }
  if (connection->read_retry_due()) return true;
  LIBSSH2_CHANNEL* channel = connection->channel();
  return libssh2_poll_channel_read(channel, 0) != 0 || libssh2_channel_eof(channel) != 0;
}

void SessionDriver::FreeClosed() {
  std::vector<uint64_t> ids;
  for (const auto& [id, connection] : closing_) ids.push_back(id);
  for (uint64_t id : ids) {
    if (Blocked()) return;
    auto it = closing_.find(id);
    if (it == closing_.end()) continue;
    Connection* connection = it->second;
    if (connection->channel() != nullptr) {
      transport_read_ = true;
      if (!Handle(connection, ChannelOp::kFree, connection->FreeChannel())) return;
    }
    if (connection->channel() != nullptr) continue;  // waits for the server's close
    closing_.erase(id);
    ++moved_;
    callbacks_.released(connection);
  }
}

void SessionDriver::FreeOrphans() {
  while (!orphans_.empty() && !Blocked()) {
    LIBSSH2_CHANNEL* channel = orphans_.back();
    transport_read_ = true;
    const int rc = libssh2_channel_free(channel);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
      if (libssh2_session_block_directions(session_->get()) & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
        pending_ = Pending{0, ChannelOp::kFree, channel};
      }
      return;  // waits for the server's close, or for room to send
    }
    orphans_.pop_back();
    ++moved_;
    if (IsSessionError(rc)) return Lose(LastSshError(session_->get()));
  }
}

bool SessionDriver::Handle(Connection* connection, ChannelOp op, ChannelResult result) {
  switch (result) {
    case ChannelResult::kOk:
      return true;
    case ChannelResult::kSendPending:
      pending_ = Pending{connection->id(), op, nullptr};
      return false;
    case ChannelResult::kChannelError:
      if (served_.count(connection->id()) != 0) {
        callbacks_.served(connection, "channel error: " + LastSshError(session_->get()));
      }
      return true;
    case ChannelResult::kSessionError:
      Lose(LastSshError(session_->get()));
      return false;
  }
  return true;
}

void SessionDriver::Lose(std::string why) {
  if (lost_) return;
  const int rc = libssh2_session_last_errno(session_->get());
  if (rc == LIBSSH2_ERROR_SOCKET_RECV || why.empty()) why = "the server closed the connection";
  if (rc == LIBSSH2_ERROR_SOCKET_DISCONNECT) why = "the server disconnected (" + why + ")";
  lost_ = true;
  pending_.reset();
  if (callbacks_.lost) callbacks_.lost(why);
}

Connection* SessionDriver::Find(uint64_t id) const {
  auto it = served_.find(id);
  if (it != served_.end()) return it->second;
  it = closing_.find(id);
  return it == closing_.end() ? nullptr : it->second;
}

uint64_t SessionDriver::Progress() const {
  return session_->inbound().bytes + moved_ + open_queue_.size() + (opening_ ? 1 : 0) +
         (probing_ ? 1 : 0);
}

}  // namespace tether
