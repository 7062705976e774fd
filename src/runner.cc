#include "tether/runner.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <optional>

#include "tether/command_runner.h"
#include "tether/event_loop.h"
#include "tether/keepalive.h"
#include "tether/lifetime.h"
#include "tether/listener.h"
#include "tether/logging.h"
#include "tether/stop_reason.h"
#include "tether/tunnel.h"

namespace tether {
namespace {

constexpr std::chrono::milliseconds kDisconnectBudget{1000};
constexpr std::chrono::milliseconds kCommandGrace{5000};

std::string SignalName(int signal_number) {
  if (signal_number == ParentDeathSignal()) return "parent death";
  const char* abbrev = sigabbrev_np(signal_number);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(signal_number);
}

bool BindAll(const TunnelPlan& plan, std::vector<Listener>* listeners, Failure* failure) {
  for (size_t i = 0; i < plan.forwards.size(); ++i) {
    if (!BindForward(plan.forwards[i], i, plan.gateway_ports, listeners, failure)) return false;
  }
  return true;
}

int Report(const StopReason& reason) {
  LogEventText(reason.is_error ? spdlog::level::err : spdlog::level::info, reason.EventName(),
               reason.message, {{"exit_code", reason.exit_code}});
  return reason.exit_code;
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

std::map<std::string, std::string> PortEnvironment(const TunnelPlan& plan,
                                                   const std::vector<Listener>& listeners) {
  std::string all;
  std::string first_port;
  for (const Listener* listener : FirstListeners(plan, listeners)) {
    std::string port = listener->port != 0 ? std::to_string(listener->port) : listener->address;
    if (first_port.empty()) first_port = port;
    all += (all.empty() ? "" : " ") + port;
  }
  return {{"TETHER_PORT", first_port}, {"TETHER_PORTS", all}};
}

// -f: tells the waiting foreground process that the tunnel is up (and which addresses
// were chosen for port 0), then lets go of the terminal.
void ReportReadyAndDetach(const TunnelPlan& plan, const std::vector<Listener>& listeners,
                          UniqueFd ready_pipe) {
  std::string message = "ready\n";
  std::vector<const Listener*> first = FirstListeners(plan, listeners);
  for (size_t i = 0; i < first.size(); ++i) {
    if (!plan.forwards[i].listen.IsUnix() && plan.forwards[i].listen.port == 0) {
      message += first[i]->address + "\n";
    }
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
  ActiveRun(const TunnelPlan& plan, SignalSet* signals, EventLoop* loop, SshSession* session,
            std::vector<Listener> listeners)
      : plan_(plan),
        signals_(signals),
        loop_(loop),
        session_(session),
        tunnel_(loop, session, plan.forwards, std::move(listeners)),
        lifetime_(loop, [this](StopReason reason) { RequestStop(std::move(reason)); }),
        keepalive_(loop, session, plan.options.keepalive_interval, plan.options.keepalive_count,
                   [this] { tunnel_.SendKeepalive(); },
                   [this](StopReason reason) { RequestStop(std::move(reason)); }),
        command_(loop, [this](StopReason reason) { OnCommandExit(std::move(reason)); }) {}

  int Run(RunContext context);

 private:
  bool StartLimits(RunContext* context);
  bool StartCommand();
  void OnSignal();
  void RequestStop(StopReason reason);
  void OnCommandExit(StopReason reason);
  void Shutdown();

  const TunnelPlan& plan_;
  SignalSet* signals_;
  EventLoop* loop_;
  SshSession* session_;
  Tunnel tunnel_;
  Lifetime lifetime_;
  Keepalive keepalive_;
  CommandRunner command_;
  std::optional<StopReason> stop_reason_;
};

int ActiveRun::Run(RunContext context) {
  loop_->Watch(signals_->fd(), EPOLLIN, [this](uint32_t) { OnSignal(); });
  tunnel_.set_on_session_lost([this](const Failure& lost) {
    RequestStop(StopReason::FromFailure(lost));
  });
  tunnel_.set_on_connection_count(
      [this](size_t count) { lifetime_.ConnectionCountChanged(count); });
  for (const Listener& listener : tunnel_.listeners()) {
    LogEvent(spdlog::level::info, "forward_listening", "forwarding {forward} -> {target} via {server}",
             {{"forward", listener.address},
              {"target", FormatEndpoint(plan_.forwards[listener.forward_index].target)},
              {"server", session_->host_label()}});
  }
  tunnel_.Start();
  keepalive_.Start();
  if (!StartLimits(&context) || !StartCommand()) {
    Shutdown();
    return Report(*stop_reason_);
  }
  if (context.ready_pipe) ReportReadyAndDetach(plan_, tunnel_.listeners(), std::move(context.ready_pipe));
  if (!stop_reason_) loop_->Run();
  Shutdown();
  return Report(*stop_reason_);
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
  if (command_.Start(plan_.options.command, PortEnvironment(plan_, tunnel_.listeners()), &error,
                     &exec_status)) {
    return true;
  }
  stop_reason_ = {exec_status, error, true};
  return false;
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
  tunnel_.CloseConnections(kDisconnectBudget);
  session_->Disconnect("tether stopping", kDisconnectBudget);
}

}  // namespace

int RunTunnel(const TunnelPlan& plan, SignalSet* signals, RunContext context) {
  Failure failure;
  std::vector<Listener> listeners;
  if (!BindAll(plan, &listeners, &failure)) return Report(StopReason::FromFailure(failure));
  std::vector<std::string> warnings;
  std::unique_ptr<SshSession> session =
      SshSession::Open(plan.session, signals->fd(), &failure, &warnings);
  for (const std::string& warning : warnings) {
    LogEventText(spdlog::level::warn, "known_hosts_warning", warning);
  }
  if (!session) return Report(StopReason::FromFailure(failure));
  std::string error;
  std::unique_ptr<EventLoop> loop = EventLoop::Create(&error);
  if (!loop) return Report({ToInt(ExitCode::kInternal), error, true});
  ActiveRun run(plan, signals, loop.get(), session.get(), std::move(listeners));
  return run.Run(std::move(context));
}

}  // namespace tether
