#pragma once

#include <libssh2.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tether/connection.h"
#include "tether/deadline_queue.h"
#include "tether/event_loop.h"
#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/listener.h"
#include "tether/session_driver.h"
#include "tether/socks_request.h"
#include "tether/ssh_session.h"
#include "tether/window_budget.h"

namespace tether {

/// Serves the forwards over a pool of authenticated sessions to one server: accepts clients on
/// the listeners, opens a channel for each on the session whose open slot frees first
/// (libssh2 opens one channel per round trip per session), and moves bytes both ways through
/// each session's SessionDriver. The first session is the one the run started with; extra
/// sessions (AddSession) only carry more opens. A client of a dynamic forward (-D) first
/// goes through its SOCKS handshake, bounded in size and time, then opens its channel to the
/// target it asked for as any other client does. Connections the server forwards to a
/// remote listener (-R) of the first session are connected to their local target and served
/// the same way.
class Tunnel {
 public:
  /// How long a SOCKS client has to send its whole request.
  static constexpr std::chrono::seconds kSocksHandshakeTimeout{10};

  /// `connect_timeout` bounds how long a client waits for its channel. `remote_listeners`
  /// are `session`'s, one for each of `remote_forwards`.
  Tunnel(EventLoop* loop, SshSession* session, std::vector<ForwardSpec> forwards,
         std::vector<Listener> listeners, std::chrono::milliseconds connect_timeout,
         std::vector<ForwardSpec> remote_forwards = {},
         std::vector<RemoteListener*> remote_listeners = {});
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  /// Starts watching the listeners and the SSH socket.
  void Start();
  /// The first session is gone and another will follow (--reconnect): every connection with
  /// a channel is closed and every session forgotten (extra ones too), the listeners stay.
  /// Clients that have no channel yet, and clients accepted from now on, wait for Attach,
  /// each at most the connect timeout, then are closed. Call before the sessions are
  /// destroyed.
  void Detach();
  /// Serves the forwards over `session` after Detach, the waiting clients first; the remote
  /// forwards through `remote_listeners`, requested again on it.
  void Attach(SshSession* session, std::vector<RemoteListener*> remote_listeners = {});

  /// Adds an extra session to the pool.
  void AddSession(SshSession* session);
  /// Closes the connections an extra session carried and forgets it (its opens move to the
  /// other sessions). Call before the session is destroyed.
  void RemoveSession(SshSession* session);
  /// Extra sessions in the pool.
  size_t extra_sessions() const { return drivers_.empty() ? 0 : drivers_.size() - 1; }
  /// Called once if the first session breaks (server closed, protocol error).
  void set_on_session_lost(std::function<void(const Failure&)> callback) {
    on_session_lost_ = std::move(callback);
  }
  /// Called once when an extra session breaks; its connections are closed already.
  void set_on_extra_session_lost(std::function<void(SshSession*, const std::string&)> callback) {
    on_extra_lost_ = std::move(callback);
  }
  /// Called whenever the number of open client connections changes.
  void set_on_connection_count(std::function<void(size_t)> callback) {
    on_connection_count_ = std::move(callback);
  }
  /// Called (from the loop) while opens wait for a free open slot: two or more, or one for
  /// longer than a round trip should take. Possibly many times for one wait.
  /// Client connections waiting for a session's open slot.
  size_t opens_queued() const { return open_queue_.size(); }
  void set_on_opens_queued(std::function<void()> callback) {
    on_opens_queued_ = std::move(callback);
  }
  /// Asks `session`'s server for a reply without waiting for the open slot.
  void SendKeepalive(const SshSession* session);
  /// Stops accepting and closes every listener at once (ports are free after this returns).
  void CloseListeners();
  /// Closes clients; their channels go with the sessions' disconnect, which is bounded.
  void CloseConnections();
  /// Frees the server's ports of the remote forwards (SessionDriver::CancelRemoteListeners):
  /// once the loop is done, before the first session's Disconnect. `background`: the jump
  /// hosts that carry the first session (nullptr = none).
  void CancelRemoteListeners(std::chrono::milliseconds budget, WaitBackground* background);

