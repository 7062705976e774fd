#include "tether/jump_chain.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "tether/fd_pair.h"
#include "tether/logging.h"

namespace tether {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kGoodbye[] = "tether stopping";
// What the jump host is told the forwarded connection comes from (RFC 4254 7.2); sshd
// only logs it.
constexpr char kOriginatorHost[] = "127.0.0.1";
constexpr int kOriginatorPort = 0;
// How long a jump host gets to answer a probe when the session behind it fell silent
// (less when its keepalive interval is shorter).
constexpr std::chrono::milliseconds kMaxSilenceGrace{2000};

std::string Describe(const ConnectTarget& target) {
  const bool v6 = target.host.find(':') != std::string::npos;
  return (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
}

// "Channel open failure (connect failed)" -> "connect failed": the server's reason only.
std::string OpenFailureReason(const std::string& error) {
  const size_t open = error.find('(');
  const size_t close = error.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return error;
  return error.substr(open + 1, close - open - 1);
}

short ToPoll(uint32_t epoll_events) {
  short events = 0;
  if (epoll_events & EPOLLIN) events |= POLLIN;
  if (epoll_events & EPOLLOUT) events |= POLLOUT;
  return events;
}

// Reads and drops what the socket holds now; false once it has ended (or failed).
bool DiscardInput(int fd) {
  char scratch[16384];
  for (;;) {
    const ssize_t n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
    if (n > 0) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }
}

std::chrono::milliseconds Left(Clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()));
}

}  // namespace

std::unique_ptr<JumpChain> JumpChain::Connect(const TunnelPlan& plan, int signal_fd,
                                              WaitBackground* background, Failure* failure,
                                              std::vector<std::string>* warnings) {
  std::unique_ptr<JumpChain> chain(new JumpChain(plan.jumps));
  chain->outer_ = background;
  const size_t hops = plan.jumps.size();
  for (size_t i = 0; i <= hops; ++i) {
    const SessionConfig& config = i < hops ? plan.jumps[i].session : plan.session;
    std::unique_ptr<SshSession> session = chain->OpenHop(i, config, signal_fd, failure, warnings);
    if (!session) return nullptr;
    if (i < hops) {
      spdlog::debug("jump host {}: connected as {}", plan.jumps[i].name, session->host_label());
      chain->hops_.push_back(std::move(session));
    } else {
      chain->destination_ = std::move(session);
    }
  }
  if (!chain->RequestRemoteListeners(plan, signal_fd, failure)) return nullptr;
  chain->outer_ = nullptr;  // served during setup only
  return chain;
}

// Right after authentication: libssh2 1.10 would read the answer to an earlier want-reply
// global request (a keepalive) as the answer to a listen request.
bool JumpChain::RequestRemoteListeners(const TunnelPlan& plan, int signal_fd, Failure* failure) {
  SshSession* session = destination_.get();
  for (const ForwardSpec& forward : plan.remote_forwards) {
    SessionWaiter waiter(session->get(), session->fd(), signal_fd, plan.session.target.timeout,
                         "the remote forward of " + FormatEndpoint(forward.listen));
    if (!pumps_.empty() || outer_ != nullptr) waiter.set_background(this);
    std::unique_ptr<RemoteListener> listener =
        ListenRemote(session->get(), forward, session->host_label(), &waiter, failure);
    if (!listener) return false;
    remote_listeners_.push_back(std::move(listener));
  }
  return true;
}

std::vector<RemoteListener*> JumpChain::remote_listeners() const {
  std::vector<RemoteListener*> listeners;
  for (const auto& listener : remote_listeners_) listeners.push_back(listener.get());
  return listeners;
}

JumpChain::~JumpChain() {
  Detach();
  // Reverse order: each session goes before the one whose channel carries it.
  destination_.reset();
  while (!hops_.empty()) {
    if (pumps_.size() == hops_.size()) pumps_.pop_back();
    hops_.pop_back();
  }
}

std::unique_ptr<SshSession> JumpChain::OpenHop(size_t index, const SessionConfig& config,
                                               int signal_fd, Failure* failure,
                                               std::vector<std::string>* warnings) {
  std::unique_ptr<SshSession> session;
  if (index == 0) {
    session = SshSession::Open(config, signal_fd, outer_, failure, warnings);
  } else {
    UniqueFd next_end;
    if (!OpenChannel(index - 1, config.target, signal_fd, &next_end, failure)) return nullptr;
    session = SshSession::OpenOver(std::move(next_end), config, signal_fd, this, failure, warnings);
  }
  // A pump that broke meanwhile already named its own hop.
  if (!session && !failure_named_) *failure = HopFailure(index, *failure);
  return session;
}

