#include "tether/runner.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <optional>

#include "tether/event_loop.h"
#include "tether/listener.h"
#include "tether/tunnel.h"

namespace tether {
namespace {

constexpr std::chrono::milliseconds kDisconnectBudget{1000};

std::string SignalName(int signal_number) {
  const char* abbrev = sigabbrev_np(signal_number);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(signal_number);
}

bool BindAll(const TunnelPlan& plan, std::vector<Listener>* listeners, Failure* failure) {
  for (size_t i = 0; i < plan.forwards.size(); ++i) {
    if (!BindForward(plan.forwards[i], i, plan.gateway_ports, listeners, failure)) return false;
  }
  return true;
}

int Report(const Failure& failure) {
  if (failure.code == ExitCode::kOk) {
    spdlog::info("{}", failure.message);
  } else {
    spdlog::error("{}", failure.message);
  }
  return ToInt(failure.code);
}

void LogForwards(const TunnelPlan& plan, const std::vector<Listener>& listeners,
                 const SshSession& session) {
  for (const Listener& listener : listeners) {
    spdlog::info("forwarding {} -> {} via {}", listener.address,
                 FormatEndpoint(plan.forwards[listener.forward_index].target),
                 session.host_label());
  }
}

// Owns the stop decision: the first reason to stop wins and ends the loop.
class StopLatch {
 public:
  explicit StopLatch(EventLoop* loop) : loop_(loop) {}
  void Stop(Failure reason) {
    if (!reason_) reason_ = std::move(reason);
    loop_->Stop();
  }
  const Failure& reason() const { return *reason_; }

 private:
  EventLoop* loop_;
  std::optional<Failure> reason_;
};

}  // namespace

int RunTunnel(const TunnelPlan& plan, SignalSet* signals) {
  Failure failure;
  std::vector<Listener> listeners;
  if (!BindAll(plan, &listeners, &failure)) return Report(failure);
  std::vector<std::string> warnings;
  std::unique_ptr<SshSession> session =
      SshSession::Open(plan.session, signals->fd(), &failure, &warnings);
  for (const std::string& warning : warnings) spdlog::warn("{}", warning);
  if (!session) return Report(failure);

  std::string error;
  std::unique_ptr<EventLoop> loop = EventLoop::Create(&error);
  if (!loop) return Report({ExitCode::kInternal, error});
  StopLatch stop(loop.get());
  loop->Watch(signals->fd(), EPOLLIN, [&](uint32_t) {
    while (std::optional<int> signal_number = signals->Read()) {
      stop.Stop({ExitCode::kOk, "stopped by " + SignalName(*signal_number)});
    }
  });
  LogForwards(plan, listeners, *session);
  Tunnel tunnel(loop.get(), session.get(), plan.forwards, std::move(listeners));
  tunnel.set_on_session_lost([&](const Failure& lost) { stop.Stop(lost); });
  tunnel.Start();
  loop->Run();

  // The one shutdown path: ports first, so they are free as early as possible.
  tunnel.CloseListeners();
  tunnel.CloseConnections(kDisconnectBudget);
  session->Disconnect("tether stopping: " + stop.reason().message, kDisconnectBudget);
  return Report(stop.reason());
}

}  // namespace tether
