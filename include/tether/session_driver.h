#pragma once

#include <libssh2.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tether/connection.h"
#include "tether/remote_listener.h"
#include "tether/ssh_session.h"

namespace tether {

class WaitBackground;

/// The data path of one SSH session: the only code that makes libssh2 calls on it once it
/// is up. Shared by the tunnel (many client connections, each on its own channel) and a jump
/// host's pump (one channel carrying the next SSH connection).
///
/// libssh2 1.10 allows one partly sent packet per session and one channel open in flight, and
/// reading any channel pulls in packets for every other one. So event handlers only record
/// what happened (NoteReadable, MarkActive, Open, Close) and Step, run before each wait of the
/// loop, does the work: it repeats the pending send first, then advances the open, serves the
/// channels that may have data and frees closed ones, until nothing moves. Callbacks report
/// the outcome; they may call any method of the driver but never Step.
class SessionDriver {
 public:
  using Clock = std::chrono::steady_clock;

  struct OpenRequest {
    uint64_t id = 0;          ///< the caller's, handed back with the result
    std::string type;         ///< "direct-tcpip", "direct-streamlocal@openssh.com"
    std::string message;      ///< the type's own data (RFC 4254 7.2 for direct-tcpip)
    unsigned int window = 0;  ///< initial receive window
  };

  struct Callbacks {
    /// An open finished: `channel` (now the caller's) or nullptr and the server's `error`.
    std::function<void(uint64_t id, LIBSSH2_CHANNEL* channel, const std::string& error)> opened;
    /// A served connection moved bytes or changed state. `failure` is non-empty when it must
    /// be closed (its channel broke, its client went away).
    std::function<void(Connection* connection, const std::string& failure)> served;
    /// The channel of a connection handed to Close is freed: it may be destroyed now.
    std::function<void(Connection* connection)> released;
    /// The server forwarded a connection to remote listener `index` (-R): `channel`, already
    /// confirmed by libssh2, is now the caller's, to Serve or to Discard.
    std::function<void(size_t index, LIBSSH2_CHANNEL* channel)> accepted;
    /// The session broke; called once, after which the driver makes no libssh2 call.
    std::function<void(const std::string& why)> lost;
  };

  explicit SessionDriver(SshSession* session) : session_(session) {}
  SessionDriver(const SessionDriver&) = delete;
  SessionDriver& operator=(const SessionDriver&) = delete;

  /// Set before the first Step.
  void set_callbacks(Callbacks callbacks) { callbacks_ = std::move(callbacks); }

  SshSession* session() const { return session_; }

  /// Serves `connection`, whose channel is open on this session, until Close or Forget.
  void Serve(Connection* connection);
  /// Its client is gone: frees the channel (politely), then calls `released`.
  void Close(Connection* connection);
  /// Drops every reference to `connection` at once (its channel goes with the session).
  void Forget(Connection* connection);
  /// The client side of `connection` moved (bytes read, room made): visit it at the next step.
  void MarkActive(Connection* connection);
  /// Every channel may have data that waited (the buffer budget has room again).
  void MarkAllActive();

  /// The remote listeners (-R) of this session, requested during its setup (not owned; they
  /// live as long as the session). Each step takes the connections the server forwarded to
  /// them: libssh2 queues those inside any read of the session, announcing nothing.
  void set_remote_listeners(std::vector<RemoteListener*> listeners) {
    remote_listeners_ = std::move(listeners);
  }
  /// Asks the server to stop listening on each remote listener and waits, within `budget`,
  /// until it has acted on that: call once the loop is done with the session, before its
  /// Disconnect. `background` (nullptr = none) is served while it waits: the jump hosts that
  /// carry the session, whose pumps alone take the cancels to the server and bring its answer
  /// back. Skipped when a send is pending (libssh2 1.10 would drop a cancel behind it): the
  /// server then frees the ports as the session closes.
  void CancelRemoteListeners(std::chrono::milliseconds budget, WaitBackground* background);
  /// Frees (politely) a channel nobody will serve, e.g. a forwarded connection whose local
  /// target could not be reached.
  void Discard(LIBSSH2_CHANNEL* channel) { orphans_.push_back(channel); }

