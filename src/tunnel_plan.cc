#include "tether/tunnel_plan.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace tether {
namespace {

constexpr std::chrono::seconds kDefaultConnectTimeout{30};

std::string HomeDirectory() {
  const char* home = getenv("HOME");
  if (home != nullptr && *home != '\0') return home;
  const passwd* entry = getpwuid(getuid());
  return entry != nullptr ? entry->pw_dir : "/";
}

std::string CurrentUserName() {
  const passwd* entry = getpwuid(getuid());
  if (entry != nullptr) return entry->pw_name;
  const char* user = getenv("USER");
  return user != nullptr ? user : "";
}

std::vector<std::string> ExpandAll(const std::vector<std::string>& paths) {
  std::vector<std::string> expanded;
  for (const std::string& path : paths) expanded.push_back(ExpandTilde(path));
  return expanded;
}

std::string HostLabel(const std::string& user, const std::string& host, uint16_t port) {
  std::string label = user + "@" + host;
  if (host.find(':') != std::string::npos) label = user + "@[" + host + "]";
  return port == 22 ? label : label + ":" + std::to_string(port);
}

}  // namespace

std::string ExpandTilde(const std::string& path) {
  if (path == "~") return HomeDirectory();
  if (path.rfind("~/", 0) == 0) return HomeDirectory() + path.substr(1);
  return path;
}

bool MakeTunnelPlan(const Options& options, TunnelPlan* plan, Failure* failure) {
  plan->options = options;
  plan->forwards = options.forwards;
  plan->gateway_ports = options.gateway_ports;
  ConnectTarget& target = plan->session.target;
  target.host = options.host;
  target.port = options.port.value_or(22);
  target.timeout = options.connect_timeout.value_or(kDefaultConnectTimeout);

  HostKeyCheckConfig& keys = plan->session.host_keys;
  keys.host = options.host;
  keys.port = target.port;
  keys.policy = options.host_key_policy.value_or(HostKeyPolicy::kStrict);
  keys.user_files = options.user_known_hosts_files.empty()
                        ? ExpandAll({"~/.ssh/known_hosts", "~/.ssh/known_hosts2"})
                        : ExpandAll(options.user_known_hosts_files);
  keys.global_files = options.global_known_hosts_file
                          ? std::vector<std::string>{*options.global_known_hosts_file}
                          : std::vector<std::string>{"/etc/ssh/ssh_known_hosts",
                                                     "/etc/ssh/ssh_known_hosts2"};

  AuthConfig& auth = plan->session.auth;
  auth.user = options.user.empty() ? CurrentUserName() : options.user;
  if (auth.user.empty()) {
    *failure = {ExitCode::kUsage, "cannot tell the local user name; give one with -l USER"};
    return false;
  }
  auth.host_label = HostLabel(auth.user, options.host, target.port);
  auth.identity_files = ExpandAll(options.identity_files);
  auth.default_identity_files =
      ExpandAll({"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"});
  const char* agent = getenv("SSH_AUTH_SOCK");
  auth.agent_socket = agent != nullptr ? agent : "";
  auth.prompts.batch_mode = options.batch_mode;
  return true;
}

}  // namespace tether
