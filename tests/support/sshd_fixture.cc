#include "support/sshd_fixture.h"

#include <crypt.h>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "support/net_util.h"

namespace tether::testing {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSshd[] = "/usr/sbin/sshd";

/// /etc/shadow with `user`'s password hash replaced by one of `password` (or a line added).
std::string ShadowWithPassword(const std::string& user, const std::string& password) {
  auto data = std::make_unique<crypt_data>();  // tens of KiB: not for the stack
  const char* hash = crypt_r(password.c_str(), "$6$tethertestsalt$", data.get());
  std::string fresh = user + ":" + (hash ? hash : "*") + ":19000:0:99999:7:::";
  std::string out;
  bool replaced = false;
  std::istringstream lines(ReadFile("/etc/shadow"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(user + ":", 0) == 0) {
      line = fresh;
      replaced = true;
    }
    out += line + "\n";
  }
  if (!replaced) out += fresh + "\n";
  return out;
}

constexpr int kLaunchAttempts = 5;
constexpr seconds kReadyTimeout(10);
constexpr seconds kKeygenTimeout(30);

std::string CurrentUser() {
  const passwd* pw = getpwuid(geteuid());
  if (pw != nullptr) return pw->pw_name;
  const char* env = getenv("USER");
  return env != nullptr ? env : "";
}

std::string TrimLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

/// "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA...".
std::string WithoutComment(const std::string& pub_line) {
  size_t first_space = pub_line.find(' ');
  if (first_space == std::string::npos) return pub_line;
  size_t second_space = pub_line.find(' ', first_space + 1);
  return pub_line.substr(0, second_space);
}

/// The keyword of an sshd_config line, lowercased; "" for blanks and comments.
std::string Keyword(const std::string& line) {
  size_t start = line.find_first_not_of(" \t");
  if (start == std::string::npos || line[start] == '#') return "";
  size_t end = line.find_first_of(" \t=", start);
  std::string word = line.substr(start, end - start);
  std::transform(word.begin(), word.end(), word.begin(),
                 [](unsigned char c) { return static_cast<char>(tolower(c)); });
  return word;
}

/// Keywords of extra_config lines that replace a fixture default (those before any Match).
std::set<std::string> OverriddenKeywords(const std::vector<std::string>& extra) {
  static const std::set<std::string> kAdditive = {"hostkey", "listenaddress", "port", "pidfile"};
  std::set<std::string> out;
  for (const std::string& line : extra) {
    std::string word = Keyword(line);
    if (word == "match") break;
    if (!word.empty() && kAdditive.count(word) == 0) out.insert(word);
  }
  return out;
}

/// The ppid field of /proc/PID/stat, or -1.
pid_t ParentOf(const std::string& pid_dir) {
  std::string stat = ReadFile("/proc/" + pid_dir + "/stat");
  size_t paren = stat.rfind(')');  // The command name may contain spaces and ')'.
  if (paren == std::string::npos) return -1;
  char state;
  int ppid;
  if (sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) return -1;
  return ppid;
}

std::multimap<pid_t, pid_t> ChildrenByParent() {
  std::multimap<pid_t, pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (const dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    pid_t ppid = ParentOf(entry->d_name);
    if (ppid > 0) children.emplace(ppid, static_cast<pid_t>(atoi(entry->d_name)));
  }
  closedir(proc);
  return children;
}

/// Reads the server's identification line, as a client would first.
bool ReadsSshBanner(uint16_t port) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  if (!fd) return false;
  SetIoTimeout(fd.get(), seconds(2));
  std::string line;
  char c;
  while (line.size() < 255 && read(fd.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
  return line.rfind("SSH-2.0-", 0) == 0;
}

}  // namespace

std::string MakeUserKey(const std::string& path, const std::string& type,
                        const std::string& passphrase, const std::vector<std::string>& extra_args) {
  // ssh-keygen asks before overwriting, and stdin is /dev/null: clear the way first.
  unlink(path.c_str());
  unlink((path + ".pub").c_str());
  std::vector<std::string> argv = {"ssh-keygen",          "-q", "-t", type, "-N", passphrase, "-C",
                                   "tether-test-" + type, "-f", path};
  if (type == "rsa") argv.insert(argv.end(), {"-b", "2048"});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  std::string output, error;
  if (!RunCommand(argv, SubprocessOptions(), kKeygenTimeout, &output, &error)) return "";
  return TrimLine(ReadFile(path + ".pub"));
}

std::unique_ptr<SshdServer> SshdServer::Start(std::string* error) {
  return Start(SshdConfig(), error);
}

std::unique_ptr<SshdServer> SshdServer::Start(const SshdConfig& cfg, std::string* error) {
  if (access(kSshd, X_OK) != 0) {
    *error = std::string(kSshd) + " not found: install openssh-server";
    return nullptr;
  }
  auto server = std::make_unique<SshdServer>(PassKey{});
  if (!server->Prepare(cfg, error) || !server->Launch(error)) return nullptr;
  if (cfg.write_known_hosts &&
      !WriteFile(server->known_hosts_path(), server->known_hosts_line() + "\n")) {
    *error = "cannot write " + server->known_hosts_path();
    return nullptr;
  }
  // The readiness probe left a pre-auth child behind for a moment; fault tests must not
  // mistake it for their own connection.
  WaitUntil([&] { return server->ConnectionPids().empty(); }, seconds(3));
  return server;
}

bool SshdServer::Prepare(const SshdConfig& cfg, std::string* error) {
  if (!dir_.ok()) {
    *error = "cannot create a temp directory under " + TempRoot();
    return false;
  }
  user_ = CurrentUser();
  if (geteuid() == 0) {
    // sshd insists on its privilege-separation directory when started as root.
    std::error_code ec;
    std::filesystem::create_directories("/run/sshd", ec);
  }
  mkdir(runtime_dir().c_str(), 0700);
  password_ = cfg.password;
  if (!password_.empty()) {
    if (!PasswordsUsable(error)) return false;
    const std::string shadow = dir_.Join("shadow");
    if (!WriteFile(shadow, ShadowWithPassword(user_, password_)) || chmod(shadow.c_str(), 0600)) {
      *error = "cannot write " + shadow;
      return false;
    }
  }
  return MakeHostKeys(cfg, error) && MakeClientHome(cfg, error) && WriteConfig(cfg, error);
}

bool SshdServer::MakeHostKeys(const SshdConfig& cfg, std::string* error) {
  host_public_key_line_ = WithoutComment(MakeUserKey(host_key_path("ed25519"), "ed25519", ""));
  if (host_public_key_line_.empty()) {
    *error = "ssh-keygen failed for the ed25519 host key";
    return false;
  }
  for (const std::string& type : cfg.extra_host_key_types) {
    std::string line = WithoutComment(MakeUserKey(host_key_path(type), type, ""));
    if (line.empty()) {
      *error = "ssh-keygen failed for the " + type + " host key";
      return false;
    }
    extra_host_keys_[type] = line;
  }
  return true;
}

bool SshdServer::MakeClientHome(const SshdConfig& cfg, std::string* error) {
  if (mkdir(home().c_str(), 0700) != 0 || mkdir((home() + "/.ssh").c_str(), 0700) != 0) {
    *error = "cannot create " + home() + "/.ssh";
    return false;
  }
  user_public_key_line_ = MakeUserKey(user_key_path(), "ed25519", "");
  if (user_public_key_line_.empty()) {
    *error = "ssh-keygen failed for the user key";
    return false;
  }
  std::string keys = user_public_key_line_ + "\n";
  for (const std::string& line : cfg.extra_authorized_keys) keys += line + "\n";
  if (!WriteFile(authorized_keys_path(), keys)) {
    *error = "cannot write " + authorized_keys_path();
    return false;
  }
  return true;
}

bool SshdServer::WriteConfig(const SshdConfig& cfg, std::string* error) const {
  // Port is prepended by Launch, which may need several tries with different ports.
  std::vector<std::string> defaults = {
      "HostKey " + host_key_path("ed25519"),
      "PidFile " + dir_.Join("sshd.pid"),
      "AuthorizedKeysFile " + authorized_keys_path(),
      "UsePAM no",
      "StrictModes no",
      "AllowTcpForwarding yes",
      "AllowStreamLocalForwarding yes",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "LogLevel VERBOSE",
      "PrintMotd no",
      "X11Forwarding no",
      // Many tunnels may connect at once in the benchmarks; the default drops at 10.
      "MaxStartups 200:30:400",
  };
  if (geteuid() == 0) defaults.push_back("PermitRootLogin prohibit-password");
  for (const auto& entry : extra_host_keys_)
    defaults.push_back("HostKey " + host_key_path(entry.first));
  std::set<std::string> overridden = OverriddenKeywords(cfg.extra_config);
  std::string text = "ListenAddress 127.0.0.1\n";
  for (const std::string& line : defaults) {
    if (overridden.count(Keyword(line)) == 0) text += line + "\n";
  }
  for (const std::string& line : cfg.extra_config) text += line + "\n";
  if (!WriteFile(dir_.Join("sshd_config.base"), text)) {
    *error = "cannot write " + dir_.Join("sshd_config.base");
    return false;
  }
  return true;
}

bool SshdServer::PrivateMountsUsable(std::string* why) {
  if (geteuid() != 0) {
    *why = "needs root (to bind a file over one in /etc in a private mount namespace)";
    return false;
  }
  std::string output;
  std::string error;
  if (!RunCommand({"unshare", "--mount", "--propagation", "private", "true"}, {}, seconds(10),
                  &output, &error)) {
    *why = "cannot create a mount namespace here (unshare --mount): " + error;
    return false;
  }
  return true;
}

bool SshdServer::PasswordsUsable(std::string* why) { return PrivateMountsUsable(why); }

std::vector<std::string> SshdServer::WithFileReplaced(const std::string& replacement,
                                                      const std::string& target,
                                                      const std::vector<std::string>& command) {
  std::vector<std::string> wrapped = {"unshare",
                                      "--mount",
                                      "--propagation",
                                      "private",
                                      "sh",
                                      "-c",
                                      "mount --bind \"$0\" \"$1\" && shift && exec \"$@\"",
                                      replacement,
                                      target};
  wrapped.insert(wrapped.end(), command.begin(), command.end());
  return wrapped;
}

std::vector<std::string> SshdServer::SshdCommand() const {
  std::vector<std::string> command = {kSshd, "-D", "-e", "-f", config_path()};
  if (password_.empty()) return command;
  // sshd checks passwords against /etc/shadow: in a private mount namespace, a copy that
  // holds the test's password is bound over it for this sshd alone.
  return WithFileReplaced(dir_.Join("shadow"), "/etc/shadow", command);
}

SubprocessOptions SshdServer::LaunchOptions() const {
  SubprocessOptions opts;
  opts.stdout_path = log_path();
  opts.stderr_path = log_path();
  opts.env_unset = {"SSH_AUTH_SOCK"};
  return opts;
}

bool SshdServer::Launch(std::string* error) {
  const std::string base = ReadFile(dir_.Join("sshd_config.base"));
  const SubprocessOptions opts = LaunchOptions();
  for (int attempt = 1; attempt <= kLaunchAttempts; ++attempt) {
    port_ = FreeTcpPort();
    // Port goes first: sshd keeps the first value of most keywords.
    if (port_ == 0 || !WriteFile(config_path(), "Port " + std::to_string(port_) + "\n" + base)) {
      *error = "cannot pick a port or write " + config_path();
      return false;
    }
    process_ = Subprocess::Start(SshdCommand(), opts, error);
    if (!process_) return false;
    if (WaitReady(error)) return true;
    bool port_taken = sshd_log().find("Address already in use") != std::string::npos;
    process_.reset();
    if (!port_taken) break;
  }
  *error += "\n--- sshd log ---\n" + sshd_log();
  return false;
}

bool SshdServer::WaitReady(std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->Running()) {
      *error = "sshd exited with " + std::to_string(process_->exit_code().value_or(-1));
      return false;
    }
    if (ReadsSshBanner(port_)) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  *error = "sshd did not send its banner on port " + std::to_string(port_) + " within 10 s";
  return false;
}

