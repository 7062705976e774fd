#include "tether/runner.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "tether/command_runner.h"
#include "tether/control_socket.h"
#include "tether/display_format.h"
#include "tether/event_loop.h"
#include "tether/jump_chain.h"
#include "tether/keepalive.h"
#include "tether/lifetime.h"
#include "tether/listener.h"
#include "tether/logging.h"
#include "tether/loop_background.h"
#include "tether/prompt.h"
#include "tether/reconnect_backoff.h"
#include "tether/registry.h"
#include "tether/session_connector.h"
#include "tether/status_line.h"
#include "tether/stop_reason.h"
#include "tether/tunnel.h"

namespace tether {
namespace {

constexpr std::chrono::milliseconds kDisconnectBudget{1000};
// A lost session's goodbye: its server is most likely gone, and the loop waits meanwhile.
constexpr std::chrono::milliseconds kLostDisconnectBudget{300};
constexpr std::chrono::milliseconds kCommandGrace{5000};
// The session pool: an extra session with no connection for this long is closed; after the
// server refused one, no other is tried for a while.
constexpr std::chrono::seconds kPoolIdleLimit{30};
constexpr std::chrono::seconds kPoolCheckInterval{5};
constexpr std::chrono::seconds kPoolRefusalPause{30};
/// Extra sessions set up at once: enough that a burst over a long link waits for about one
/// setup, not one after another; well under sshd's MaxStartups (10 unauthenticated
/// connections by default, past which it drops new ones at random).
constexpr size_t kParallelSetups = 4;

// The plan of an extra session: the same server, hops and keys, but nobody is ever asked;
// the remote forwards are the first session's alone.
TunnelPlan PoolPlan(const TunnelPlan& plan) {
  TunnelPlan pool = plan;
  pool.remote_forwards.clear();
  pool.session.auth.prompts.batch_mode = true;
  for (JumpHop& hop : pool.jumps) hop.session.auth.prompts.batch_mode = true;
  return pool;
}

std::string SignalName(int signal_number) {
  if (signal_number == ParentDeathSignal()) return "parent death";
  const char* abbrev = sigabbrev_np(signal_number);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(signal_number);
}

// True when a stop signal waits in the signalfd (it is left there).
bool StopSignalPending(const SignalSet& signals) {
  pollfd fd{signals.fd(), POLLIN, 0};
  return poll(&fd, 1, 0) == 1 && (fd.revents & POLLIN) != 0;
}

bool BindAll(const TunnelPlan& plan, std::vector<Listener>* listeners, Failure* failure) {
  for (size_t i = 0; i < plan.forwards.size(); ++i) {
    if (!BindForward(plan.forwards[i], i, plan.gateway_ports, listeners, failure)) return false;
  }
  return true;
}

// CLOCK_BOOTTIME, as the TTL timer uses: time spent suspended counts.
std::chrono::seconds BootTimeNow() {
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  return std::chrono::seconds(now.tv_sec);
}

// The local address of each forward (its first listener), in forward order.
std::vector<const Listener*> FirstListeners(const TunnelPlan& plan,
                                            const std::vector<Listener>& listeners) {
  std::vector<const Listener*> first(plan.forwards.size(), nullptr);
  for (const Listener& listener : listeners) {
    if (first[listener.forward_index] == nullptr) first[listener.forward_index] = &listener;
  }
  return first;
}

// What `tether list` and the status line show of each forward (remote ones last).
std::vector<RegistryForward> ListedForwards(const TunnelPlan& plan,
                                            const std::vector<Listener>& listeners,
                                            const std::vector<RemoteListener*>& remote) {
  std::vector<RegistryForward> forwards;
  std::vector<const Listener*> first = FirstListeners(plan, listeners);
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i] == nullptr) continue;
    forwards.push_back({first[i]->address, FormatTarget(plan.forwards[i]), first[i]->port,
                        plan.forwards[i].dynamic ? ForwardKind::kDynamic : ForwardKind::kLocal});
  }
  for (size_t i = 0; i < remote.size() && i < plan.remote_forwards.size(); ++i) {
    forwards.push_back({RemoteListenAddress(*remote[i]),
                        FormatEndpoint(plan.remote_forwards[i].target), remote[i]->bound_port(),
                        ForwardKind::kRemote});
  }
  return forwards;
}