  /// Open client connections (not counting channels still being closed).
  size_t connection_count() const;
  /// Connections whose channel is on `session`.
  size_t connections_on(const SshSession* session) const;
  /// Bytes moved so far, over every connection this tunnel ever had. "Out" and "in" are seen
  /// from the local clients, as everywhere tether counts traffic (logs, `tether list`, the
  /// status line): out goes to the server, in comes from it.
  struct Traffic {
    uint64_t bytes_out = 0;  ///< written into channels
    uint64_t bytes_in = 0;   ///< written to local clients
  };
  Traffic traffic() const;
  const std::vector<Listener>& listeners() const { return listeners_; }

 private:
  /// A client of a dynamic forward that has not finished its SOCKS request yet.
  struct SocksClient {
    UniqueFd fd;
    size_t forward_index = 0;
    std::string peer;
    SocksRequestParser parser;
  };
  /// What a dynamic forward's client asked for.
  struct SocksRequest {
    SocksVersion version = SocksVersion::kSocks5;
    Endpoint target;
  };

  struct Route {
    std::unique_ptr<SessionDriver> driver;
    uint64_t number = 0;  ///< 1 for the first session, counting up, for log lines
    size_t carried = 0;   ///< connections with a channel on it
    EventLoop::Clock::time_point open_assigned_at{};  ///< when it was last handed an open
  };

  void OnListenerReadable(size_t listener_index);
  void Accept(const Listener& listener, UniqueFd client, const sockaddr_storage& address);
  void PauseAccepting(int error);
  void ResumeAccepting();
  /// Queues a client for its channel, given up after the connect timeout.
  void Enqueue(std::unique_ptr<Connection> connection);
  void OnSocksEvent(uint64_t id, uint32_t events);
  /// The request is whole: the client becomes a connection waiting for its channel.
  void FinishSocks(uint64_t id);
  /// Ends a handshake: logs `why` (if not empty) and closes the client.
  void CloseSocks(uint64_t id, const std::string& why);
  /// A handshake not done by its deadline: refused and closed.
  void ExpireSocks(uint64_t id);
  /// Sends a dynamic connection's answer to its SOCKS request; false if the client is gone.
  bool ReplySocks(const Connection& connection, SocksOutcome outcome);
  /// The target of a connection, escaped for log lines (a SOCKS client names its own).
  std::string TargetText(const Connection& connection) const;
  void OnClientEvent(uint64_t id, uint32_t events);
  void OnSshEvent(SessionDriver* driver, uint32_t events);
  /// The before-wait hook: steps every driver and settles the sockets' interest.
  bool Step();
  SessionDriver::OpenRequest MakeOpenRequest(const Connection& connection) const;
  std::unique_ptr<SessionDriver> MakeDriver(SshSession* session,
                                            std::vector<RemoteListener*> remote_listeners = {});
  void OnOpened(SessionDriver* driver, uint64_t id, LIBSSH2_CHANNEL* channel,
                const std::string& error);
  void OnServed(Connection* connection, const std::string& failure);
  void OnReleased(Connection* connection);
  /// The server forwarded a connection to remote listener `index`: connects its local target.
  void OnForwarded(SessionDriver* driver, size_t index, LIBSSH2_CHANNEL* channel);
  void LogForwardedConnectFailure(uint64_t id, size_t forward_index,
                                  const std::string& reason) const;
  /// A forwarded connection's local connect failed: logged as such, and closed.
  void FailForwardedConnect(uint64_t id, const std::string& reason);
  void OnDriverLost(SessionDriver* driver, const std::string& why);
  void DropConnection(uint64_t id, const std::string& why);
  void Erase(uint64_t id);
  /// Hands queued opens to sessions whose open slot is free; true when any was handed.
  bool AssignOpens();
  static bool RouteIsFree(const Route& route);
  /// The session with a free open slot carrying the fewest connections, if any and unless
  /// it leaves the open to a lighter busy one (BalanceDeadline).
  Route* LeastLoadedFreeRoute();
  /// Until when `free_route` leaves queued opens to a busy session carrying fewer, if it does.
  std::optional<EventLoop::Clock::time_point> BalanceDeadline(const Route& free_route) const;
  /// Arms balance_timer_ for `deadline`, unless it already fires no later.
  void WakeAt(EventLoop::Clock::time_point deadline);
  void DropStaleQueuedOpens();
  /// The first session (in the order they came up) with a free open slot and no bulk
  /// download on it, if any.
  Route* FirstFreeRouteWithoutBulk();
  /// Whether a connection carried by `driver` has a window grown past the largest start.
  bool CarriesBulk(const SessionDriver* driver);
  /// Closes a client that waited longer than the connect timeout for its channel.
  void ExpireWaiting(uint64_t id);
  void HandleLosses();
  void NoticeQueuedOpens();
  void ReleaseMemoryIfIdle(bool had_connections);
  void UpdateClientInterest(Connection* connection);
  void UpdateSshInterest(SessionDriver* driver);
  Connection* Find(uint64_t id);
  Route* RouteOf(const SessionDriver* driver);
  Route* RouteOf(const SshSession* session);
  /// The local address of forward `forward_index` (its first listener), or the server's
  /// address of a remote forward, for log lines.
  std::string ForwardAddress(size_t forward_index) const;
  /// Connections of remote forward i have forward index forwards_.size() + i.
  bool IsRemote(size_t forward_index) const { return forward_index >= forwards_.size(); }

