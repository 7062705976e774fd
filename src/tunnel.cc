#include "tether/tunnel.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tether/logging.h"
#include "tether/packet_pool.h"

namespace tether {
namespace {

constexpr int kMaxAcceptsPerWakeup = 64;
constexpr int kMaxSettleRounds = 16;
constexpr int kMaxServicePasses = 4;
// The window bounds what the server may send on a channel before we read it. libssh2's
// default (2 MiB) goes to a lone connection; with more open, their windows share a budget,
// down to 256 KiB each. Everything the server may have in flight sits in front of the next
// channel-open confirmation (libssh2 1.10 opens one channel at a time), so with 100 busy
// 2 MiB windows each open waited ~200 MiB of data: bench/run's 100 streams took 20-30 s to
// all flow (some never did), 9-23 s with 256 KiB windows.
constexpr unsigned int kChannelWindowBudget = 2 * 1024 * 1024;
constexpr unsigned int kMinChannelWindow = 256 * 1024;
constexpr unsigned int kChannelPacket = 32768;

unsigned int ChannelWindow(size_t connections) {
  size_t share = kChannelWindowBudget / std::max<size_t>(connections, 1);
  return static_cast<unsigned int>(std::max<size_t>(share, kMinChannelWindow));
}
// A channel type no server implements: opening it costs one round trip and is always
// refused, which makes libssh2 read (and answer) whatever the server sent meanwhile.
constexpr char kProbeChannelType[] = "tether-probe@tether";

void AppendU32(std::string* out, uint32_t value) {
  uint32_t be = htonl(value);
  out->append(reinterpret_cast<const char*>(&be), 4);
}

void AppendString(std::string* out, const std::string& text) {
  AppendU32(out, static_cast<uint32_t>(text.size()));
  out->append(text);
}

// RFC 4254 7.2: host to connect, port, originator address, originator port.
std::string DirectTcpipMessage(const Endpoint& target, const std::string& origin_host,
                               uint16_t origin_port) {
  std::string message;
  AppendString(&message, target.host);
  AppendU32(&message, target.port);
  AppendString(&message, origin_host);
  AppendU32(&message, origin_port);
  return message;
}

std::string PeerName(const sockaddr_storage& address, std::string* host, uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = "?";
  *port = 0;
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    *port = ntohs(in->sin_port);
    *host = text;
    return *host + ":" + std::to_string(*port);
  }
  if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    *port = ntohs(in6->sin6_port);
    *host = text;
    return "[" + *host + "]:" + std::to_string(*port);
  }
  *host = "127.0.0.1";
  return "local";
}

// direct-streamlocal@openssh.com (OpenSSH PROTOCOL 2.4): socket path, reserved string,
// reserved uint32.
std::string StreamLocalMessage(const Endpoint& target) {
  std::string message;
  AppendString(&message, target.unix_path);
  AppendString(&message, "");
  AppendU32(&message, 0);
  return message;
}

}  // namespace

Tunnel::Tunnel(EventLoop* loop, SshSession* session, std::vector<ForwardSpec> forwards,
               std::vector<Listener> listeners)
    : loop_(loop),
      session_(session),
      forwards_(std::move(forwards)),
      listeners_(std::move(listeners)) {}

Tunnel::~Tunnel() {
  if (pump_timer_) loop_->CancelTimer(*pump_timer_);
  if (hold_timer_) loop_->CancelTimer(*hold_timer_);
  CloseListeners();
  for (auto& [id, connection] : connections_) {
    if (connection->client_fd() >= 0) loop_->Unwatch(connection->client_fd());
  }
  if (session_ != nullptr) loop_->Unwatch(session_->fd());
}

void Tunnel::Start() {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    loop_->Watch(listeners_[i].fd.get(), EPOLLIN, [this, i](uint32_t) { OnListenerReadable(i); });
  }
  loop_->Watch(session_->fd(), EPOLLIN, [this](uint32_t events) { OnSshEvent(events); });
}