std::map<std::string, std::string> PortEnvironment(const TunnelPlan& plan,
                                                   const std::vector<Listener>& listeners,
                                                   const std::vector<RemoteListener*>& remote) {
  std::string all;
  std::string first_port;
  for (const Listener* listener : FirstListeners(plan, listeners)) {
    std::string port = listener->port != 0 ? std::to_string(listener->port) : listener->address;
    if (first_port.empty()) first_port = port;
    all += (all.empty() ? "" : " ") + port;
  }
  std::string remote_ports;
  for (const RemoteListener* listener : remote) {
    remote_ports += (remote_ports.empty() ? "" : " ") + std::to_string(listener->bound_port());
  }
  return {
      {"TETHER_PORT", first_port}, {"TETHER_PORTS", all}, {"TETHER_REMOTE_PORTS", remote_ports}};
}

// -f: tells the waiting foreground process that the tunnel is up (and which addresses
// were chosen for port 0, here or on the server), then lets go of the terminal.
void ReportReadyAndDetach(const TunnelPlan& plan, const std::vector<Listener>& listeners,
                          const std::vector<RemoteListener*>& remote, UniqueFd ready_pipe) {
  std::string message = "ready\n";
  std::vector<const Listener*> first = FirstListeners(plan, listeners);
  for (size_t i = 0; i < first.size(); ++i) {
    if (!plan.forwards[i].listen.IsUnix() && plan.forwards[i].listen.port == 0) {
      message += first[i]->address + "\n";
    }
  }
  for (const RemoteListener* listener : remote) {
    if (listener->requested_port() == 0)
      message += "remote " + RemoteListenAddress(*listener) + "\n";
  }
  (void)!write(ready_pipe.get(), message.data(), message.size());
  ready_pipe.Reset();
  UniqueFd null(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (plan.options.log_file.empty()) LogToSyslog(plan.options.log_format);
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) dup2(null.get(), fd);
}

// One run after the session is up: the loop and everything that can end it.
class ActiveRun {
 public:
  ActiveRun(const TunnelPlan& plan, SignalSet* signals, EventLoop* loop,
            std::unique_ptr<JumpChain> chain, std::vector<Listener> listeners,
            StatusLine* status_line)
      : plan_(plan),
        signals_(signals),
        loop_(loop),
        chain_(std::move(chain)),
        session_(chain_->destination()),
        tunnel_(loop, session_, plan.forwards, std::move(listeners), plan.session.target.timeout,
                plan.remote_forwards, chain_->remote_listeners()),
        lifetime_(loop, [this](StopReason reason) { RequestStop(std::move(reason)); }),
        command_(loop, [this](StopReason reason) { OnCommandExit(std::move(reason)); }),
        status_line_(status_line),
        pool_plan_(PoolPlan(plan)) {}

  int Run(RunContext context);

 private:
  bool StartLimits(RunContext* context);
  bool StartCommand();
  void StartSession();
  /// The "forwarding" lines of the remote forwards, with the ports the server listens on.
  void LogRemoteForwards();
  void RunLoop();
  bool Finished() const { return stop_reason_ && !command_.running(); }
  void Register(pid_t tied_to);
  RegistryEntry MakeRegistryEntry(pid_t tied_to) const;
  TunnelStatus Status() const;
  StatusFigures Figures() const;
  /// The current session's remote listeners; none while reconnecting.
  std::vector<RemoteListener*> RemoteListeners() const {
    return chain_ ? chain_->remote_listeners() : std::vector<RemoteListener*>{};
  }
  void OnSignal();
  void OnSessionLost(StopReason reason);
  void BeginReconnecting();
  /// Logs `event` (why, and when the next attempt comes) and sets the timer for it.
  void ScheduleAttempt(std::string_view event, const std::string& why);
  void AttemptReconnect();
  void RequestStop(StopReason reason);
  void OnCommandExit(StopReason reason);
  void Shutdown();

