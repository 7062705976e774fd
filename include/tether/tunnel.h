#pragma once

#include <libssh2.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tether/connection.h"
#include "tether/event_loop.h"
#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/listener.h"
#include "tether/ssh_session.h"

namespace tether {

/// Serves the forwards over one authenticated session: accepts clients on the listeners,
/// opens a channel for each (one open in flight at a time, as libssh2 requires), and pumps
/// bytes both ways. Obeys libssh2's one-partly-sent-packet rule: after a send could not
/// finish, no other libssh2 call is made until that same call has been repeated to the end.
class Tunnel {
 public:
  Tunnel(EventLoop* loop, SshSession* session, std::vector<ForwardSpec> forwards,
         std::vector<Listener> listeners);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  /// Starts watching the listeners and the SSH socket.
  void Start();
  /// The session is gone and another will follow (--reconnect): its connections are closed
  /// (their channels go with the session), the listeners stay. Clients that have no channel
  /// yet, and clients accepted from now on, wait for Attach, each at most `hold_limit`, then
  /// are closed. Call before the session is destroyed.
  void Detach(std::chrono::milliseconds hold_limit);
  /// Serves the forwards over `session` after Detach, the waiting clients first.
  void Attach(SshSession* session);
  /// Called once if the session breaks (server closed, protocol error).
  void set_on_session_lost(std::function<void(const Failure&)> callback) {
    on_session_lost_ = std::move(callback);
  }
  /// Called whenever the number of open client connections changes.
  void set_on_connection_count(std::function<void(size_t)> callback) {
    on_connection_count_ = std::move(callback);
  }
  /// Asks the server for a reply (a channel open it always refuses), unless a send or an
  /// open is already under way, which will bring a reply anyway.
  void SendKeepalive();
  /// Stops accepting and closes every listener at once (ports are free after this returns).
  void CloseListeners();
  /// Closes clients and channels, spending at most `budget` on polite channel closes.
  void CloseConnections(std::chrono::milliseconds budget);

  /// Open client connections (not counting channels still being closed).
  size_t connection_count() const;
  /// Bytes moved so far, over every connection this tunnel ever had.
  struct Traffic {
    uint64_t to_server = 0;    ///< written into channels
    uint64_t from_server = 0;  ///< written to local clients
  };
  Traffic traffic() const;
  const std::vector<Listener>& listeners() const { return listeners_; }

 private:
  struct PendingSend {
    uint64_t connection_id = 0;
    ChannelOp op = ChannelOp::kWrite;
  };

  void OnListenerReadable(size_t listener_index);
  void OnClientEvent(uint64_t id, uint32_t events);
  void OnSshEvent(uint32_t events);
  void Pump();
  void ServiceAll();
  void FinishPump();
  /// Runs Pump on the next loop turn (once, however often asked).
  void SchedulePump();
  bool FinishPendingSend();
  void ContinueOpen();
  void BeginOpen();
  void ProbeTransport();
  void FinishOpen(LIBSSH2_CHANNEL* channel, int rc);
  void FreeClosedChannels();
  void SweepConnections();
  bool ServiceConnection(Connection* connection);
  /// False when reading `connection`'s channel now cannot yield data or EOF.
  bool MayHaveChannelInput(Connection* connection);
  bool Handle(Connection* connection, ChannelOp op, ChannelResult result);
  void DropConnection(uint64_t id, const std::string& why);
  void SessionLost(std::string why);
  /// Starts the wait of a client accepted while detached.
  void Hold(uint64_t id);
  void ArmHoldTimer();
  /// Closes the waiting clients whose time is up.
  void ExpireHeld();
  void UpdateClientInterest(Connection* connection);
  void UpdateSshInterest();
  Connection* Find(uint64_t id);
  /// The local address of forward `forward_index` (its first listener), for log lines.
  std::string ForwardAddress(size_t forward_index) const;

  EventLoop* loop_;
  SshSession* session_;  ///< nullptr while detached
  std::vector<ForwardSpec> forwards_;
  std::vector<Listener> listeners_;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  /// Connections marked closing (client gone), in connections_ until their channel is freed.
  std::vector<uint64_t> closing_ids_;
  std::deque<uint64_t> open_queue_;       ///< connections waiting for a channel
  std::optional<uint64_t> opening_;       ///< the connection whose open is in flight
  bool probing_ = false;                  ///< a transport probe open is in flight
  std::string open_type_;                 ///< channel type of the open in flight
  std::string open_message_;              ///< must stay unchanged while an open repeats
  unsigned int open_window_ = 0;          ///< likewise: the window that open asks for
  std::optional<PendingSend> pending_;
  bool ssh_readable_ = false;
  bool transport_read_ = false;  ///< some libssh2 call read the socket in this pump
  bool socket_drained_ = false;  ///< a channel read in this ServiceAll pass read the socket
  bool session_lost_ = false;
  bool unsettled_ = false;  ///< a pass limit was hit: queued data may wait unserviced
  std::optional<EventLoop::TimerId> pump_timer_;
  /// While detached: the clients waiting for a session, with the time each is closed at.
  std::deque<std::pair<EventLoop::Clock::time_point, uint64_t>> held_;
  std::chrono::milliseconds hold_limit_{0};
  std::optional<EventLoop::TimerId> hold_timer_;
  uint64_t next_id_ = 1;
  Traffic finished_traffic_;  ///< of connections already erased
  std::function<void(const Failure&)> on_session_lost_;
  std::function<void(size_t)> on_connection_count_;
};

}  // namespace tether