void Tunnel::Detach(std::chrono::milliseconds hold_limit) {
  if (pump_timer_) loop_->CancelTimer(*pump_timer_);
  pump_timer_.reset();
  if (session_ != nullptr) loop_->Unwatch(session_->fd());
  if (opening_) open_queue_.push_front(*opening_);  // its open died with the session
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection* connection = it->second.get();
    const bool waiting = connection->channel() == nullptr && !connection->closing();
    if (waiting) {
      ++it;
      continue;
    }
    if (!connection->closing()) DropConnection(connection->id(), "closed: connection to the server lost");
    if (connection->client_fd() >= 0) loop_->Unwatch(connection->client_fd());
    finished_traffic_.to_server += connection->bytes_up();
    finished_traffic_.from_server += connection->bytes_down();
    it = connections_.erase(it);  // its channel goes with the session
  }
  closing_ids_.clear();
  pending_.reset();
  opening_.reset();
  probing_ = false;
  session_ = nullptr;
  session_lost_ = true;
  hold_limit_ = hold_limit;
  for (uint64_t id : open_queue_) {
    if (Find(id) != nullptr) Hold(id);
  }
  if (on_connection_count_) on_connection_count_(connection_count());
}

void Tunnel::Attach(SshSession* session) {
  if (hold_timer_) loop_->CancelTimer(*hold_timer_);
  hold_timer_.reset();
  held_.clear();
  session_ = session;
  session_lost_ = false;
  ssh_readable_ = false;
  loop_->Watch(session_->fd(), EPOLLIN, [this](uint32_t events) { OnSshEvent(events); });
  Pump();
}

void Tunnel::Hold(uint64_t id) {
  held_.emplace_back(EventLoop::Clock::now() + hold_limit_, id);
  ArmHoldTimer();
}

void Tunnel::ArmHoldTimer() {
  if (hold_timer_ || held_.empty()) return;
  hold_timer_ = loop_->AddTimer(held_.front().first, [this] {
    hold_timer_.reset();
    ExpireHeld();
  });
}

void Tunnel::ExpireHeld() {
  const EventLoop::Clock::time_point now = EventLoop::Clock::now();
  while (!held_.empty() && held_.front().first <= now) {
    const uint64_t id = held_.front().second;
    held_.pop_front();
    Connection* connection = Find(id);
    if (connection == nullptr || connection->closing()) continue;
    LogEvent(spdlog::level::warn, "client_closed",
             "connection #{connection} from {peer} closed: no connection to the server within "
             "{seconds}s",
             {{"connection", id},
              {"peer", connection->peer()},
              {"forward", ForwardAddress(connection->forward_index())},
              {"reason", "server unreachable"},
              {"seconds", static_cast<uint64_t>(hold_limit_.count() / 1000)}});
    DropConnection(id, "");
  }
  SweepConnections();
  ArmHoldTimer();
}

void Tunnel::CloseListeners() {
  for (Listener& listener : listeners_) {
    if (!listener.fd) continue;
    loop_->Unwatch(listener.fd.get());
    listener.socket_file.Unlink();
    listener.fd.Reset();
  }
}

void Tunnel::CloseConnections(std::chrono::milliseconds budget) {
  (void)budget;  // channels are closed by the session's disconnect, which is bounded
  for (auto& [id, connection] : connections_) {
    if (connection->client_fd() >= 0) loop_->Unwatch(connection->client_fd());
    if (!connection->closing()) closing_ids_.push_back(id);
    connection->MarkClosing();
  }
  open_queue_.clear();
}

void Tunnel::OnListenerReadable(size_t listener_index) {
  const Listener& listener = listeners_[listener_index];
  for (int i = 0; i < kMaxAcceptsPerWakeup && listener.fd; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    UniqueFd client(accept4(listener.fd.get(), reinterpret_cast<sockaddr*>(&address), &length,
                            SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        LogEvent(spdlog::level::warn, "accept_failed", "accept on {forward}: {reason}",
                 {{"forward", listener.address}, {"reason", std::strerror(errno)}});
      }
      break;
    }
    int one = 1;
    setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::string host;
    uint16_t port = 0;
    std::string peer = PeerName(address, &host, &port);
    uint64_t id = next_id_++;
    auto connection =
        std::make_unique<Connection>(id, listener.forward_index, std::move(client), peer);
    LogEvent(spdlog::level::debug, "client_accepted", "connection #{connection} from {peer} on {forward}",
             {{"connection", id}, {"peer", peer}, {"forward", listener.address}});
    Connection* raw = connection.get();
    connections_[id] = std::move(connection);
    open_queue_.push_back(id);
    if (session_ == nullptr) Hold(id);
    UpdateClientInterest(raw);
  }
  if (on_connection_count_) on_connection_count_(connection_count());
  Pump();
}