  // The session pool (--sessions).
  struct ExtraSession {
    std::unique_ptr<JumpChain> chain;
    std::unique_ptr<Keepalive> keepalive;
    EventLoop::Clock::time_point idle_since;
  };
  void EnablePool();
  void OnOpensQueued();
  /// Starts setups (on the connector's threads) until the sessions up and coming meet the
  /// demand, kParallelSetups at a time.
  void StartPoolSetups();
  /// Takes the sessions the connector finished into the pool, from the top of the run loop.
  void AdoptArrivals();
  void AdoptExtra(std::unique_ptr<JumpChain> chain);
  void OnPoolRefused(const Failure& failure);
  void OnExtraLost(SshSession* session);
  void CheckPool();
  void ArmPoolTimer();
  /// Closes the extra sessions marked for it (lost or idle), from the top of the run loop.
  void CloseMarkedExtras();
  void CloseExtra(size_t index, const std::string& goodbye, std::chrono::milliseconds budget);
  void CloseAllExtras(const std::string& goodbye, std::chrono::milliseconds budget);

  const TunnelPlan& plan_;
  SignalSet* signals_;
  EventLoop* loop_;
  /// The jump hosts (if any) and the session at their end; nullptr while reconnecting.
  std::unique_ptr<JumpChain> chain_;
  SshSession* session_;  ///< chain_'s destination
  Tunnel tunnel_;
  Lifetime lifetime_;
  std::unique_ptr<Keepalive> keepalive_;  ///< of session_
  CommandRunner command_;
  std::optional<StopReason> stop_reason_;
  StatusLine* status_line_;  ///< nullptr when stderr is not a terminal (or -q, -f, COMMAND)
  std::chrono::seconds started_ = BootTimeNow();
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<Registration> registration_;
  pid_t tied_to_ = 0;

  // --reconnect. A loss is reported from deep inside the tunnel's or the chain's own calls,
  // so the session is replaced only once the loop has returned (RunLoop), never in a callback.
  std::optional<StopReason> lost_;  ///< set from the loss until the session is back
  bool loss_pending_ = false;       ///< lost_ is not handled yet
  bool attempt_due_ = false;
  ReconnectBackoff backoff_;
  std::optional<EventLoop::TimerId> attempt_timer_;

  const TunnelPlan pool_plan_;
  bool pool_enabled_ = false;
  size_t pool_wanted_ = 1;  ///< sessions the opens waiting since the pool last settled asked for
  EventLoop::Clock::time_point pool_pause_until_{};
  std::vector<ExtraSession> extras_;
  std::vector<SshSession*> extras_to_close_;
  std::optional<EventLoop::TimerId> pool_timer_;
  std::vector<SessionConnector::Outcome> pool_arrivals_;  ///< finished setups, not yet taken
  /// Last: its destructor ends the setups still running before anything they use goes.
  std::unique_ptr<SessionConnector> connector_;
};

int ActiveRun::Run(RunContext context) {
  loop_->Watch(signals_->fd(), EPOLLIN, [this](uint32_t) { OnSignal(); });
  tunnel_.set_on_session_lost(
      [this](const Failure& lost) { OnSessionLost(StopReason::FromFailure(lost)); });
  tunnel_.set_on_connection_count(
      [this](size_t count) { lifetime_.ConnectionCountChanged(count); });
  EnablePool();
  // Before the "forwarding" lines, the command and -f's readiness: whoever sees the tunnel
  // ready finds it in `tether list`.
  tied_to_ = context.follow_pid != 0 ? context.follow_pid : getppid();
  Register(tied_to_);
  for (const Listener& listener : tunnel_.listeners()) {
    LogEvent(spdlog::level::info, "forward_listening",
             "forwarding {forward} -> {target} via {server}",
             {{"forward", listener.address},
              {"target", FormatTarget(plan_.forwards[listener.forward_index])},
              {"server", session_->host_label()}});
  }
  LogRemoteForwards();
  StartSession();
  tunnel_.Start();
  if (status_line_ != nullptr) status_line_->Start(loop_, [this] { return Figures(); });
  if (!StartLimits(&context) || !StartCommand()) {
    Shutdown();
    return LogStopReason(*stop_reason_);
  }
  if (context.ready_pipe) {
    ReportReadyAndDetach(plan_, tunnel_.listeners(), chain_->remote_listeners(),
                         std::move(context.ready_pipe));
  }
  RunLoop();
  Shutdown();
  return LogStopReason(*stop_reason_);
}