bool JumpChain::OpenChannel(size_t via, const ConnectTarget& target, int signal_fd,
                            UniqueFd* next_end, Failure* failure) {
  SshSession* session = hops_[via].get();
  SessionWaiter waiter(session->get(), session->fd(), signal_fd, target.timeout,
                       "the opening of a channel to " + Describe(target));
  if (!pumps_.empty() || outer_ != nullptr) waiter.set_background(this);
  LIBSSH2_CHANNEL* channel = waiter.RunForPointer<LIBSSH2_CHANNEL>([&] {
    return libssh2_channel_direct_tcpip_ex(session->get(), target.host.c_str(), target.port,
                                           kOriginatorHost, kOriginatorPort);
  });
  if (channel == nullptr) {
    const int rc = libssh2_session_last_errno(session->get());
    if (waiter.abandoned()) {
      *failure = waiter.failure();
    } else if (IsSessionError(rc)) {
      *failure = {ExitCode::kConnectionLost, "connection to " + session->host_label() +
                                                 " lost: " + LastSshError(session->get())};
    } else {
      *failure = {ExitCode::kUnreachable, "cannot open a channel to " + Describe(target) + ": " +
                                              OpenFailureReason(LastSshError(session->get()))};
    }
    if (!failure_named_) *failure = HopFailure(via, *failure);
    failure_named_ = true;  // named already: OpenHop must not name it again
    return false;
  }
  std::string error;
  std::optional<FdPair> ends = OpenSocketPair(SOCK_STREAM | SOCK_NONBLOCK, &error);
  if (!ends) {
    *failure = {ExitCode::kInternal, error};
    failure_named_ = true;
    return false;
  }
  pumps_.push_back(std::make_unique<ChannelPump>(session, channel, std::move(ends->second)));
  *next_end = std::move(ends->first);
  return true;
}

Failure JumpChain::HopFailure(size_t index, const Failure& failure) const {
  if (index >= plan_hops_.size() || failure.code == ExitCode::kOk) return failure;
  return {failure.code, "jump host " + plan_hops_[index].name + ": " + failure.message};
}

// ---- Waits during setup and shutdown ---------------------------------------------------

void JumpChain::AddPollFds(std::vector<pollfd>* fds) const {
  for (const auto& pump : pumps_) {
    fds->push_back({pump->session_fd(), ToPoll(pump->SessionEvents()), 0});
    const short local = ToPoll(pump->LocalEvents());
    // poll skips a negative fd: a socket with no interest must not report its hang-up
    // again and again.
    fds->push_back({local != 0 ? pump->local_fd() : -1, local, 0});
  }
  if (outer_ != nullptr) outer_->AddPollFds(fds);
}

bool JumpChain::Service(std::span<const pollfd> ready, Failure* failure) {
  for (size_t k = 0; k < pumps_.size() && 2 * k + 1 < ready.size(); ++k) {
    const short session_events = ready[2 * k].revents;
    if (session_events == 0 && ready[2 * k + 1].revents == 0) continue;
    if (!pumps_[k]->Service((session_events & (POLLIN | POLLHUP | POLLERR)) != 0)) {
      *failure = HopFailure(k, pumps_[k]->failure());
      failure_named_ = true;
      return false;
    }
  }
  if (outer_ != nullptr && !outer_->Service(ready.subspan(2 * pumps_.size()), failure)) {
    failure_named_ = true;  // the outer background's reason is not a hop's
    return false;
  }
  return true;
}

std::chrono::milliseconds JumpChain::MaxWait() const {
  return outer_ != nullptr ? outer_->MaxWait() : WaitBackground::MaxWait();
}

