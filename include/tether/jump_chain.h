#pragma once

#include <poll.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tether/channel_pump.h"
#include "tether/event_loop.h"
#include "tether/failure.h"
#include "tether/keepalive.h"
#include "tether/remote_listener.h"
#include "tether/session_waiter.h"
#include "tether/ssh_session.h"
#include "tether/stop_reason.h"
#include "tether/tunnel_plan.h"

namespace tether {

/// The SSH sessions of one run: the jump hosts of plan.jumps, first hop first, each carrying
/// the next SSH connection through a direct-tcpip channel (a ChannelPump between the channel
/// and a socketpair), and the destination session at the end. Without jump hosts it holds
/// only the destination session.
///
/// When the plan has remote forwards (-R), their listeners are requested on the destination
/// session as the last step of Connect, before anything else runs on it.
///
/// Each hop has its own host key check, authentication and keepalive. Errors name the hop:
/// "jump host bastion: ...". Exit codes: a hop's host key or login refused 77, unreachable
/// 69 (including a jump host that cannot open the channel to the next hop: refused,
/// prohibited or unknown name), lost or silent 74.
class JumpChain : private WaitBackground {
 public:
  /// Connects hop by hop and opens the destination session at the end. While a later hop
  /// is set up, the earlier ones keep pumping. `signal_fd` aborts (failure code kOk);
  /// `background` (may be nullptr) is served during every wait, and aborts when it breaks.
  static std::unique_ptr<JumpChain> Connect(const TunnelPlan& plan, int signal_fd,
                                            WaitBackground* background, Failure* failure,
                                            std::vector<std::string>* warnings);
  ~JumpChain() override;
  JumpChain(const JumpChain&) = delete;
  JumpChain& operator=(const JumpChain&) = delete;

  /// The session to the server the forwards go to.
  SshSession* destination() const { return destination_.get(); }
  size_t hop_count() const { return hops_.size(); }
  /// The destination's remote listeners, in the plan's order (they live as long as it does).
  std::vector<RemoteListener*> remote_listeners() const;

  /// Pumps the hops in `loop` and runs a keepalive on each; `stop` is called when a hop is
  /// lost or stops answering (the loop may deliver more than one).
  void Start(EventLoop* loop, std::function<void(StopReason)> stop);
  /// The destination's keepalive declared it dead. A dead jump host silences everything
  /// behind it, so the earlier hops are probed first: the first one that does not answer
  /// within a short grace is blamed instead. Ends with a call of `stop`.
  void ReportSilence(StopReason reason);
  /// Closes in reverse order once the destination has said goodbye: each hop first carries
  /// what the session behind it wrote, then disconnects itself; all within `budget`. Leaves
  /// the loop given to Start.
  void Shutdown(std::chrono::milliseconds budget);
  /// What must keep moving while the destination session waits during shutdown, before
  /// Shutdown (the hops' pumps): nullptr without jump hosts.
  WaitBackground* shutdown_background() { return pumps_.empty() ? nullptr : this; }

 private:
  explicit JumpChain(std::vector<JumpHop> hops) : plan_hops_(std::move(hops)) {}

  std::unique_ptr<SshSession> OpenHop(size_t index, const SessionConfig& config, int signal_fd,
                                      Failure* failure, std::vector<std::string>* warnings);
  bool OpenChannel(size_t via, const ConnectTarget& target, int signal_fd, UniqueFd* next_end,
                   Failure* failure);
  bool RequestRemoteListeners(const TunnelPlan& plan, int signal_fd, Failure* failure);
  Failure HopFailure(size_t index, const Failure& failure) const;
  void OnSilence(size_t index, StopReason reason);
  void FinishVerdict();

  // WaitBackground: the pumps made so far keep moving during setup and shutdown waits.
  void AddPollFds(std::vector<pollfd>* fds) const override;
  bool Service(std::span<const pollfd> ready, Failure* failure) override;
  std::chrono::milliseconds MaxWait() const override;
  /// Shutdown: pump `index` carries what the session behind it (its socket `behind_fd`)
  /// wrote, then waits for the far end to hang up; false when `deadline` came first.
  bool Drain(size_t index, int behind_fd, std::chrono::steady_clock::time_point deadline);

  void OnPumpEvent(size_t index, bool session_readable);
  void UpdateInterest(size_t index);
  void Detach();

  std::vector<JumpHop> plan_hops_;
  std::vector<std::unique_ptr<SshSession>> hops_;  ///< hops_[i] carries pumps_[i]
  std::vector<std::unique_ptr<ChannelPump>> pumps_;
  std::unique_ptr<SshSession> destination_;
  std::vector<std::unique_ptr<RemoteListener>> remote_listeners_;  ///< on destination_
  bool failure_named_ = false;       ///< the setup failure already names its hop
  WaitBackground* outer_ = nullptr;  ///< the caller's background, served during Connect

  EventLoop* loop_ = nullptr;  ///< set between Start and Shutdown
  std::function<void(StopReason)> stop_;
  std::vector<std::unique_ptr<Keepalive>> keepalives_;
  std::vector<int> watched_local_;  ///< local fd each pump is watched with, or -1

  /// A silence whose cause is being decided: which session fell silent, and the inbound
  /// byte counts of the hops before it when they were probed.
  struct Verdict {
    size_t index = 0;
    StopReason reason;
    std::vector<uint64_t> baselines;
    std::chrono::milliseconds grace{0};
  };
  std::optional<Verdict> verdict_;
  std::optional<EventLoop::TimerId> verdict_timer_;
};

}  // namespace tether