void ActiveRun::StartSession() {
  chain_->Start(loop_, [this](StopReason reason) { OnSessionLost(std::move(reason)); });
  keepalive_ = std::make_unique<Keepalive>(
      loop_, session_, plan_.options.keepalive_interval, plan_.options.keepalive_count,
      [this] { tunnel_.SendKeepalive(session_); },
      [this](StopReason reason) { chain_->ReportSilence(std::move(reason)); });
  keepalive_->Start();
}

void ActiveRun::LogRemoteForwards() {
  const std::vector<RemoteListener*> listeners = chain_->remote_listeners();
  for (size_t i = 0; i < listeners.size(); ++i) {
    LogEvent(spdlog::level::info, "remote_forward_listening",
             "forwarding remote {forward} on {server} -> {target}",
             {{"forward", RemoteListenAddress(*listeners[i])},
              {"target", FormatEndpoint(plan_.remote_forwards[i].target)},
              {"server", session_->host_label()}});
  }
}

void ActiveRun::RunLoop() {
  while (!Finished()) {
    loop_->Run();
    loop_->Resume();
    if (Finished()) break;
    if (std::exchange(loss_pending_, false)) BeginReconnecting();
    if (std::exchange(attempt_due_, false)) AttemptReconnect();
    CloseMarkedExtras();
    AdoptArrivals();
  }
}

void ActiveRun::EnablePool() {
  if (plan_.options.max_sessions <= 1) return;
  if (QuestionsAsked() > 0) {
    // An extra session must log in without asking anyone again.
    spdlog::debug("one SSH session only: the login needed an answer from you");
    return;
  }
  pool_enabled_ = true;
  connector_ = std::make_unique<SessionConnector>(loop_, pool_plan_,
                                                  [this](SessionConnector::Outcome outcome) {
                                                    pool_arrivals_.push_back(std::move(outcome));
                                                    loop_->Stop();
                                                  });
  tunnel_.set_on_opens_queued([this] { OnOpensQueued(); });
  tunnel_.set_on_extra_session_lost(
      [this](SshSession* session, const std::string&) { OnExtraLost(session); });
}

// Called from the loop's step while client connections wait for a channel behind the opens
// in flight: extra sessions will carry some of them, set up on the connector's threads.
void ActiveRun::OnOpensQueued() {
  // The sessions this burst asks for: one more for every two opens waiting, so that a burst
  // that ends before the pool has grown still leaves it ready for the next one.
  const size_t bound = static_cast<size_t>(plan_.options.max_sessions);
  pool_wanted_ = std::min(
      bound, std::max(pool_wanted_, 1 + extras_.size() + (tunnel_.opens_queued() + 1) / 2));
  StartPoolSetups();
}

// Connects exactly as the first session did (host keys checked, the same keys, nobody asked)
// while the loop keeps serving every connection.
void ActiveRun::StartPoolSetups() {
  if (!connector_ || stop_reason_ || lost_) return;
  if (EventLoop::Clock::now() < pool_pause_until_) return;
  while (1 + extras_.size() + connector_->in_flight() < pool_wanted_ &&
         connector_->in_flight() < kParallelSetups) {
    if (!connector_->Start()) break;
    LogEvent(spdlog::level::debug, "pool_setup",
             "setting up another session to {server} ({setups} under way)",
             {{"server", plan_.session.auth.host_label},
              {"setups", static_cast<uint64_t>(connector_->in_flight())}});
  }
}

void ActiveRun::AdoptArrivals() {
  if (pool_arrivals_.empty()) return;
  for (SessionConnector::Outcome& outcome : std::exchange(pool_arrivals_, {})) {
    // Stopping or reconnecting: a session that came up meanwhile is closed unused.
    if (stop_reason_ || lost_ || loss_pending_) continue;
    if (outcome.chain) {
      AdoptExtra(std::move(outcome.chain));
    } else if (outcome.failure.code != ExitCode::kOk) {
      OnPoolRefused(outcome.failure);
    }
  }
  // More of the demand seen meanwhile, if the parallel limit held it back; once nothing is
  // under way the pool has settled at what it got.
  StartPoolSetups();
  if (connector_->in_flight() == 0) pool_wanted_ = 1 + extras_.size();
}