void Tunnel::OnClientEvent(uint64_t id, uint32_t events) {
  Connection* connection = Find(id);
  if (connection == nullptr || connection->closing()) return;
  const char* failure = nullptr;
  if ((events & EPOLLERR) != 0) {
    failure = "client socket error";
  } else if ((events & (EPOLLIN | EPOLLHUP)) != 0 && !connection->ReadFromClient()) {
    failure = "client reset the connection";
  } else if ((events & EPOLLOUT) != 0 && !connection->WriteToClient()) {
    failure = "client went away";
  }
  if (failure != nullptr) {
    DropConnection(id, failure);
  } else if (connection->channel() == nullptr || pending_ || session_lost_) {
    UpdateClientInterest(connection);
  } else {
    uint64_t received = session_->inbound().bytes;
    ServiceConnection(connection);
    // Only when that call read from the socket can other channels have new data.
    if (session_->inbound().bytes != received) ServiceAll();
  }
  FinishPump();
}

void Tunnel::OnSshEvent(uint32_t events) {
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) ssh_readable_ = true;
  Pump();
}

void Tunnel::Pump() {
  if (session_lost_) return;
  transport_read_ = false;
  if (pending_ && !FinishPendingSend()) return UpdateSshInterest();
  ContinueOpen();
  ServiceAll();
  if (ssh_readable_ && !transport_read_ && !pending_ && !session_lost_) ProbeTransport();
  ssh_readable_ = false;
  FinishPump();
}

void Tunnel::ServiceAll() {
  // Every channel read drains the socket into libssh2's packet queue, so a channel visited
  // early in a pass may have data by the end of it: pass again while anything arrived.
  // Under a steady flow something always arrives, so the passes are bounded (FinishPump
  // continues later) and a channel open in flight gets its turn between passes: otherwise
  // new connections wait for the flow to pause.
  for (int pass = 0; pass < kMaxServicePasses && !pending_ && !session_lost_; ++pass) {
    uint64_t received = session_->inbound().bytes;
    socket_drained_ = false;
    for (auto& [id, connection] : connections_) {
      if (!ServiceConnection(connection.get())) return;
    }
    if (session_->inbound().bytes == received) return;
    ContinueOpen();
  }
  unsettled_ = true;  // data may wait in libssh2's queue, which no socket event announces
}

void Tunnel::FinishPump() {
  // Opens and channel closes read the socket too, and whatever they queue for other
  // channels is announced by no further event: settle until nothing new arrives.
  for (int round = 0; !pending_ && !session_lost_; ++round) {
    if (round == kMaxSettleRounds) {
      unsettled_ = true;
      break;
    }
    uint64_t received = session_->inbound().bytes;
    ContinueOpen();
    if (!pending_ && !session_lost_) FreeClosedChannels();
    if (session_->inbound().bytes == received) break;
    ServiceAll();
  }
  // Keep the loop responsive (accepts, other clients, timers): finish on the next turn.
  if (unsettled_ && !pending_ && !session_lost_) SchedulePump();
  unsettled_ = false;
  SweepConnections();
  UpdateSshInterest();
}

void Tunnel::SchedulePump() {
  if (pump_timer_) return;
  pump_timer_ = loop_->AddTimer(EventLoop::Clock::now(), [this] {
    pump_timer_.reset();
    Pump();
  });
}

bool Tunnel::FinishPendingSend() {
  PendingSend pending = *pending_;
  pending_.reset();
  transport_read_ = true;
  if (pending.op == ChannelOp::kOpen) {
    ContinueOpen();
    return !pending_;
  }
  Connection* connection = Find(pending.connection_id);
  if (connection == nullptr) return true;
  return Handle(connection, pending.op, connection->Retry(pending.op));
}

void Tunnel::BeginOpen() {
  while (!opening_ && !probing_ && !open_queue_.empty()) {
    uint64_t id = open_queue_.front();
    open_queue_.pop_front();
    Connection* connection = Find(id);
    if (connection == nullptr || connection->closing()) continue;
    const ForwardSpec& forward = forwards_[connection->forward_index()];
    std::string host;
    uint16_t port = 0;
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    getpeername(connection->client_fd(), reinterpret_cast<sockaddr*>(&address), &length);
    PeerName(address, &host, &port);
    open_message_ = forward.target.IsUnix() ? StreamLocalMessage(forward.target)
                                            : DirectTcpipMessage(forward.target, host, port);
    open_type_ = forward.target.IsUnix() ? "direct-streamlocal@openssh.com" : "direct-tcpip";
    open_window_ = ChannelWindow(connection_count());
    opening_ = id;
  }
}

