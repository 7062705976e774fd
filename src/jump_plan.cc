#include "tether/jump_plan.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "tether/jump_spec.h"

namespace tether {
namespace {

// What a hop inherits from the command line: only -F, as ssh passes it to the jump ssh,
// plus the settings tether applies to the whole run (see jump_plan.h).
Options HopOptions(const Options& command_line, const JumpSpec& spec) {
  Options hop;
  hop.host = spec.host;
  hop.user = spec.user;
  hop.port = spec.port;
  hop.config_file = command_line.config_file;
  hop.batch_mode = command_line.batch_mode;
  if (command_line.keepalive_interval_given) {
    hop.keepalive_interval = command_line.keepalive_interval;
    hop.keepalive_interval_given = true;
  }
  if (command_line.keepalive_count_given) {
    hop.keepalive_count = command_line.keepalive_count;
    hop.keepalive_count_given = true;
  }
  return hop;
}

std::string LoopText(const std::vector<std::string>& stack, const std::string& again) {
  std::string text;
  auto first = std::find(stack.begin(), stack.end(), again);
  for (auto it = first; it != stack.end(); ++it) text += *it + " -> ";
  return text + again;
}

bool TooMany(Failure* failure) {
  *failure = {ExitCode::kConfig, "more than " + std::to_string(kMaxJumpHosts) +
                                     " jump hosts in a row (a ProxyJump loop?)"};
  return false;
}

class ChainPlanner {
 public:
  ChainPlanner(const Options& command_line, std::vector<JumpHop>* hops)
      : command_line_(command_line), hops_(hops) {}

  /// Appends the hops that reach the first of `list`, then the list itself. `stack` holds
  /// the hosts whose own ssh_config ProxyJump is being followed, outermost first.
  bool AddList(const std::vector<JumpSpec>& list, std::vector<std::string>* stack,
               Failure* failure);

 private:
  bool AddHop(const JumpSpec& spec, bool follow_own_jumps, std::vector<std::string>* stack,
              Failure* failure);

  const Options& command_line_;
  std::vector<JumpHop>* hops_;
};

bool ChainPlanner::AddList(const std::vector<JumpSpec>& list, std::vector<std::string>* stack,
                           Failure* failure) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (!AddHop(list[i], /*follow_own_jumps=*/i == 0, stack, failure)) return false;
  }
  return true;
}

bool ChainPlanner::AddHop(const JumpSpec& spec, bool follow_own_jumps,
                          std::vector<std::string>* stack, Failure* failure) {
  const std::string name = FormatJumpSpec(spec);
  TunnelPlan hop;
  if (!MakeSessionPlan(HopOptions(command_line_, spec), &hop, failure)) {
    failure->message = "jump host " + name + ": " + failure->message;
    return false;
  }
  const std::string own = std::string(JumpListText(hop.config_proxy_jump.value_or("none")));
  if (follow_own_jumps) {
    std::string error;
    std::optional<std::vector<JumpSpec>> own_list = ParseJumpList(own, &error);
    if (!own_list) {
      *failure = {ExitCode::kConfig, "jump host " + name + ": ProxyJump: " + error};
      return false;
    }
    if (!own_list->empty()) {
      if (std::find(stack->begin(), stack->end(), name) != stack->end()) {
        *failure = {ExitCode::kConfig, "ProxyJump loop: " + LoopText(*stack, name)};
        return false;
      }
      // Names spelt differently ("db", "alice@db") may still loop: bound the depth too.
      if (stack->size() > kMaxJumpHosts) return TooMany(failure);
      stack->push_back(name);
      if (!AddList(*own_list, stack, failure)) return false;
      stack->pop_back();
    }
  }
  if (hops_->size() == kMaxJumpHosts) return TooMany(failure);
  hops_->push_back(
      {name, hop.session, hop.options.keepalive_interval, hop.options.keepalive_count});
  return true;
}

}  // namespace

bool PlanJumpChain(TunnelPlan* plan, Failure* failure) {
  plan->jumps.clear();
  const Options& options = plan->options;
  const bool from_command_line = options.jump_hosts.has_value();
  const std::string text(from_command_line
                             ? *options.jump_hosts
                             : JumpListText(plan->config_proxy_jump.value_or("none")));
  std::string error;
  std::optional<std::vector<JumpSpec>> list = ParseJumpList(text, &error);
  if (!list) {
    *failure = from_command_line ? Failure{ExitCode::kUsage, "-J: " + error}
                                 : Failure{ExitCode::kConfig, "ProxyJump: " + error};
    return false;
  }
  // The destination's own ProxyJump is followed only when -J did not override it.
  std::vector<std::string> stack;
  if (!from_command_line)
    stack.push_back(FormatJumpSpec({options.user, options.host, options.port}));
  ChainPlanner planner(options, &plan->jumps);
  if (!planner.AddList(*list, &stack, failure)) return false;
  for (const JumpHop& hop : plan->jumps) {
    spdlog::debug("jump host {}: {}", hop.name, hop.session.auth.host_label);
  }
  return true;
}

}  // namespace tether