void ActiveRun::OnPoolRefused(const Failure& failure) {
  const EventLoop::Clock::time_point now = EventLoop::Clock::now();
  // Setups refused together say it once.
  if (now >= pool_pause_until_) {
    LogEventText(spdlog::level::warn, "pool_refused",
                 "could not open another session to " + plan_.session.auth.host_label + ": " +
                     failure.message + "; carrying on with " + std::to_string(1 + extras_.size()),
                 {{"server", plan_.session.auth.host_label},
                  {"sessions", static_cast<uint64_t>(1 + extras_.size())}});
  }
  pool_pause_until_ = now + kPoolRefusalPause;
  pool_wanted_ = 1 + extras_.size() + connector_->in_flight();
}

void ActiveRun::AdoptExtra(std::unique_ptr<JumpChain> chain) {
  // Owned by the pool first: the callbacks below hold its session for as long as it is there.
  extras_.push_back({std::move(chain), nullptr, EventLoop::Clock::now()});
  ExtraSession& extra = extras_.back();
  SshSession* session = extra.chain->destination();
  extra.chain->Start(loop_, [this, session](StopReason) { OnExtraLost(session); });
  extra.keepalive = std::make_unique<Keepalive>(
      loop_, session, plan_.options.keepalive_interval, plan_.options.keepalive_count,
      [this, session] { tunnel_.SendKeepalive(session); },
      [this, session](StopReason) { OnExtraLost(session); });
  extra.keepalive->Start();
  tunnel_.AddSession(session);
  LogEvent(spdlog::level::debug, "pool_grown", "session {sessions} to {server} is up",
           {{"server", plan_.session.auth.host_label},
            {"sessions", static_cast<uint64_t>(1 + extras_.size())}});
  ArmPoolTimer();
}

void ActiveRun::OnExtraLost(SshSession* session) {
  extras_to_close_.push_back(session);
  loop_->Stop();
}

void ActiveRun::ArmPoolTimer() {
  if (pool_timer_ || extras_.empty()) return;
  pool_timer_ = loop_->AddTimer(EventLoop::Clock::now() + kPoolCheckInterval, [this] {
    pool_timer_.reset();
    CheckPool();
  });
}

// Shrinks the pool: an extra session that carried nothing for kPoolIdleLimit is closed.
void ActiveRun::CheckPool() {
  const EventLoop::Clock::time_point now = EventLoop::Clock::now();
  for (ExtraSession& extra : extras_) {
    SshSession* session = extra.chain->destination();
    if (tunnel_.connections_on(session) != 0) {
      extra.idle_since = now;
    } else if (now - extra.idle_since >= kPoolIdleLimit) {
      extras_to_close_.push_back(session);
    }
  }
  if (!extras_to_close_.empty()) loop_->Stop();
  ArmPoolTimer();
}

void ActiveRun::CloseMarkedExtras() {
  for (SshSession* session : std::exchange(extras_to_close_, {})) {
    for (size_t i = 0; i < extras_.size(); ++i) {
      if (extras_[i].chain->destination() != session) continue;
      const bool idle = tunnel_.connections_on(session) == 0;
      CloseExtra(i, idle ? "tether: idle" : "tether: session lost", kLostDisconnectBudget);
      break;
    }
  }
}

void ActiveRun::CloseExtra(size_t index, const std::string& goodbye,
                           std::chrono::milliseconds budget) {
  ExtraSession extra = std::move(extras_[index]);
  extras_.erase(extras_.begin() + static_cast<std::ptrdiff_t>(index));
  // Demand from before is met or gone: the next burst asks afresh.
  pool_wanted_ =
      std::min(pool_wanted_, 1 + extras_.size() + (connector_ ? connector_->in_flight() : 0));
  SshSession* session = extra.chain->destination();
  tunnel_.RemoveSession(session);
  extra.keepalive.reset();
  session->Disconnect(goodbye, budget);
  extra.chain->Shutdown(budget);
  LogEvent(spdlog::level::debug, "pool_shrunk", "a session to {server} closed, {sessions} left",
           {{"server", plan_.session.auth.host_label},
            {"sessions", static_cast<uint64_t>(1 + extras_.size())}});
}