bool SshdServer::Restart(bool new_host_key, std::string* error) {
  Stop();
  if (new_host_key) {
    std::string line = WithoutComment(MakeUserKey(host_key_path("ed25519"), "ed25519", ""));
    if (line.empty()) {
      *error = "ssh-keygen failed for the new ed25519 host key";
      return false;
    }
    host_public_key_line_ = line;
  }
  // The config still names port_; sshd binds with SO_REUSEADDR, so the port is free again
  // at once.
  process_ = Subprocess::Start(SshdCommand(), LaunchOptions(), error);
  if (!process_) return false;
  if (WaitReady(error)) return true;
  *error += "\n--- sshd log ---\n" + sshd_log();
  process_.reset();
  return false;
}

SshdServer::~SshdServer() { Stop(); }

void SshdServer::Stop() {
  if (!process_) return;
  // Freeze the listener so it cannot fork new connection processes while we kill the ones
  // it has; killed children stay its zombies (not listed) until it exits.
  process_->Signal(SIGSTOP);
  for (int round = 0; round < 5 && SignalConnections(SIGKILL) > 0; ++round) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  process_->Signal(SIGTERM);
  process_->Signal(SIGCONT);
  if (!process_->WaitExit(seconds(2))) {
    process_->Signal(SIGKILL);
    process_->WaitExit(seconds(5));
  }
  process_.reset();
}

