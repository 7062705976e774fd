#include "tether/tunnel.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "tether/logging.h"
#include "tether/message_text.h"
#include "tether/packet_pool.h"
#include "tether/target_connect.h"

namespace tether {
namespace {

constexpr int kMaxAcceptsPerWakeup = 64;
// When the session pool grows: opens waiting behind the ones in flight, or how long the
// oldest has waited.
constexpr size_t kQueueLengthBeforeGrowing = 2;
constexpr std::chrono::milliseconds kQueueWaitBeforeGrowing{200};
// A free session leaves a queued open to a busy one carrying this many fewer connections...
constexpr size_t kBalanceMargin = 2;
// ... while that one's open is younger than this many round trips and the slack.
constexpr int kBalancePatienceRoundTrips = 4;
constexpr std::chrono::milliseconds kBalancePatienceSlack{20};
constexpr std::chrono::milliseconds kAcceptPause{1000};
// What a refused SOCKS client may still have sent is read and dropped, up to this much, so
// that the close is a FIN after the reply rather than a reset that could discard it.
constexpr size_t kSocksDrainLimit = size_t{64} * 1024;
// The receive window libssh2 1.10 gives a forwarded connection when it confirms it itself
// (LIBSSH2_CHANNEL_WINDOW_DEFAULT). libssh2 keeps at least three quarters of it granted
// before every read, so the window budget can only grow it, never shrink it below that.
constexpr uint32_t kForwardedChannelWindow = LIBSSH2_CHANNEL_WINDOW_DEFAULT;
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

// SOCKS replies are at most 12 bytes in all, written to a socket whose send buffer holds
// kilobytes and nothing else but SOCKS5's 2-byte method choice: a reply goes out whole, or
// the client is gone.
bool SendWhole(int fd, std::string_view bytes) {
  if (bytes.empty()) return true;
  ssize_t n = -1;
  do {
    n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(bytes.size());
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
               std::vector<Listener> listeners, std::chrono::milliseconds connect_timeout,
               std::vector<ForwardSpec> remote_forwards,
               std::vector<RemoteListener*> remote_listeners)
    : loop_(loop),
      forwards_(std::move(forwards)),
      listeners_(std::move(listeners)),
      remote_forwards_(std::move(remote_forwards)),
      connect_timeout_(connect_timeout) {
  drivers_.push_back(
      Route{MakeDriver(session, std::move(remote_listeners)), next_session_number_++, 0});
}

Tunnel::~Tunnel() {
  if (hook_) loop_->RemoveBeforeWait(*hook_);
  if (queue_timer_) loop_->CancelTimer(*queue_timer_);
  if (balance_timer_) loop_->CancelTimer(*balance_timer_);
  if (accept_pause_timer_) loop_->CancelTimer(*accept_pause_timer_);
  CloseListeners();
  for (auto& [id, connection] : connections_) {
    if (connection->client_fd() >= 0) loop_->Unwatch(connection->client_fd());
  }
  for (auto& [id, client] : socks_clients_) loop_->Unwatch(client->fd.get());
  for (Route& route : drivers_) loop_->Unwatch(route.driver->session()->fd());
}

std::unique_ptr<SessionDriver> Tunnel::MakeDriver(SshSession* session,
                                                  std::vector<RemoteListener*> remote_listeners) {
  auto driver = std::make_unique<SessionDriver>(session);
  SessionDriver* raw = driver.get();
  if (!remote_listeners.empty()) {
    remote_addresses_.clear();
    for (const RemoteListener* listener : remote_listeners) {
      remote_addresses_.push_back(RemoteListenAddress(*listener));
    }
    driver->set_remote_listeners(std::move(remote_listeners));
  }
  SessionDriver::Callbacks callbacks;
  callbacks.opened = [this, raw](uint64_t id, LIBSSH2_CHANNEL* channel, const std::string& error) {
    OnOpened(raw, id, channel, error);
  };
  callbacks.served = [this](Connection* connection, const std::string& failure) {
    OnServed(connection, failure);
  };
  callbacks.released = [this](Connection* connection) { OnReleased(connection); };
  callbacks.accepted = [this, raw](size_t index, LIBSSH2_CHANNEL* channel) {
    OnForwarded(raw, index, channel);
  };
  callbacks.lost = [this, raw](const std::string& why) { OnDriverLost(raw, why); };
  driver->set_callbacks(std::move(callbacks));
  return driver;
}

void Tunnel::Start() {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    loop_->Watch(listeners_[i].fd.get(), EPOLLIN, [this, i](uint32_t) { OnListenerReadable(i); });
  }
  for (Route& route : drivers_) {
    SessionDriver* driver = route.driver.get();
    loop_->Watch(driver->session()->fd(), EPOLLIN,
                 [this, driver](uint32_t events) { OnSshEvent(driver, events); });
  }
  hook_ = loop_->AddBeforeWait([this] { return Step(); });
}

void Tunnel::Detach() {
  detached_ = true;
  first_lost_.reset();
  first_lost_reported_ = false;
  extra_lost_.clear();
  std::deque<uint64_t> unanswered;
  for (Route& route : drivers_) {
    for (uint64_t id : route.driver->TakeWaitingOpens()) unanswered.push_back(id);
    loop_->Unwatch(route.driver->session()->fd());
  }
  open_queue_.insert(open_queue_.begin(), unanswered.begin(), unanswered.end());
  std::vector<uint64_t> carried;
  for (auto& [id, connection] : connections_) {
    if (connection->channel() != nullptr || connection->closing()) carried.push_back(id);
  }
  for (uint64_t id : carried) {
    Connection* connection = Find(id);
    if (!connection->closing()) {
      DropConnection(id, "closed: connection to the server lost");
    }
    Erase(id);  // its channel goes with the session
  }
  closing_count_ = 0;
  driver_of_.clear();
  drivers_.clear();
  budget_.ForgetRoundTrip();
  if (on_connection_count_) on_connection_count_(connection_count());
}

void Tunnel::Attach(SshSession* session, std::vector<RemoteListener*> remote_listeners) {
  detached_ = false;
  drivers_.push_back(
      Route{MakeDriver(session, std::move(remote_listeners)), next_session_number_++, 0});
  SessionDriver* driver = drivers_.back().driver.get();
  loop_->Watch(session->fd(), EPOLLIN,
               [this, driver](uint32_t events) { OnSshEvent(driver, events); });
}

void Tunnel::AddSession(SshSession* session) {
  drivers_.push_back(Route{MakeDriver(session), next_session_number_++, 0});
  SessionDriver* driver = drivers_.back().driver.get();
  loop_->Watch(session->fd(), EPOLLIN,
               [this, driver](uint32_t events) { OnSshEvent(driver, events); });
}

void Tunnel::RemoveSession(SshSession* session) {
  Route* route = RouteOf(session);
  if (route == nullptr || route == &drivers_.front()) return;
  SessionDriver* driver = route->driver.get();
  std::vector<uint64_t> unanswered = driver->TakeWaitingOpens();
  open_queue_.insert(open_queue_.begin(), unanswered.begin(), unanswered.end());
  std::vector<uint64_t> carried;
  for (const auto& [id, owner] : driver_of_) {
    if (owner == driver) carried.push_back(id);
  }
  for (uint64_t id : carried) {
    Connection* connection = Find(id);
    driver_of_.erase(id);
    if (connection == nullptr) continue;
    if (connection->channel() == nullptr && !connection->closing()) continue;  // re-queued
    if (connection->closing()) --closing_count_;
    DropConnection(id, "closed: its session to the server was lost");
    Erase(id);
  }
  loop_->Unwatch(session->fd());
  drivers_.erase(drivers_.begin() + (route - drivers_.data()));
  if (on_connection_count_) on_connection_count_(connection_count());
}

void Tunnel::CloseListeners() {
  if (accept_pause_timer_) loop_->CancelTimer(*accept_pause_timer_);
  accept_pause_timer_.reset();
  for (Listener& listener : listeners_) {
    if (!listener.fd) continue;
    loop_->Unwatch(listener.fd.get());
    listener.socket_file.Unlink();
    listener.fd.Reset();
  }
}

void Tunnel::CloseConnections() {
  for (auto& [id, connection] : connections_) {
    if (connection->client_fd() >= 0) loop_->Unwatch(connection->client_fd());
    connection->MarkClosing();
  }
  closing_count_ = connections_.size();
  open_queue_.clear();
  for (auto& [id, client] : socks_clients_) loop_->Unwatch(client->fd.get());
  socks_clients_.clear();
}

void Tunnel::CancelRemoteListeners(std::chrono::milliseconds budget, WaitBackground* background) {
  if (!drivers_.empty()) drivers_.front().driver->CancelRemoteListeners(budget, background);
}

void Tunnel::OnListenerReadable(size_t listener_index) {
  const Listener& listener = listeners_[listener_index];
  for (int i = 0; i < kMaxAcceptsPerWakeup && listener.fd; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    UniqueFd client(accept4(listener.fd.get(), reinterpret_cast<sockaddr*>(&address), &length,
                            SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        PauseAccepting(errno);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        LogEvent(spdlog::level::warn, "accept_failed", "accept on {forward}: {reason}",
                 {{"forward", listener.address}, {"reason", std::strerror(errno)}});
      }
      break;
    }
    Accept(listener, std::move(client), address);
  }
  if (on_connection_count_) on_connection_count_(connection_count());
}

// Out of file descriptors (or memory), accept() fails at once for as long as the client
// waits in the queue: a level-triggered listener would spin. Stop watching the listeners for
// a while (ssh waits 1 s too) and say so once per episode, with how many pauses it took.
void Tunnel::PauseAccepting(int error) {
  ++accept_pauses_;
  if (accept_pause_timer_) return;
  if (accept_pauses_ == 1) {
    LogEvent(spdlog::level::warn, "accept_paused",
             "cannot accept clients: {reason}; not accepting for {seconds}s at a time until "
             "that passes",
             {{"reason", std::strerror(error)},
              {"seconds", static_cast<uint64_t>(kAcceptPause.count() / 1000)}});
  }
  for (Listener& listener : listeners_) {
    if (listener.fd) loop_->Unwatch(listener.fd.get());
  }
  accept_pause_timer_ = loop_->AddTimer(EventLoop::Clock::now() + kAcceptPause, [this] {
    accept_pause_timer_.reset();
    ResumeAccepting();
  });
}

void Tunnel::ResumeAccepting() {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (!listeners_[i].fd || loop_->IsWatched(listeners_[i].fd.get())) continue;
    loop_->Watch(listeners_[i].fd.get(), EPOLLIN, [this, i](uint32_t) { OnListenerReadable(i); });
  }
  // Whether this episode is over shows at the next accept: one that works ends it.
  check_accept_recovery_ = true;
}

void Tunnel::Accept(const Listener& listener, UniqueFd client, const sockaddr_storage& address) {
  if (std::exchange(check_accept_recovery_, false) && accept_pauses_ > 0) {
    LogEvent(spdlog::level::info, "accept_resumed",
             "accepting clients again after {pauses} pause(s)", {{"pauses", accept_pauses_}});
    accept_pauses_ = 0;
  }
  int one = 1;
  setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string host;
  uint16_t port = 0;
  std::string peer = PeerName(address, &host, &port);
  uint64_t id = next_id_++;
  LogEvent(spdlog::level::debug, "client_accepted",
           "connection #{connection} from {peer} on {forward}",
           {{"connection", id}, {"peer", peer}, {"forward", listener.address}});
  if (forwards_[listener.forward_index].dynamic) {
    auto socks = std::make_unique<SocksClient>();
    socks->fd = std::move(client);
    socks->forward_index = listener.forward_index;
    socks->peer = peer;
    const int fd = socks->fd.get();
    socks_clients_[id] = std::move(socks);
    socks_deadlines_.Add(EventLoop::Clock::now() + kSocksHandshakeTimeout, id);
    loop_->Watch(fd, EPOLLIN, [this, id](uint32_t events) { OnSocksEvent(id, events); });
    return;
  }
  Enqueue(std::make_unique<Connection>(id, listener.forward_index, std::move(client), peer));
}

void Tunnel::Enqueue(std::unique_ptr<Connection> connection) {
  const uint64_t id = connection->id();
  Connection* raw = connection.get();
  connections_[id] = std::move(connection);
  open_queue_.push_back(id);
  waiting_.Add(EventLoop::Clock::now() + connect_timeout_, id);
  UpdateClientInterest(raw);
}

// Level-triggered: one bounded read per wake-up, never more than the handshake's cap, so a
// client can neither grow memory nor hold the loop; what it sends past its request stays in
// the socket until the channel is open.
void Tunnel::OnSocksEvent(uint64_t id, uint32_t events) {
  auto it = socks_clients_.find(id);
  if (it == socks_clients_.end()) return;
  SocksClient& client = *it->second;
  if ((events & EPOLLERR) != 0) return CloseSocks(id, "client socket error");
  char buffer[SocksRequestParser::kMaxHandshakeBytes];
  const ssize_t n = recv(client.fd.get(), buffer, client.parser.Room(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    return CloseSocks(id, n == 0 ? "client closed during its SOCKS request"
                                 : "client reset the connection during its SOCKS request");
  }
  const SocksStep step = client.parser.Feed(std::string_view(buffer, static_cast<size_t>(n)));
  if (!SendWhole(client.fd.get(), step.reply)) {
    return CloseSocks(id, "client went away during its SOCKS request");
  }
  if (step.status == SocksStatus::kError) {
    LogEvent(spdlog::level::warn, "socks_refused",
             "connection #{connection} from {peer}: SOCKS request refused: {reason}",
             {{"connection", id},
              {"peer", client.peer},
              {"forward", ForwardAddress(client.forward_index)},
              {"reason", step.reason}});
    return CloseSocks(id, "");
  }
  if (step.status == SocksStatus::kDone) FinishSocks(id);
}

void Tunnel::FinishSocks(uint64_t id) {
  auto it = socks_clients_.find(id);
  std::unique_ptr<SocksClient> client = std::move(it->second);
  socks_clients_.erase(it);
  loop_->Unwatch(client->fd.get());
  const SocksTarget& target = client->parser.target();
  SocksRequest request{client->parser.version(), Endpoint{target.host, target.port, ""}};
  auto connection =
      std::make_unique<Connection>(id, client->forward_index, std::move(client->fd), client->peer);
  connection->AddClientBytes(client->parser.rest());
  socks_requests_[id] = std::move(request);
  LogEvent(spdlog::level::debug, "socks_request",
           "connection #{connection} from {peer} asks for {target}",
           {{"connection", id}, {"peer", connection->peer()}, {"target", TargetText(*connection)}});
  Enqueue(std::move(connection));
  if (on_connection_count_) on_connection_count_(connection_count());
}

void Tunnel::CloseSocks(uint64_t id, const std::string& why) {
  auto it = socks_clients_.find(id);
  if (it == socks_clients_.end()) return;
  const int fd = it->second->fd.get();
  if (!why.empty()) {
    LogEvent(spdlog::level::debug, "client_closed", "connection #{connection} from {peer} {reason}",
             {{"connection", id},
              {"peer", it->second->peer},
              {"forward", ForwardAddress(it->second->forward_index)},
              {"reason", why}});
  }
  loop_->Unwatch(fd);
  shutdown(fd, SHUT_WR);
  char sink[4096];
  for (size_t drained = 0; drained < kSocksDrainLimit;) {
    const ssize_t n = recv(fd, sink, sizeof(sink), 0);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
  socks_clients_.erase(it);
}

void Tunnel::ExpireSocks(uint64_t id) {
  auto it = socks_clients_.find(id);
  if (it == socks_clients_.end()) return;
  LogEvent(
      spdlog::level::warn, "socks_refused",
      "connection #{connection} from {peer}: SOCKS request refused: {reason}",
      {{"connection", id},
       {"peer", it->second->peer},
       {"forward", ForwardAddress(it->second->forward_index)},
       {"reason", "not complete within " + std::to_string(kSocksHandshakeTimeout.count()) + "s"}});
  CloseSocks(id, "");
}

bool Tunnel::ReplySocks(const Connection& connection, SocksOutcome outcome) {
  auto it = socks_requests_.find(connection.id());
  if (it == socks_requests_.end() || connection.client_fd() < 0) return true;
  return SendWhole(connection.client_fd(), SocksOpenReply(it->second.version, outcome));
}

std::string Tunnel::TargetText(const Connection& connection) const {
  if (IsRemote(connection.forward_index())) {
    return FormatEndpoint(remote_forwards_[connection.forward_index() - forwards_.size()].target);
  }
  auto it = socks_requests_.find(connection.id());
  if (it == socks_requests_.end()) {
    return FormatEndpoint(forwards_[connection.forward_index()].target);
  }
  return EscapeForMessage(FormatEndpoint(it->second.target));
}

void Tunnel::OnClientEvent(uint64_t id, uint32_t events) {
  Connection* connection = Find(id);
  if (connection == nullptr || connection->closing()) return;
  const bool was_connecting = !connecting_.empty() && connecting_.erase(id) != 0;
  std::string failure;
  if ((events & EPOLLERR) != 0) {
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(connection->client_fd(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (was_connecting) return FailForwardedConnect(id, std::strerror(error));
    failure = std::string("client socket error: ") + std::strerror(error);
  } else if ((events & (EPOLLIN | EPOLLHUP)) != 0 && !connection->ReadFromClient()) {
    failure = "client reset the connection";
  } else if ((events & EPOLLOUT) != 0 && !connection->WriteToClient()) {
    failure = "client went away";
  }
  if (!failure.empty()) return DropConnection(id, failure);
  UpdateClientInterest(connection);
  auto owner = driver_of_.find(id);
  if (owner != driver_of_.end()) owner->second->MarkActive(connection);
}

void Tunnel::OnSshEvent(SessionDriver* driver, uint32_t events) {
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) driver->NoteReadable();
}

bool Tunnel::Step() {
  if (detached_) return false;
  bool more = false;
  // Each driver's step may free an open slot: hand it the next open and step again, so that
  // an answer and the next open go out in the same wake-up.
  for (int round = 0; round < 4; ++round) {
    AssignOpens();
    more = false;
    for (size_t i = 0; i < drivers_.size(); ++i) {
      SessionDriver* driver = drivers_[i].driver.get();
      more = driver->Step() || more;
    }
    if (!AssignOpens()) break;
    more = true;
  }
  // Channels not read while the buffers were over budget have data nobody will announce.
  const bool budget_full = !budget_.HasBufferRoom();
  if (budget_was_full_ && !budget_full) {
    for (Route& route : drivers_) route.driver->MarkAllActive();
    more = true;
  }
  budget_was_full_ = budget_full;
  budget_.set_opens_waiting(!open_queue_.empty());
  for (Route& route : drivers_) UpdateSshInterest(route.driver.get());
  HandleLosses();
  NoticeQueuedOpens();
  return more && !detached_;
}

// Another session helps when opens pile up behind the ones in flight, or when one waits
// longer than a round trip should take (an open stuck on a target that never answers).
void Tunnel::NoticeQueuedOpens() {
  if (open_queue_.empty() || detached_) {
    queued_since_.reset();
    return;
  }
  if (!queued_since_) {
    queued_since_ = EventLoop::Clock::now();
    if (!queue_timer_) {
      queue_timer_ = loop_->AddTimer(*queued_since_ + kQueueWaitBeforeGrowing, [this] {
        queue_timer_.reset();
        if (!open_queue_.empty() && !detached_ && on_opens_queued_) on_opens_queued_();
      });
    }
  }
  if (open_queue_.size() >= kQueueLengthBeforeGrowing && on_opens_queued_) on_opens_queued_();
}

// A lone open (nothing else waiting for a channel) goes to the first session whose open slot
// is free, so that an extra session carries only what queued while that slot was taken (a
// burst); a queue of opens is spread over the free sessions carrying the fewest, as
// separate TCP connections share a link per connection. Spreading lone opens too, a pool
// grown by one burst split every later connection over several sshd processes, and on a
// 2-core machine their wake-ups doubled the 200-connection round-trip p99
// (bench/RESULTS.md). A session carrying a bulk download is passed over: a new channel's
// open would wait behind the data queued on its connection.
bool Tunnel::AssignOpens() {
  DropStaleQueuedOpens();
  bool assigned = false;
  bool lone = open_queue_.size() == 1;
  for (const Route& route : drivers_) lone = lone && route.driver->opens_waiting() == 0;
  while (!open_queue_.empty()) {
    Route* route = lone ? FirstFreeRouteWithoutBulk() : nullptr;
    if (route == nullptr) route = LeastLoadedFreeRoute();
    if (route == nullptr) break;
    // DropStaleQueuedOpens left a connection at the front that still waits for its channel.
    const uint64_t id = open_queue_.front();
    open_queue_.pop_front();
    Connection* connection = Find(id);
    SessionDriver* driver = route->driver.get();
    SessionDriver::OpenRequest request = MakeOpenRequest(*connection);
    request_window_[id] = WindowBudget::OpenWindow(connection_count());
    driver->Open(std::move(request));
    driver_of_[id] = driver;
    route->open_assigned_at = EventLoop::Clock::now();
    assigned = true;
    DropStaleQueuedOpens();
  }
  return assigned;
}

// Clients that closed or timed out while queued are dropped from the front of the queue, so
// that the queue being non-empty means someone waits (it shrinks every window, and may hold
// an open back for a lighter session).
void Tunnel::DropStaleQueuedOpens() {
  while (!open_queue_.empty()) {
    const Connection* connection = Find(open_queue_.front());
    if (connection != nullptr && !connection->closing() && connection->channel() == nullptr) {
      return;
    }
    open_queue_.pop_front();
  }
}

bool Tunnel::RouteIsFree(const Route& route) {
  return route.driver->opens_waiting() == 0 && !route.driver->lost();
}

Tunnel::Route* Tunnel::LeastLoadedFreeRoute() {
  Route* best = nullptr;
  for (Route& route : drivers_) {
    if (!RouteIsFree(route)) continue;
    if (best == nullptr || route.carried < best->carried) best = &route;
  }
  if (best == nullptr) return nullptr;
  const std::optional<EventLoop::Clock::time_point> wait_until = BalanceDeadline(*best);
  if (!wait_until) return best;
  // Nothing else may wake the loop when the lighter session's open outlasts the patience.
  WakeAt(*wait_until);
  return nullptr;
}

// Sessions share the link per TCP connection, so each channel of a session carrying more
// gets less of it: the first session, which opened alone while the others were set up,
// ended a burst of 100 streams with 31 against 23-24, and its streams ran at 0.74 of the
// others'. A free session carrying kBalanceMargin more than a busy one will once its open is
// answered leaves the next open to that one, for as long as that open is younger than a few
// round trips (a target that never answers must not hold the queue): until the earliest such
// deadline, or none.
std::optional<EventLoop::Clock::time_point> Tunnel::BalanceDeadline(const Route& free_route) const {
  const EventLoop::Clock::time_point now = EventLoop::Clock::now();
  const EventLoop::Clock::duration patience =
      kBalancePatienceRoundTrips * budget_.round_trip() + kBalancePatienceSlack;
  std::optional<EventLoop::Clock::time_point> deadline;
  for (const Route& route : drivers_) {
    if (route.driver->lost() || RouteIsFree(route)) continue;
    if (free_route.carried < route.carried + route.driver->opens_waiting() + kBalanceMargin) {
      continue;
    }
    // An open handed over in this step may not have gone out yet.
    const EventLoop::Clock::time_point started =
        route.driver->open_started().value_or(route.open_assigned_at);
    if (now - started >= patience) continue;
    if (!deadline || started + patience < *deadline) deadline = started + patience;
  }
  return deadline;
}

void Tunnel::WakeAt(EventLoop::Clock::time_point deadline) {
  if (balance_timer_) {
    if (balance_deadline_ <= deadline) return;
    loop_->CancelTimer(*balance_timer_);
  }
  balance_deadline_ = deadline;
  balance_timer_ = loop_->AddTimer(deadline, [this] { balance_timer_.reset(); });
}

// A channel whose window grew past the largest a channel starts with was held up by it: a flow
// that fills the link, not a request and its answer. Only sessions free for an open are
// looked at, and the connections only as far as the first of them without such a channel.
Tunnel::Route* Tunnel::FirstFreeRouteWithoutBulk() {
  for (Route& route : drivers_) {
    if (!RouteIsFree(route)) continue;
    if (drivers_.size() == 1 || !CarriesBulk(route.driver.get())) return &route;
  }
  return nullptr;
}

bool Tunnel::CarriesBulk(const SessionDriver* driver) {
  for (const auto& [id, owner] : driver_of_) {
    if (owner != driver) continue;
    const Connection* connection = Find(id);
    if (connection != nullptr && connection->window_target() > WindowBudget::kOpenWindow) {
      return true;
    }
  }
  return false;
}

SessionDriver::OpenRequest Tunnel::MakeOpenRequest(const Connection& connection) const {
  const ForwardSpec& forward = forwards_[connection.forward_index()];
  std::string host;
  uint16_t port = 0;
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  getpeername(connection.client_fd(), reinterpret_cast<sockaddr*>(&address), &length);
  PeerName(address, &host, &port);
  // A SOCKS client's name goes to the server as it is: the server resolves it, as with ssh.
  auto socks = socks_requests_.find(connection.id());
  const Endpoint& target = socks != socks_requests_.end() ? socks->second.target : forward.target;
  SessionDriver::OpenRequest request;
  request.id = connection.id();
  request.message =
      target.IsUnix() ? StreamLocalMessage(target) : DirectTcpipMessage(target, host, port);
  request.type = target.IsUnix() ? "direct-streamlocal@openssh.com" : "direct-tcpip";
  // libssh2 tops a channel's window up to what it opened with (and the read's length) before
  // every read, whatever the budget says: a channel opens with the least window and is
  // granted its share at once (Connection::AttachChannel).
  request.window = WindowBudget::kMinWindow;
  return request;
}

void Tunnel::OnOpened(SessionDriver* driver, uint64_t id, LIBSSH2_CHANNEL* channel,
                      const std::string& error) {
  Connection* connection = Find(id);
  if (channel == nullptr) {
    driver_of_.erase(id);
    if (connection == nullptr) return;
    LogEvent(spdlog::level::warn, "channel_open_failed",
             "connection #{connection} from {peer}: server could not open {target}: {reason}",
             {{"connection", id},
              {"peer", connection->peer()},
              {"forward", ForwardAddress(connection->forward_index())},
              {"target", TargetText(*connection)},
              {"reason", error}});
    ReplySocks(*connection, SocksOutcomeOfOpenError(error));
    DropConnection(id, "");
    return;
  }
  budget_.NoteRoundTrip(driver->last_open_time(), EventLoop::Clock::now());
  connection->AttachChannel(driver->session()->get(), channel, request_window_[id]);
  request_window_.erase(id);
  connection->set_budget(&budget_);
  budget_.set_channels(connection_count());
  Route* route = RouteOf(driver);
  ++route->carried;
  LogEvent(spdlog::level::debug, "channel_opened",
           "connection #{connection} from {peer} carried by session {session}",
           {{"connection", id}, {"peer", connection->peer()}, {"session", route->number}});
  driver->Serve(connection);
  if (!ReplySocks(*connection, SocksOutcome::kSucceeded)) DropConnection(id, "client went away");
}

void Tunnel::OnServed(Connection* connection, const std::string& failure) {
  if (!failure.empty()) {
    DropConnection(connection->id(), failure);
  } else if (connection->Finished()) {
    DropConnection(connection->id(), "closed");
  } else {
    UpdateClientInterest(connection);
  }
}

void Tunnel::OnReleased(Connection* connection) {
  const uint64_t id = connection->id();
  auto owner = driver_of_.find(id);
  if (owner != driver_of_.end()) {
    if (Route* route = RouteOf(owner->second)) --route->carried;
  }
  --closing_count_;
  Erase(id);
}

void Tunnel::OnForwarded(SessionDriver* driver, size_t index, LIBSSH2_CHANNEL* channel) {
  const uint64_t id = next_id_++;
  const size_t forward_index = forwards_.size() + index;
  const Endpoint& target = remote_forwards_[index].target;
  std::string reason;
  UniqueFd local = StartTargetConnect(target, &reason);
  if (!local) {
    LogForwardedConnectFailure(id, forward_index, reason);
    driver->Discard(channel);
    return;
  }
  // The server does not say who connected (libssh2 keeps the originator to itself).
  auto owned = std::make_unique<Connection>(id, forward_index, std::move(local),
                                            "the server's " + ForwardAddress(forward_index));
  Connection* connection = owned.get();
  connections_[id] = std::move(owned);
  connection->AttachChannel(driver->session()->get(), channel, kForwardedChannelWindow);
  connection->set_budget(&budget_);
  budget_.set_channels(connection_count());
  driver_of_[id] = driver;
  Route* route = RouteOf(driver);
  ++route->carried;
  LogEvent(spdlog::level::debug, "remote_accepted",
           "connection #{connection} forwarded by the server to {forward}, to {target}",
           {{"connection", id},
            {"forward", ForwardAddress(forward_index)},
            {"target", FormatEndpoint(target)}});
  // Until the socket first reports, a failure is the connect's (often only known later).
  connecting_.insert(id);
  driver->Serve(connection);
  UpdateClientInterest(connection);
  if (on_connection_count_) on_connection_count_(connection_count());
}

void Tunnel::LogForwardedConnectFailure(uint64_t id, size_t forward_index,
                                        const std::string& reason) const {
  LogEvent(spdlog::level::warn, "remote_connect_failed",
           "connection #{connection} forwarded by the server to {forward}: cannot connect to "
           "{target}: {reason}",
           {{"connection", id},
            {"forward", ForwardAddress(forward_index)},
            {"target", FormatEndpoint(remote_forwards_[forward_index - forwards_.size()].target)},
            {"reason", reason}});
}

void Tunnel::FailForwardedConnect(uint64_t id, const std::string& reason) {
  Connection* connection = Find(id);
  if (connection == nullptr) return;
  LogForwardedConnectFailure(id, connection->forward_index(), reason);
  DropConnection(id, "");
}

void Tunnel::OnDriverLost(SessionDriver* driver, const std::string& why) {
  if (driver == drivers_.front().driver.get()) {
    if (!first_lost_) {
      first_lost_ = Failure{ExitCode::kConnectionLost,
                            "connection to " + driver->session()->host_label() + " lost: " + why};
    }
    return;
  }
  extra_lost_.emplace_back(driver->session(), why);
}

// Losses are acted on once every driver has stepped: never from inside a driver's call.
void Tunnel::HandleLosses() {
  for (auto& [session, why] : std::exchange(extra_lost_, {})) {
    LogEvent(spdlog::level::warn, "pool_session_lost",
             "an extra session to {server} was lost: {reason}",
             {{"server", session->host_label()}, {"reason", why}});
    RemoveSession(session);
    if (on_extra_lost_) on_extra_lost_(session, why);
  }
  if (first_lost_ && !std::exchange(first_lost_reported_, true) && on_session_lost_) {
    Failure lost = *first_lost_;
    on_session_lost_(lost);
  }
}

void Tunnel::SendKeepalive(const SshSession* session) {
  Route* route = RouteOf(session);
  if (route != nullptr) route->driver->Probe();
}

// A client waits for its channel at most the connect timeout, whatever holds it up: no
// session (reconnecting), or a server that does not answer the open (a target that drops
// SYNs keeps sshd waiting for minutes).
void Tunnel::ExpireWaiting(uint64_t id) {
  Connection* connection = Find(id);
  if (connection == nullptr || connection->closing() || connection->channel() != nullptr) return;
  const bool opening = driver_of_.count(id) != 0;
  LogEvent(spdlog::level::warn, "client_closed",
           opening ? "connection #{connection} from {peer} closed: the server did not open "
                     "{target} within {seconds}s"
                   : "connection #{connection} from {peer} closed: no connection to the server "
                     "within {seconds}s",
           {{"connection", id},
            {"peer", connection->peer()},
            {"forward", ForwardAddress(connection->forward_index())},
            {"target", TargetText(*connection)},
            {"reason", opening ? "channel open timed out" : "server unreachable"},
            {"seconds", static_cast<uint64_t>(connect_timeout_.count() / 1000)}});
  ReplySocks(*connection, opening ? SocksOutcome::kHostUnreachable : SocksOutcome::kGeneralFailure);
  DropConnection(id, "");
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
              {"bytes_out", connection->bytes_out()},
              {"bytes_in", connection->bytes_in()}});
  }
  connection->MarkClosing();
  auto owner = driver_of_.find(id);
  if (connection->channel() != nullptr && owner != driver_of_.end()) {
    ++closing_count_;
    owner->second->Close(connection);  // erased once the driver has freed the channel
  } else {
    if (owner != driver_of_.end()) owner->second->CancelOpen(id);
    Erase(id);
  }
  if (on_connection_count_) on_connection_count_(connection_count());
}

void Tunnel::Erase(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  finished_traffic_.bytes_out += it->second->bytes_out();
  finished_traffic_.bytes_in += it->second->bytes_in();
  auto owner = driver_of_.find(id);
  if (owner != driver_of_.end()) {
    owner->second->Forget(it->second.get());
    driver_of_.erase(owner);
  }
  request_window_.erase(id);
  socks_requests_.erase(id);
  connecting_.erase(id);
  connections_.erase(it);
  budget_.set_channels(connection_count());
  ReleaseMemoryIfIdle(true);
}

// glibc keeps freed buffers in its heap; once idle, give them back so that an idle tunnel is
// as small after a burst of traffic as before it.
void Tunnel::ReleaseMemoryIfIdle(bool had_connections) {
  if (had_connections && connections_.empty()) {
    packet_pool::ReleaseFreeBlocks();
    malloc_trim(0);
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

void Tunnel::UpdateSshInterest(SessionDriver* driver) {
  if (driver->lost()) return loop_->Unwatch(driver->session()->fd());
  loop_->SetEvents(driver->session()->fd(), driver->SocketEvents());
}

std::string Tunnel::ForwardAddress(size_t forward_index) const {
  if (IsRemote(forward_index)) {
    const size_t index = forward_index - forwards_.size();
    return index < remote_addresses_.size() ? "remote " + remote_addresses_[index] : "remote";
  }
  for (const Listener& listener : listeners_) {
    if (listener.forward_index == forward_index) return listener.address;
  }
  return "";
}

Connection* Tunnel::Find(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

Tunnel::Route* Tunnel::RouteOf(const SessionDriver* driver) {
  for (Route& route : drivers_) {
    if (route.driver.get() == driver) return &route;
  }
  return nullptr;
}

Tunnel::Route* Tunnel::RouteOf(const SshSession* session) {
  for (Route& route : drivers_) {
    if (route.driver->session() == session) return &route;
  }
  return nullptr;
}

size_t Tunnel::connection_count() const { return connections_.size() - closing_count_; }

size_t Tunnel::connections_on(const SshSession* session) const {
  for (const Route& route : drivers_) {
    if (route.driver->session() == session) return route.carried;
  }
  return 0;
}

Tunnel::Traffic Tunnel::traffic() const {
  Traffic total = finished_traffic_;
  for (const auto& [id, connection] : connections_) {
    total.bytes_out += connection->bytes_out();
    total.bytes_in += connection->bytes_in();
  }
  return total;
}

}  // namespace tether