void ActiveRun::CloseAllExtras(const std::string& goodbye, std::chrono::milliseconds budget) {
  extras_to_close_.clear();
  if (pool_timer_) loop_->CancelTimer(*pool_timer_);
  pool_timer_.reset();
  while (!extras_.empty()) CloseExtra(extras_.size() - 1, goodbye, budget);
}

// Every way the session can end (the tunnel's read, the chain's hops, keepalive silence)
// comes here, possibly more than once for one loss.
void ActiveRun::OnSessionLost(StopReason reason) {
  if (stop_reason_ || lost_) return;
  if (!plan_.options.reconnect || reason.exit_code != ToInt(ExitCode::kConnectionLost)) {
    RequestStop(std::move(reason));
    return;
  }
  lost_ = std::move(reason);
  loss_pending_ = true;
  loop_->Stop();
}

void ActiveRun::BeginReconnecting() {
  if (stop_reason_) return;  // ending anyway (a command is being stopped)
  // Clients wait for the next session as long as a connect may take.
  tunnel_.Detach();
  if (connector_) connector_->CancelAll();
  pool_arrivals_.clear();
  CloseAllExtras("tether reconnecting", kLostDisconnectBudget);
  keepalive_.reset();
  session_->Disconnect("tether reconnecting", kLostDisconnectBudget);
  chain_->Shutdown(kLostDisconnectBudget);
  chain_.reset();
  session_ = nullptr;
  backoff_.Reset();
  ScheduleAttempt("connection_lost", lost_->message + "; reconnecting");
}

void ActiveRun::ScheduleAttempt(std::string_view event, const std::string& why) {
  const std::chrono::milliseconds wait = backoff_.Next();
  char seconds[32];
  snprintf(seconds, sizeof(seconds), "%.1fs", static_cast<double>(wait.count()) / 1000);
  LogEventText(spdlog::level::warn, event, why + ", next attempt in " + seconds,
               {{"server", plan_.session.auth.host_label},
                {"wait_ms", static_cast<uint64_t>(wait.count())},
                {"attempt", backoff_.attempts()}});
  attempt_timer_ = loop_->AddTimer(EventLoop::Clock::now() + wait, [this] {
    attempt_timer_.reset();
    attempt_due_ = true;
    loop_->Stop();
  });
}

// Connects exactly as at the start (every host key checked again), while the loop keeps
// serving: listeners, waiting clients, `tether list`/`stop`, signals, the TTL.
void ActiveRun::AttemptReconnect() {
  if (stop_reason_) return;
  LogEvent(spdlog::level::info, "reconnect_attempt", "connecting to {server} (attempt {attempt})",
           {{"server", plan_.session.auth.host_label}, {"attempt", backoff_.attempts()}});
  LoopBackground background(loop_, [this]() -> std::optional<Failure> {
    if (!stop_reason_) return std::nullopt;
    return Failure{ExitCode::kOk, "stopping"};
  });
  Failure failure;
  std::vector<std::string> warnings;
  std::unique_ptr<JumpChain> chain =
      JumpChain::Connect(plan_, -1, &background, &failure, &warnings);
  for (const std::string& warning : warnings) {
    LogEventText(spdlog::level::warn, "known_hosts_warning", warning);
  }
  if (stop_reason_) return;
  if (!chain) {
    // A changed host key or a refused login is no network weather: trying again would only
    // knock on the door of the wrong server, or lock the account.
    // A remote port refused after a reconnect is most often still held by the server for
    // the lost connection, until it notices that loss: weather too.
    if (failure.code != ExitCode::kUnreachable && failure.code != ExitCode::kConnectionLost &&
        failure.code != ExitCode::kCannotListen) {
      RequestStop(StopReason::FromFailure(failure));
      return;
    }
    ScheduleAttempt("reconnect_failed", failure.message);
    return;
  }
  chain_ = std::move(chain);
  session_ = chain_->destination();
  tunnel_.Attach(session_, chain_->remote_listeners());
  StartSession();
  LogEvent(spdlog::level::info, "reconnected", "reconnected to {server} (attempt {attempt})",
           {{"server", session_->host_label()}, {"attempt", backoff_.attempts()}});
  lost_.reset();
  if (!plan_.remote_forwards.empty()) {
    // The server may have chosen other ports for port 0: say so, and list them.
    LogRemoteForwards();
    if (registration_) {
      registration_.reset();
      Register(tied_to_);
    }
  }
}

