#include "tether/tunnel_plan.h"

#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <map>
#include <sstream>

#include "tether/algorithms.h"
#include "tether/logging.h"
#include "tether/ssh_config.h"
#include "tether/text.h"

namespace tether {
namespace {

constexpr std::chrono::seconds kDefaultConnectTimeout{30};
constexpr std::chrono::seconds kLongestConnectTimeout{std::numeric_limits<int>::max() / 1000};

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

// Values as SshConfig spells them: flags "yes"/"no", times in seconds.
bool IsYes(const std::optional<std::string>& value) { return value && *value == "yes"; }
bool IsNo(const std::optional<std::string>& value) { return value && *value == "no"; }

std::optional<long> Number(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  const std::optional<uint64_t> number =
      ParseDecimal(*value, static_cast<uint64_t>(std::numeric_limits<long>::max()));
  if (!number) return std::nullopt;
  return static_cast<long>(*number);
}

std::optional<HostKeyPolicy> PolicyFrom(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  if (*value == "accept-new") return HostKeyPolicy::kAcceptNew;
  if (*value == "false" || *value == "no" || *value == "off") return HostKeyPolicy::kOff;
  return HostKeyPolicy::kStrict;  // "true", "yes", "ask": tether never asks
}

std::optional<SshConfig> LoadSshConfig(const Options& options, const std::string& local_user,
                                       Failure* failure) {
  SshConfigContext context;
  context.host = options.host;
  context.local_user = local_user;
  context.home = HomeDirectory();
  context.user = options.user;
  context.port = options.port;
  context.command_line = options.ssh_config_lines;
  std::vector<SshConfigFile> files =
      options.config_file.empty()
          ? DefaultSshConfigFiles(context.home)
          : std::vector<SshConfigFile>{{options.config_file, SshConfigRole::kExplicit}};
  std::string error;
  std::vector<std::string> warnings;
  std::optional<SshConfig> config = SshConfig::Load(files, context, &error, &warnings);
  for (const std::string& warning : warnings) {
    LogEventText(spdlog::level::warn, "config_warning", warning);
  }
  if (!config) {
    const bool from_command_line = error.rfind(std::string(kCommandLineOrigin) + ":", 0) == 0;
    *failure = {from_command_line ? ExitCode::kUsage : ExitCode::kConfig, error};
  }
  return config;
}

void PlanTarget(const Options& options, const SshConfig& config, TunnelPlan* plan) {
  ConnectTarget& target = plan->session.target;
  target.host = config.Get("hostname").value_or(options.host);
  target.port =
      options.port.value_or(static_cast<uint16_t>(Number(config.Get("port")).value_or(22)));
  std::optional<long> timeout = Number(config.Get("connecttimeout"));
  std::chrono::seconds chosen = options.connect_timeout.value_or(
      timeout ? std::chrono::seconds(*timeout) : kDefaultConnectTimeout);
  // poll() counts in int milliseconds: anything longer (~24.8 days) means "as long as it can".
  target.timeout = std::min(chosen, kLongestConnectTimeout);
  const std::optional<std::string> family = config.Get("addressfamily");
  target.family = family == "inet" ? AF_INET : family == "inet6" ? AF_INET6 : AF_UNSPEC;
  target.bind_address = config.Get("bindaddress").value_or("");
  target.attempts =
      static_cast<int>(std::clamp(Number(config.Get("connectionattempts")).value_or(1), 1L, 1000L));
}

void PlanHostKeys(const Options& options, const SshConfig& config, TunnelPlan* plan) {
  HostKeyCheckConfig& keys = plan->session.host_keys;
  keys.host = plan->session.target.host;
  keys.port = plan->session.target.port;
  keys.policy = options.host_key_policy.value_or(
      PolicyFrom(config.Get("stricthostkeychecking")).value_or(HostKeyPolicy::kStrict));
  keys.hash_new_entries = IsYes(config.Get("hashknownhosts"));
  std::vector<std::string> user_files = options.user_known_hosts_files;
  if (user_files.empty()) user_files = config.GetAll("userknownhostsfile");
  if (user_files.empty()) user_files = {"~/.ssh/known_hosts", "~/.ssh/known_hosts2"};
  keys.user_files = ExpandAll(user_files);
  std::vector<std::string> global_files = config.GetAll("globalknownhostsfile");
  if (options.global_known_hosts_file) global_files = {*options.global_known_hosts_file};
  if (global_files.empty())
    global_files = {"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"};
  keys.global_files = ExpandAll(global_files);
}

std::string AgentSocket(const SshConfig& config) {
  const char* environment = getenv("SSH_AUTH_SOCK");
  std::string from_environment = environment != nullptr ? environment : "";
  std::optional<std::string> agent = config.Get("identityagent");
  if (!agent || *agent == "SSH_AUTH_SOCK") return from_environment;
  if (*agent == "none") return "";
  return ExpandTilde(*agent);
}

void PlanAuth(const Options& options, const SshConfig& config, const std::string& user,
              TunnelPlan* plan) {
  AuthConfig& auth = plan->session.auth;
  auth.user = user;
  auth.host_label = HostLabel(user, plan->session.target.host, plan->session.target.port);
  std::vector<std::string> identities = options.identity_files;
  for (const std::string& file : config.GetAll("identityfile")) identities.push_back(file);
  auth.identity_files = ExpandAll(identities);
  auth.default_identity_files =
      ExpandAll({"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"});
  // IdentitiesOnly: tether then offers no agent key at all (ssh would offer the agent's
  // copies of the listed files).
  auth.agent_socket = IsYes(config.Get("identitiesonly")) ? "" : AgentSocket(config);
  auth.prompts.batch_mode = options.batch_mode || IsYes(config.Get("batchmode"));
  auth.allow_publickey = !IsNo(config.Get("pubkeyauthentication"));
  auth.allow_password = !IsNo(config.Get("passwordauthentication"));
  auth.allow_keyboard_interactive = !IsNo(config.Get("kbdinteractiveauthentication"));
  auth.pubkey_accepted_algorithms = config.Get("pubkeyacceptedalgorithms").value_or("");
  if (std::optional<long> prompts = Number(config.Get("numberofpasswordprompts"))) {
    auth.password_prompts = static_cast<int>(*prompts);
  }
}

// Appends the forwards of ssh_config's `keyword` lines, each read with `parse`.
bool AddConfigForwards(const SshConfig& config, const std::string& keyword, ForwardSpecParser parse,
                       std::vector<ForwardSpec>* forwards, Failure* failure) {
  for (const std::string& spec : config.GetAll(Lowercase(keyword))) {
    std::string error;
    std::optional<ForwardSpec> forward = parse(spec, &error);
    if (!forward) {
      *failure = {ExitCode::kConfig, keyword + " in ssh_config: " + error};
      return false;
    }
    forwards->push_back(*forward);
  }
  return true;
}

bool PlanForwards(const Options& options, const SshConfig& config, TunnelPlan* plan,
                  Failure* failure) {
  plan->forwards = options.forwards;
  plan->remote_forwards = options.remote_forwards;
  if (!AddConfigForwards(config, "LocalForward", ParseForwardSpec, &plan->forwards, failure) ||
      !AddConfigForwards(config, "DynamicForward", ParseDynamicForwardSpec, &plan->forwards,
                         failure) ||
      !AddConfigForwards(config, "RemoteForward", ParseRemoteForwardSpec, &plan->remote_forwards,
                         failure)) {
    return false;
  }
  plan->gateway_ports = options.gateway_ports || IsYes(config.Get("gatewayports"));
  return true;
}

void PlanKeepalive(const SshConfig& config, TunnelPlan* plan) {
  Options& options = plan->options;
  std::optional<long> interval = Number(config.Get("serveraliveinterval"));
  if (!options.keepalive_interval_given && interval) {
    options.keepalive_interval = std::chrono::seconds(*interval);
  }
  std::optional<long> count = Number(config.Get("serveralivecountmax"));
  if (!options.keepalive_count_given && count && *count > 0) {
    options.keepalive_count = static_cast<int>(*count);
  }
}

bool AlgorithmsFromCommandLine(const Options& options) {
  for (const std::string& line : options.ssh_config_lines) {
    const std::string key = Lowercase(line.substr(0, line.find(' ')));
    if (key == "ciphers" || key == "macs" || key == "kexalgorithms" || key == "hostkeyalgorithms") {
      return true;
    }
  }
  return false;
}

std::string FamilyName(int family) {
  return family == AF_INET ? "inet" : family == AF_INET6 ? "inet6" : "any";
}

std::string PolicyName(HostKeyPolicy policy) {
  switch (policy) {
    case HostKeyPolicy::kStrict:
      return "true";
    case HostKeyPolicy::kAcceptNew:
      return "accept-new";
    case HostKeyPolicy::kOff:
      return "false";
  }
  return "true";
}

std::string Joined(const std::vector<std::string>& values, const std::string& separator) {
  std::string out;
  for (const std::string& value : values) out += (out.empty() ? "" : separator) + value;
  return out;
}

// An endpoint as ssh -G prints it: "5432", "[127.0.0.1]:5432", "/run/x.sock".
std::string SshGEndpoint(const Endpoint& endpoint) {
  if (endpoint.IsUnix()) return endpoint.unix_path;
  if (endpoint.host.empty()) return std::to_string(endpoint.port);
  return "[" + endpoint.host + "]:" + std::to_string(endpoint.port);
}

// `tether -G`: what ssh -G prints, "key value" lines sorted by key, with the values tether
// will actually use (its defaults included) in place of what the files said.
std::string DescribeSettings(const SshConfig& config, const TunnelPlan& plan) {
  std::multimap<std::string, std::string> settings;
  std::istringstream dumped(config.Dump());
  for (std::string line; std::getline(dumped, line);) {
    const size_t space = line.find(' ');
    settings.emplace(line.substr(0, space),
                     space == std::string::npos ? "" : line.substr(space + 1));
  }
  const SessionConfig& session = plan.session;
  const AlgorithmPreferences& algorithms = session.algorithms;
  std::vector<std::string> forwards;
  std::vector<std::string> dynamic_forwards;
  for (const ForwardSpec& forward : plan.forwards) {
    if (forward.dynamic) {
      dynamic_forwards.push_back(SshGEndpoint(forward.listen));
    } else {
      forwards.push_back(SshGEndpoint(forward.listen) + " " + SshGEndpoint(forward.target));
    }
  }
  std::vector<std::string> remote_forwards;
  for (const ForwardSpec& forward : plan.remote_forwards) {
    remote_forwards.push_back(SshGEndpoint(forward.listen) + " " + SshGEndpoint(forward.target));
  }
  const std::pair<std::string, std::string> resolved[] = {
      {"user", session.auth.user},
      {"hostname", session.target.host},
      {"port", std::to_string(session.target.port)},
      {"addressfamily", FamilyName(session.target.family)},
      {"connecttimeout",
       std::to_string(
           std::chrono::duration_cast<std::chrono::seconds>(session.target.timeout).count())},
      {"connectionattempts", std::to_string(session.target.attempts)},
      {"stricthostkeychecking", PolicyName(session.host_keys.policy)},
      {"hashknownhosts", session.host_keys.hash_new_entries ? "yes" : "no"},
      {"userknownhostsfile", Joined(session.host_keys.user_files, " ")},
      {"globalknownhostsfile", Joined(session.host_keys.global_files, " ")},
      {"ciphers", algorithms.ciphers.empty() ? kDefaultCiphers : algorithms.ciphers},
      {"macs", algorithms.macs.empty() ? kDefaultMacs : algorithms.macs},
      {"serveraliveinterval", std::to_string(plan.options.keepalive_interval.count())},
      {"serveralivecountmax", std::to_string(plan.options.keepalive_count)},
      {"batchmode", session.auth.prompts.batch_mode ? "yes" : "no"},
      {"numberofpasswordprompts", std::to_string(session.auth.password_prompts)},
      {"gatewayports", plan.gateway_ports ? "yes" : "no"},
  };
  for (const auto& [key, value] : resolved) {
    settings.erase(key);
    settings.emplace(key, value);
  }
  // Without these two, libssh2's own lists apply (the host key list reordered by what
  // known_hosts holds), and ssh -G would print its own defaults: nothing to compare.
  for (const auto& [key, value] : {std::pair{"kexalgorithms", algorithms.kex},
                                   std::pair{"hostkeyalgorithms", algorithms.host_key}}) {
    settings.erase(key);
    if (!value.empty()) settings.emplace(key, value);
  }
  if (!session.target.bind_address.empty()) {
    settings.erase("bindaddress");
    settings.emplace("bindaddress", session.target.bind_address);
  }
  // -J wins over the files, as in ssh; "none" means no jump host, which ssh -G leaves out.
  if (plan.options.jump_hosts) {
    settings.erase("proxyjump");
    if (*plan.options.jump_hosts != "none") settings.emplace("proxyjump", *plan.options.jump_hosts);
  }
  settings.erase("localforward");
  for (const std::string& forward : forwards) settings.emplace("localforward", forward);
  settings.erase("dynamicforward");
  for (const std::string& forward : dynamic_forwards) settings.emplace("dynamicforward", forward);
  settings.erase("remoteforward");
  for (const std::string& forward : remote_forwards) settings.emplace("remoteforward", forward);
  settings.erase("identityfile");
  for (const std::string& file : session.auth.identity_files.empty()
                                     ? session.auth.default_identity_files
                                     : session.auth.identity_files) {
    settings.emplace("identityfile", file);
  }
  std::string out;
  for (const auto& [key, value] : settings) out += key + " " + value + "\n";
  return out;
}

}  // namespace

std::string ExpandTilde(const std::string& path) {
  if (path == "~") return HomeDirectory();
  if (path.rfind("~/", 0) == 0) return HomeDirectory() + path.substr(1);
  return path;
}

bool MakeSessionPlan(const Options& options, TunnelPlan* plan, Failure* failure) {
  plan->options = options;
  std::string local_user = CurrentUserName();
  std::optional<SshConfig> config = LoadSshConfig(options, local_user, failure);
  if (!config) return false;
  std::string user = options.user;
  if (user.empty()) user = config->Get("user").value_or(local_user);
  if (user.empty()) {
    *failure = {ExitCode::kUsage, "cannot tell the local user name; give one with -l USER"};
    return false;
  }
  PlanTarget(options, *config, plan);
  PlanHostKeys(options, *config, plan);
  PlanAuth(options, *config, user, plan);
  PlanKeepalive(*config, plan);
  plan->config_proxy_jump = config->Get("proxyjump");
  std::string error;
  if (!PlanAlgorithms(*config, &plan->session.algorithms, &error)) {
    *failure = {AlgorithmsFromCommandLine(options) ? ExitCode::kUsage : ExitCode::kConfig, error};
    return false;
  }
  if (!PlanForwards(options, *config, plan, failure)) return false;
  if (options.print_config) plan->resolved_settings = DescribeSettings(*config, *plan);
  return true;
}

bool MakeTunnelPlan(const Options& options, TunnelPlan* plan, Failure* failure) {
  if (!MakeSessionPlan(options, plan, failure)) return false;
  if (options.print_config) return true;
  if (!plan->forwards.empty() || !plan->remote_forwards.empty()) return true;
  *failure = {ExitCode::kUsage,
              "no forward given: use -L [bind_address:]port:host:hostport, -D "
              "[bind_address:]port or -R [bind_address:]port:host:hostport (or LocalForward, "
              "DynamicForward, RemoteForward in ssh_config)"};
  return false;
}

}  // namespace tether