std::string SshdServer::known_hosts_line() const {
  return "[127.0.0.1]:" + std::to_string(port_) + " " + host_public_key_line_;
}

std::string SshdServer::HostPublicKeyLine(const std::string& type) const {
  if (type == "ed25519") return host_public_key_line_;
  auto it = extra_host_keys_.find(type);
  return it == extra_host_keys_.end() ? "" : it->second;
}

std::string SshdServer::host_key_path(const std::string& type) const {
  return dir_.Join("ssh_host_" + type + "_key");
}

std::vector<pid_t> SshdServer::ConnectionPids() const {
  std::vector<pid_t> out;
  if (!process_) return out;
  std::multimap<pid_t, pid_t> children = ChildrenByParent();
  std::vector<pid_t> frontier = {process_->pid()};
  while (!frontier.empty()) {  // Breadth first: parents before their children.
    std::vector<pid_t> next;
    for (pid_t parent : frontier) {
      auto [begin, end] = children.equal_range(parent);
      for (auto it = begin; it != end; ++it) {
        if (!ProcessGone(it->second)) out.push_back(it->second);
        next.push_back(it->second);
      }
    }
    frontier.swap(next);
  }
  return out;
}

int SshdServer::SignalConnections(int sig) const {
  std::vector<pid_t> pids = ConnectionPids();
  for (pid_t pid : pids) kill(pid, sig);
  return static_cast<int>(pids.size());
}