bool ActiveRun::StartLimits(RunContext* context) {
  std::string error;
  if (plan_.options.ttl && !lifetime_.StartTtl(*plan_.options.ttl, &error)) {
    stop_reason_ = {ToInt(ExitCode::kInternal), error, true};
    return false;
  }
  if (plan_.options.idle_timeout) lifetime_.EnableIdleTimeout(*plan_.options.idle_timeout);
  if (context->follow_pidfd) {
    lifetime_.Follow(std::move(context->follow_pidfd), context->follow_pid,
                     context->follow_description);
  }
  return true;
}

bool ActiveRun::StartCommand() {
  if (plan_.options.command.empty()) return true;
  std::string error;
  int exec_status = 0;
  if (command_.Start(plan_.options.command,
                     PortEnvironment(plan_, tunnel_.listeners(), chain_->remote_listeners()),
                     &error, &exec_status)) {
    return true;
  }
  stop_reason_ = {exec_status, error, true};
  return false;
}

// A registry that cannot be used costs `tether list` and `tether stop`, never the tunnel.
void ActiveRun::Register(pid_t tied_to) {
  const std::string dir = RegistryDirPath();
  std::string error;
  if (!PrepareRegistryDir(dir, &error)) {
    LogEventText(spdlog::level::warn, "registry_warning",
                 error + "; this tunnel will not be listed by tether list");
    return;
  }
  std::vector<std::string> warnings;
  LoadLiveEntries(dir, &warnings);  // prunes the entries of dead tunnels
  for (const std::string& warning : warnings) spdlog::debug("{}", warning);
  RegistryEntry entry = MakeRegistryEntry(tied_to);
  if (entry.start_ticks == 0) {
    LogEventText(spdlog::level::warn, "registry_warning",
                 "cannot read this process's start time; not registered for tether list");
    return;
  }
  ControlServer::Handlers handlers;
  handlers.status = [this] { return Status(); };
  handlers.stop = [this](pid_t requester) { RequestStop(StopReason::StopCommand(requester)); };
  control_ = ControlServer::Listen(loop_, ControlSocketPath(dir, entry.pid, entry.start_ticks),
                                   std::move(handlers), &error);
  if (control_) registration_ = Registration::Publish(dir, entry, &error);
  if (!registration_) {
    control_.reset();
    LogEventText(spdlog::level::warn, "registry_warning",
                 error + "; this tunnel will not be listed by tether list");
  }
}

RegistryEntry ActiveRun::MakeRegistryEntry(pid_t tied_to) const {
  RegistryEntry entry;
  entry.pid = getpid();
  entry.start_ticks = ProcessStartTicks(entry.pid).value_or(0);
  entry.started_unix = static_cast<int64_t>(time(nullptr));
  if (plan_.options.ttl) entry.ttl_end_unix = entry.started_unix + plan_.options.ttl->count();
  entry.forwards = ListedForwards(plan_, tunnel_.listeners(), RemoteListeners());
  entry.destination = plan_.options.host;
  entry.user = plan_.session.auth.user;
  entry.tied_to = tied_to;
  return entry;
}

TunnelStatus ActiveRun::Status() const {
  TunnelStatus status;
  status.state = lost_ ? "reconnecting" : "up";
  status.sessions = lost_ ? 0 : 1 + extras_.size();
  status.connections = tunnel_.connection_count();
  Tunnel::Traffic traffic = tunnel_.traffic();
  status.bytes_in = traffic.bytes_in;
  status.bytes_out = traffic.bytes_out;
  const std::chrono::seconds up = BootTimeNow() - started_;
  status.up_seconds = static_cast<uint64_t>(std::max<int64_t>(up.count(), 0));
  if (plan_.options.ttl) {
    status.ttl_left_seconds =
        static_cast<uint64_t>(std::max<int64_t>((*plan_.options.ttl - up).count(), 0));
  }
  return status;
}