bool JumpChain::Drain(size_t index, int behind_fd, Clock::time_point deadline) {
  // Then until the server behind has hung up: a jump host's sshd drops what it has not yet
  // written to the next hop once its own session ends, the goodbye (and a -R cancel) with it.
  // What that server still sends is thrown away: left unread, it would fill the socketpair
  // and the pump's buffer, and its hang-up would never be seen.
  const size_t pump_fds = 2 * (index + 1);  // the hops beyond are done
  while (!pumps_[index]->Drained() || !pumps_[index]->FarEndClosed()) {
    std::vector<pollfd> fds;
    AddPollFds(&fds);
    fds.resize(pump_fds);
    fds.push_back({behind_fd, POLLIN, 0});  // poll skips it once it is -1 (ended)
    const int n =
        poll(fds.data(), static_cast<nfds_t>(fds.size()), static_cast<int>(Left(deadline).count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (fds.back().revents != 0 && !DiscardInput(behind_fd)) behind_fd = -1;
    Failure ignored;
    if (!Service(std::span<const pollfd>(fds).first(pump_fds), &ignored)) return false;
  }
  return true;
}

// ---- The run ---------------------------------------------------------------------------

void JumpChain::Start(EventLoop* loop, std::function<void(StopReason)> stop) {
  loop_ = loop;
  stop_ = std::move(stop);
  watched_local_.assign(pumps_.size(), -1);
  for (size_t k = 0; k < pumps_.size(); ++k) {
    loop_->Watch(pumps_[k]->session_fd(), EPOLLIN, [this, k](uint32_t events) {
      OnPumpEvent(k, (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0);
    });
    const JumpHop& hop = plan_hops_[k];
    keepalives_.push_back(std::make_unique<Keepalive>(
        loop_, hops_[k].get(), hop.keepalive_interval, hop.keepalive_count,
        [this, k] {
          pumps_[k]->SendKeepalive();
          UpdateInterest(k);
        },
        [this, k](StopReason reason) { OnSilence(k, std::move(reason)); }));
    keepalives_.back()->Start();
    // Setup may have left bytes in libssh2's queue that no fd event will announce.
    OnPumpEvent(k, false);
  }
  if (!hops_.empty()) {
    std::string route;
    for (const JumpHop& hop : plan_hops_) route += (route.empty() ? "" : ", ") + hop.name;
    LogEventText(spdlog::level::info, "jump_route",
                 "reached " + destination_->host_label() + " through jump host" +
                     (hops_.size() > 1 ? "s " : " ") + route);
  }
}

void JumpChain::OnPumpEvent(size_t index, bool session_readable) {
  ChannelPump& pump = *pumps_[index];
  if (pump.broken()) return;
  if (!pump.Service(session_readable)) {
    UpdateInterest(index);
    stop_(StopReason::FromFailure(HopFailure(index, pump.failure())));
    return;
  }
  UpdateInterest(index);
}

void JumpChain::UpdateInterest(size_t index) {
  if (loop_ == nullptr) return;
  const ChannelPump& pump = *pumps_[index];
  const uint32_t session_events = pump.SessionEvents();
  if (session_events == 0) {
    loop_->Unwatch(pump.session_fd());
  } else {
    loop_->SetEvents(pump.session_fd(), session_events);
  }
  const int local = pump.local_fd();
  const uint32_t wanted = pump.LocalEvents();
  int& watched = watched_local_[index];
  // The pump may have closed its end (the fd number can then be reused): forget it.
  if (watched >= 0 && (watched != local || wanted == 0)) {
    loop_->Unwatch(watched);
    watched = -1;
  }
  if (wanted == 0) return;
  if (watched < 0) {
    loop_->Watch(local, wanted, [this, index](uint32_t) { OnPumpEvent(index, false); });
    watched = local;
  } else {
    loop_->SetEvents(local, wanted);
  }
}

void JumpChain::ReportSilence(StopReason reason) { OnSilence(hops_.size(), std::move(reason)); }

// Timing alone cannot tell a dead hop from a dead server behind it: their keepalives run
// out at nearly the same moment. An answer can: a hop that answers a probe is alive.
void JumpChain::OnSilence(size_t index, StopReason reason) {
  if (index < plan_hops_.size()) {
    reason.message = "jump host " + plan_hops_[index].name + ": " + reason.message;
  }
  if (verdict_) return;  // already deciding, about these hops or fewer
  if (index == 0 || loop_ == nullptr) return stop_(std::move(reason));
  Verdict verdict{index, std::move(reason), {}, kMaxSilenceGrace};
  for (size_t j = 0; j < index; ++j) {
    const std::chrono::seconds interval = plan_hops_[j].keepalive_interval;
    if (interval.count() > 0)
      verdict.grace = std::min<std::chrono::milliseconds>(verdict.grace, interval);
    verdict.baselines.push_back(hops_[j]->inbound().bytes);
    pumps_[j]->SendKeepalive();
    UpdateInterest(j);
  }
  verdict_timer_ = loop_->AddTimer(Clock::now() + verdict.grace, [this] { FinishVerdict(); });
  verdict_ = std::move(verdict);
}

void JumpChain::FinishVerdict() {
  verdict_timer_.reset();
  Verdict verdict = std::move(*verdict_);
  verdict_.reset();
  for (size_t j = 0; j < verdict.index; ++j) {
    if (hops_[j]->inbound().bytes != verdict.baselines[j]) continue;
    const auto silence = Clock::now() - hops_[j]->inbound().last_arrival;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(silence).count();
    return stop_({ToInt(ExitCode::kConnectionLost),
                  "jump host " + plan_hops_[j].name + ": server " + hops_[j]->host_label() +
                      " not responding for " + std::to_string(seconds) +
                      "s (a keepalive unanswered for " + std::to_string(verdict.grace.count()) +
                      "ms)",
                  true});
  }
  stop_(std::move(verdict.reason));
}

void JumpChain::Detach() {
  keepalives_.clear();
  if (loop_ == nullptr) return;
  if (verdict_timer_) loop_->CancelTimer(*verdict_timer_);
  verdict_timer_.reset();
  for (size_t k = 0; k < pumps_.size(); ++k) {
    loop_->Unwatch(pumps_[k]->session_fd());
    if (watched_local_[k] >= 0) loop_->Unwatch(watched_local_[k]);
  }
  loop_ = nullptr;
}

void JumpChain::Shutdown(std::chrono::milliseconds budget) {
  Detach();
  const Clock::time_point deadline = Clock::now() + budget;
  for (size_t k = pumps_.size(); k-- > 0;) {
    // The session behind this hop has said goodbye: EOF after its last bytes tells the
    // pump when everything is through.
    const SshSession& behind = k + 1 < hops_.size() ? *hops_[k + 1] : *destination_;
    shutdown(behind.fd(), SHUT_WR);
    if (!pumps_[k]->broken()) Drain(k, behind.fd(), deadline);
    hops_[k]->Disconnect(kGoodbye, std::max(Left(deadline), std::chrono::milliseconds(1)));
  }
}

}  // namespace tether