void Tunnel::ContinueOpen() {
  for (;;) {
    BeginOpen();
    if (pending_ || session_lost_ || (!opening_ && !probing_)) return;
    transport_read_ = true;
    LIBSSH2_SESSION* session = session_->get();
    LIBSSH2_CHANNEL* channel =
        probing_ ? libssh2_channel_open_ex(session, kProbeChannelType,
                                           sizeof(kProbeChannelType) - 1, kMinChannelWindow,
                                           kChannelPacket, nullptr, 0)
                 : libssh2_channel_open_ex(
                       session, open_type_.c_str(), static_cast<unsigned int>(open_type_.size()),
                       open_window_, kChannelPacket,
                       open_message_.data(), static_cast<unsigned int>(open_message_.size()));
    int rc = channel != nullptr ? 0 : libssh2_session_last_errno(session);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
      if (libssh2_session_block_directions(session) & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
        pending_ = PendingSend{0, ChannelOp::kOpen};
      }
      return;
    }
    if (probing_) {
      probing_ = false;
      if (channel != nullptr) libssh2_channel_free(channel);
    } else {
      FinishOpen(channel, rc);
    }
    if (IsSessionError(rc)) return SessionLost(LastSshError(session));
  }
}

void Tunnel::FinishOpen(LIBSSH2_CHANNEL* channel, int rc) {
  uint64_t id = *opening_;
  opening_.reset();
  Connection* connection = Find(id);
  if (connection == nullptr) return;
  if (channel == nullptr) {
    const ForwardSpec& forward = forwards_[connection->forward_index()];
    std::string reason = LastSshError(session_->get());
    if (!IsSessionError(rc)) {
      LogEvent(spdlog::level::warn, "channel_open_failed",
               "connection #{connection} from {peer}: server could not open {target}: {reason}",
               {{"connection", id},
                {"peer", connection->peer()},
                {"forward", ForwardAddress(connection->forward_index())},
                {"target", FormatEndpoint(forward.target)},
                {"reason", reason}});
    }
    DropConnection(id, "");
    return;
  }
  connection->AttachChannel(session_->get(), channel);
  if (connection->closing()) return;  // its channel is freed by FreeClosedChannels
  ServiceConnection(connection);
}

void Tunnel::SendKeepalive() {
  if (session_lost_ || pending_) return;
  ProbeTransport();
  FinishPump();
}

void Tunnel::ProbeTransport() {
  if (opening_ || probing_) return;
  probing_ = true;
  ContinueOpen();
}

bool Tunnel::ServiceConnection(Connection* connection) {
  if (connection->closing() || connection->channel() == nullptr) return true;
  if (connection->HasDataForChannel()) {
    transport_read_ = true;
    if (!Handle(connection, ChannelOp::kWrite, connection->WriteToChannel())) return false;
  }
  // Reading stops when the client's buffer is full, while more may wait in libssh2's queue
  // (which no socket event will announce): read again as long as the client takes it all.
  for (bool more = true; more && !connection->closing();) {
    bool buffer_was_full = !connection->CanReadChannel();
    if (connection->CanReadChannel() && MayHaveChannelInput(connection)) {
      transport_read_ = true;
      if (!Handle(connection, ChannelOp::kRead, connection->ReadFromChannel())) return false;
      buffer_was_full = !connection->CanReadChannel() && !connection->channel_eof();
    }
    if (connection->closing()) return true;
    if (!connection->WriteToClient()) {
      DropConnection(connection->id(), "client went away");
      return true;
    }
    more = buffer_was_full && connection->CanReadChannel();
  }
  if (connection->closing()) return true;
  if (connection->Finished()) {
    DropConnection(connection->id(), "closed");
  } else {
    UpdateClientInterest(connection);
  }
  return true;
}

bool Tunnel::MayHaveChannelInput(Connection* connection) {
  // The first read of a pass drains the SSH socket into libssh2's packet queue; after it,
  // a channel with nothing queued is skipped without a call that would try recv() again.
  // With many idle channels this keeps the cost of a wake-up to list walks, no syscalls.
  if (!socket_drained_) {
    socket_drained_ = true;
    return true;
  }
  LIBSSH2_CHANNEL* channel = connection->channel();
  return libssh2_poll_channel_read(channel, 0) != 0 || libssh2_channel_eof(channel) != 0;
}

bool Tunnel::Handle(Connection* connection, ChannelOp op, ChannelResult result) {
  switch (result) {
    case ChannelResult::kOk:
      return true;
    case ChannelResult::kSendPending:
      pending_ = PendingSend{connection->id(), op};
      return false;
    case ChannelResult::kChannelError:
      DropConnection(connection->id(), "channel error: " + LastSshError(session_->get()));
      return true;
    case ChannelResult::kSessionError:
      SessionLost(LastSshError(session_->get()));
      return false;
  }
  return true;
}