StatusFigures ActiveRun::Figures() const {
  TunnelStatus status = Status();
  StatusFigures figures;
  figures.state = status.state;
  figures.forwards = FormatForwards(ListedForwards(plan_, tunnel_.listeners(), RemoteListeners()));
  figures.connections = status.connections;
  figures.bytes_in = status.bytes_in;
  figures.bytes_out = status.bytes_out;
  if (status.ttl_left_seconds) {
    figures.ttl_left = std::chrono::seconds(static_cast<int64_t>(*status.ttl_left_seconds));
  }
  return figures;
}

void ActiveRun::OnSignal() {
  while (std::optional<int> signal_number = signals_->Read()) {
    bool from_parent = *signal_number == ParentDeathSignal();
    if (command_.running() && !from_parent) {
      // The command decides what the signal means; its exit then ends the tunnel.
      command_.Forward(*signal_number);
      continue;
    }
    RequestStop(from_parent
                    ? StopReason::Requested("parent process exited; stopping", "parent_exited")
                    : StopReason::Requested("stopped by " + SignalName(*signal_number)));
  }
}

void ActiveRun::RequestStop(StopReason reason) {
  if (!stop_reason_) stop_reason_ = std::move(reason);
  if (command_.running()) {
    // The tunnel is ending under the command: end the command first, then exit with the
    // tunnel's reason.
    command_.Terminate(kCommandGrace);
    return;
  }
  loop_->Stop();
}

void ActiveRun::OnCommandExit(StopReason reason) {
  if (!stop_reason_) stop_reason_ = std::move(reason);
  loop_->Stop();
}

void ActiveRun::Shutdown() {
  // The one shutdown path: ports first, so they are free as early as possible.
  tunnel_.CloseListeners();
  // Setups still running end before anything else goes.
  if (connector_) connector_->CancelAll();
  pool_arrivals_.clear();
  if (status_line_ != nullptr) status_line_->Clear();
  // Then out of the registry: from here on nothing answers on the control socket.
  control_.reset();
  registration_.reset();
  tunnel_.CloseConnections();
  if (attempt_timer_) loop_->CancelTimer(*attempt_timer_);
  keepalive_.reset();
  CloseAllExtras("tether stopping", kDisconnectBudget);
  if (!chain_) return;  // lost, and not back
  // The server's ports are freed by asking, before the goodbye (a session that broke frees
  // them as it closes).
  tunnel_.CancelRemoteListeners(kDisconnectBudget, chain_->shutdown_background());
  session_->Disconnect("tether stopping", kDisconnectBudget);
  chain_->Shutdown(kDisconnectBudget);  // the jump hosts, last first
}

}  // namespace

int RunTunnel(const TunnelPlan& plan, SignalSet* signals, RunContext context) {
  Failure failure;
  std::vector<Listener> listeners;
  if (!BindAll(plan, &listeners, &failure)) return LogStopReason(StopReason::FromFailure(failure));
  std::unique_ptr<StatusLine> status_line;
  if (StatusLine::Wanted(plan.options)) {
    status_line = std::make_unique<StatusLine>(STDERR_FILENO);
    status_line->Show({"connecting", FormatForwards(ListedForwards(plan, listeners, {})), 0, 0, 0,
                       plan.options.ttl});
  }
  // The loop first: the chain's keepalives use it and must go before it.
  std::string error;
  std::unique_ptr<EventLoop> loop = EventLoop::Create(&error);
  std::vector<std::string> warnings;
  std::unique_ptr<JumpChain> chain =
      loop ? JumpChain::Connect(plan, signals->fd(), nullptr, &failure, &warnings) : nullptr;
  for (const std::string& warning : warnings) {
    LogEventText(spdlog::level::warn, "known_hosts_warning", warning);
  }
  if (loop && !chain && failure.code != ExitCode::kOk && StopSignalPending(*signals)) {
    // A prompt ended by Ctrl-C or SIGTERM makes authentication fail: the signal decides.
    failure = {ExitCode::kOk, "stopped by a signal before the tunnel was up"};
  }
  if (!loop || !chain) {
    status_line.reset();  // erased before the last word
    return LogStopReason(!loop ? StopReason{ToInt(ExitCode::kInternal), error, true}
                               : StopReason::FromFailure(failure));
  }
  ActiveRun run(plan, signals, loop.get(), std::move(chain), std::move(listeners),
                status_line.get());
  return run.Run(std::move(context));
}

}  // namespace tether