bool SshdServer::AddAuthorizedKey(const std::string& pub_line) {
  UniqueFd fd(open(authorized_keys_path().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  return fd && WriteAll(fd.get(), pub_line + "\n");
}

std::map<std::string, std::string> SshdServer::ClientEnv() const {
  return {{"HOME", home()}, {"XDG_RUNTIME_DIR", runtime_dir()}};
}

SubprocessOptions SshdServer::ClientProcessOptions() const {
  SubprocessOptions opts;
  opts.env_set = ClientEnv();
  opts.env_unset = {"SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY"};
  return opts;
}

std::vector<std::string> SshdServer::OpenSshClientArgs() const {
  std::vector<std::string> args = {"ssh", "-F", "/dev/null"};
  args.insert(args.end(), {"-i", user_key_path()});
  args.insert(args.end(), {"-p", std::to_string(port_)});
  // Nothing from the host's or the user's ssh setup may decide the outcome of a test.
  const std::string options[] = {"UserKnownHostsFile=" + known_hosts_path(),
                                 "GlobalKnownHostsFile=/dev/null",
                                 "StrictHostKeyChecking=yes",
                                 "BatchMode=yes",
                                 "IdentitiesOnly=yes",
                                 "ExitOnForwardFailure=yes"};
  for (const std::string& option : options) args.insert(args.end(), {"-o", option});
  return args;
}

std::unique_ptr<SshAgent> SshAgent::Start(std::string* error) {
  auto agent = std::make_unique<SshAgent>(PassKey{});
  if (!agent->dir_.ok()) {
    *error = "cannot create a temp directory under " + TempRoot();
    return nullptr;
  }
  agent->socket_path_ = agent->dir_.Join("agent.sock");
  SubprocessOptions opts;
  opts.env_unset = {"SSH_AUTH_SOCK"};
  agent->process_ = Subprocess::Start({"ssh-agent", "-D", "-a", agent->socket_path_}, opts, error);
  if (!agent->process_) return nullptr;
  SshAgent* raw = agent.get();
  bool up = WaitUntil(
      [raw] {
        std::string ignored;
        return !raw->process_->Running() || ConnectUnix(raw->socket_path_, &ignored).valid();
      },
      seconds(5));
  if (!up || !agent->process_->Running()) {
    *error = "ssh-agent did not open " + agent->socket_path_ + ": " + agent->process_->Stderr();
    return nullptr;
  }
  return agent;
}

std::map<std::string, std::string> SshAgent::Env() const {
  return {{"SSH_AUTH_SOCK", socket_path_}};
}

SubprocessOptions SshAgent::AddOptions() const {
  SubprocessOptions opts;
  opts.env_set = Env();
  opts.env_unset = {"SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY"};
  return opts;
}

bool SshAgent::Add(const std::string& key_path, std::string* error) {
  std::string output, why;
  bool ok = RunCommand({"ssh-add", key_path}, AddOptions(), seconds(10), &output, &why);
  if (!ok && error != nullptr) *error = why;
  return ok;
}

int SshAgent::KeyCount() const {
  std::string output, error;
  if (!RunCommand({"ssh-add", "-l"}, AddOptions(), seconds(10), &output, &error)) {
    // Exit status 1 with this message is an empty agent, not a failure.
    return output.find("has no identities") != std::string::npos ? 0 : -1;
  }
  return static_cast<int>(std::count(output.begin(), output.end(), '\n'));
}

}  // namespace tether::testing