void Tunnel::DropConnection(uint64_t id, const std::string& why) {
  Connection* connection = Find(id);
  if (connection == nullptr || connection->closing()) return;
  if (connection->client_fd() >= 0) loop_->Unwatch(connection->client_fd());
  if (!why.empty()) {
    LogEvent(spdlog::level::debug, "client_closed",
             "connection #{connection} from {peer} {reason}: {bytes_out} bytes out, "
             "{bytes_in} bytes in",
             {{"connection", id},
              {"peer", connection->peer()},
              {"forward", ForwardAddress(connection->forward_index())},
              {"reason", why},
              {"bytes_out", connection->bytes_up()},
              {"bytes_in", connection->bytes_down()}});
  }
  connection->MarkClosing();
  closing_ids_.push_back(id);
  if (on_connection_count_) on_connection_count_(connection_count());
}

// Both walk only the closing connections: they run several times per wake-up, which
// must not cost a pass over every open connection.
void Tunnel::FreeClosedChannels() {
  for (size_t i = 0; i < closing_ids_.size(); ++i) {
    uint64_t id = closing_ids_[i];
    Connection* connection = Find(id);
    if (connection == nullptr || connection->channel() == nullptr) continue;
    if (opening_ && *opening_ == id) continue;
    if (!Handle(connection, ChannelOp::kFree, connection->FreeChannel())) return;
  }
}

void Tunnel::SweepConnections() {
  const bool had_connections = !connections_.empty();
  auto gone = [this](uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return true;
    bool busy = (opening_ && *opening_ == id) || (pending_ && pending_->connection_id == id);
    if (it->second->channel() != nullptr || busy) return false;
    finished_traffic_.to_server += it->second->bytes_up();
    finished_traffic_.from_server += it->second->bytes_down();
    connections_.erase(it);
    return true;
  };
  closing_ids_.erase(std::remove_if(closing_ids_.begin(), closing_ids_.end(), gone),
                     closing_ids_.end());
  // glibc keeps freed buffers in its heap; once idle, give them back so that an idle tunnel
  // is as small after a burst of traffic as before it.
  if (had_connections && connections_.empty()) {
    packet_pool::ReleaseFreeBlocks();
    malloc_trim(0);
  }
}

void Tunnel::SessionLost(std::string why) {
  if (session_lost_) return;
  int rc = libssh2_session_last_errno(session_->get());
  if (rc == LIBSSH2_ERROR_SOCKET_RECV) why = "the server closed the connection";
  if (rc == LIBSSH2_ERROR_SOCKET_DISCONNECT) why = "the server disconnected (" + why + ")";
  session_lost_ = true;
  loop_->Unwatch(session_->fd());
  if (on_session_lost_) {
    on_session_lost_(Failure{ExitCode::kConnectionLost,
                             "connection to " + session_->host_label() + " lost: " +
                                 (why.empty() ? "server closed the connection" : why)});
  }
}

void Tunnel::UpdateClientInterest(Connection* connection) {
  int fd = connection->client_fd();
  if (fd < 0) return;
  uint32_t wanted = connection->closing() ? 0 : connection->WantedClientEvents();
  // An fd with no interest is removed from epoll altogether: a hung-up socket would
  // otherwise report EPOLLHUP on every wait.
  if (wanted == 0) {
    loop_->Unwatch(fd);
  } else if (loop_->IsWatched(fd)) {
    loop_->SetEvents(fd, wanted);
  } else {
    uint64_t id = connection->id();
    loop_->Watch(fd, wanted, [this, id](uint32_t events) { OnClientEvent(id, events); });
  }
}

void Tunnel::UpdateSshInterest() {
  if (session_lost_) return;
  loop_->SetEvents(session_->fd(), EPOLLIN | (pending_ ? EPOLLOUT : 0u));
}

std::string Tunnel::ForwardAddress(size_t forward_index) const {
  for (const Listener& listener : listeners_) {
    if (listener.forward_index == forward_index) return listener.address;
  }
  return "";
}

Connection* Tunnel::Find(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

size_t Tunnel::connection_count() const { return connections_.size() - closing_ids_.size(); }

Tunnel::Traffic Tunnel::traffic() const {
  Traffic total = finished_traffic_;
  for (const auto& [id, connection] : connections_) {
    total.to_server += connection->bytes_up();
    total.from_server += connection->bytes_down();
  }
  return total;
}

}  // namespace tether