  /// Queues a channel open; one is in flight at a time.
  void Open(OpenRequest request);
  /// Gives up on an open: a queued one is dropped, an answer still to come is freed unused.
  void CancelOpen(uint64_t id);
  /// Opens queued or in flight.
  size_t opens_waiting() const { return open_queue_.size() + (opening_ ? 1 : 0); }
  /// How long the last open took from send to answer: a round trip, and the target's connect.
  Clock::duration last_open_time() const { return last_open_time_; }
  /// When the open in flight was sent, if there is one.
  std::optional<Clock::time_point> open_started() const;
  /// The session is gone: the ids of the opens that never got an answer (the one in flight
  /// first), for another session to carry.
  std::vector<uint64_t> TakeWaitingOpens();

  /// Asks the server for a reply, by a channel open it refuses when the open slot is free,
  /// else by a global keepalive request (which needs no slot).
  void Probe();
  /// The session's socket was reported readable (or hung up).
  void NoteReadable() { readable_ = true; }

  /// Does the recorded work until nothing moves. True when work is left that no socket
  /// event will announce (bounded passes under a steady flow): call again soon.
  bool Step();
  /// epoll events wanted on the session's socket.
  uint32_t SocketEvents() const;
  bool lost() const { return lost_; }
  /// Connections being served (not counting channels being closed).
  size_t served_count() const { return served_.size(); }

 private:
  struct Pending {
    uint64_t id = 0;  ///< the connection's, or for kAccept the remote listener's index
    ChannelOp op = ChannelOp::kWrite;
    LIBSSH2_CHANNEL* orphan = nullptr;  ///< kFree of a channel nobody owns any more
  };

  bool RetryPending();
  void AdvanceOpens();
  bool BeginOpen();
  void FinishOpen(LIBSSH2_CHANNEL* channel, int rc);
  void ServeChannels();
  void AcceptForwarded();
  /// Takes every connection queued on remote listener `index`.
  void AcceptOn(size_t index);
  bool ServeAll();
  bool ServeOne(Connection* connection);
  bool MayHaveChannelInput(Connection* connection);
  /// Grants `connection`'s starting window, or sizes it after a read; false as Handle.
  bool TuneWindow(Connection* connection);
  void FreeClosed();
  void FreeOrphans();
  void SendGlobalKeepalive();
  /// False when no further libssh2 call may be made now (a send is pending, or the session
  /// broke).
  bool Handle(Connection* connection, ChannelOp op, ChannelResult result);
  void Lose(std::string why);
  bool Blocked() const { return pending_.has_value() || lost_; }
  Connection* Find(uint64_t id) const;
  uint64_t Progress() const;

  SshSession* session_;
  Callbacks callbacks_;
  std::map<uint64_t, Connection*> served_;
  uint64_t served_changes_ = 0;  ///< connections added to or taken from served_
  std::vector<std::pair<uint64_t, Connection*>> pass_order_;  ///< served_ as of pass_order_changes_
  uint64_t pass_order_changes_ = ~uint64_t{0};
  std::map<uint64_t, Connection*> closing_;  ///< channels to free
  std::unordered_set<uint64_t> active_;      ///< client side moved since the last step
  std::vector<LIBSSH2_CHANNEL*> orphans_;    ///< opened for a cancelled request, discarded: to free
  std::vector<RemoteListener*> remote_listeners_;
  std::deque<OpenRequest> open_queue_;
  std::optional<OpenRequest> opening_;  ///< fixed while the open repeats
  bool opening_cancelled_ = false;
  Clock::time_point open_started_{};
  Clock::duration last_open_time_{};
  bool probing_ = false;  ///< a probe open is due or in flight
  bool global_keepalive_due_ = false;
  std::optional<Pending> pending_;
  bool readable_ = false;
  bool transport_read_ =
      false;  ///< a libssh2 call that may read the socket was made this step (else Step probes)
  /// A channel read of this pass has been let through to drain the socket (set as it is let
  /// through, even if it then stops short): after it, a channel with nothing queued is not read.
  bool socket_drained_ = false;
  bool draining_read_ = false;  ///< ... and that read is under way
  /// Socket bytes counted when the pass's draining read ended. The channels the pass looked
  /// at before it could not take data or drained the socket themselves (a write reads it
  /// first), so only bytes that arrive after it can be for a channel already passed over:
  /// only then does another pass follow.
  uint64_t inbound_after_drain_ = 0;
  bool unsettled_ = false;
  uint64_t inbound_seen_ = 0;     ///< socket bytes counted at the end of the last full pass
  uint64_t next_pass_start_ = 0;  ///< where the next full pass starts: fair under load
  uint64_t moved_ = 0;            ///< bytes moved by this driver, for progress checks
  bool lost_ = false;
};

}  // namespace tether