  EventLoop* loop_;
  std::vector<ForwardSpec> forwards_;
  std::vector<Listener> listeners_;
  std::vector<ForwardSpec> remote_forwards_;
  /// Where the server listens for each remote forward ("localhost:8080"), for log lines.
  std::vector<std::string> remote_addresses_;
  std::chrono::milliseconds connect_timeout_;
  /// drivers_[0] drives the first session; empty while detached.
  std::vector<Route> drivers_;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  /// Dynamic forwards' clients still in their SOCKS handshake, and when each is given up.
  std::map<uint64_t, std::unique_ptr<SocksClient>> socks_clients_;
  DeadlineQueue socks_deadlines_{loop_, [this](uint64_t id) { ExpireSocks(id); }};
  /// The requests of the dynamic forwards' connections.
  std::map<uint64_t, SocksRequest> socks_requests_;
  /// Forwarded connections whose local connect has not reported yet.
  std::set<uint64_t> connecting_;
  /// The driver each connection's channel (or open) is on.
  std::map<uint64_t, SessionDriver*> driver_of_;
  /// Connections closed whose channel is still being freed by their driver.
  size_t closing_count_ = 0;
  /// Clients waiting for a session to open their channel, oldest first.
  std::deque<uint64_t> open_queue_;
  /// Clients without a channel yet, given up at accept time plus the connect timeout.
  DeadlineQueue waiting_{loop_, [this](uint64_t id) { ExpireWaiting(id); }};
  /// Since when open_queue_ has not been empty, and the timer that asks for another session.
  std::optional<EventLoop::Clock::time_point> queued_since_;
  std::optional<EventLoop::TimerId> queue_timer_;
  /// Wakes the loop when an open held for a lighter session stops waiting for it.
  std::optional<EventLoop::TimerId> balance_timer_;
  EventLoop::Clock::time_point balance_deadline_{};
  /// Lost extra sessions, reported after the step (never from inside a driver's call).
  std::vector<std::pair<SshSession*, std::string>> extra_lost_;
  std::optional<Failure> first_lost_;
  bool first_lost_reported_ = false;
  bool detached_ = false;
  std::optional<EventLoop::HookId> hook_;
  /// Out of fds: accepting pauses, counted per episode.
  std::optional<EventLoop::TimerId> accept_pause_timer_;
  uint64_t accept_pauses_ = 0;
  bool check_accept_recovery_ = false;
  uint64_t next_id_ = 1;
  uint64_t next_session_number_ = 1;
  WindowBudget budget_;
  /// The window each open is to start with (within the fair share when it is granted).
  std::map<uint64_t, uint32_t> request_window_;
  bool budget_was_full_ = false;
  Traffic finished_traffic_;  ///< of connections already erased
  std::function<void(const Failure&)> on_session_lost_;
  std::function<void(SshSession*, const std::string&)> on_extra_lost_;
  std::function<void(size_t)> on_connection_count_;
  std::function<void()> on_opens_queued_;
};

}  // namespace tether
