#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether::testing {

/// Generates a key pair with ssh-keygen at `path` (and path + ".pub"), replacing any old one.
/// `type` is "ed25519", "ecdsa" or "rsa" (2048 bits, for speed); an empty passphrase leaves
/// the key unencrypted; `extra_args` go to ssh-keygen as well (e.g. {"-m", "PEM"}).
/// Returns the public line ("ssh-ed25519 AAAA... comment"), or "" on failure.
std::string MakeUserKey(const std::string& path, const std::string& type,
                        const std::string& passphrase,
                        const std::vector<std::string>& extra_args = {});

/// How SshdServer::Start sets the server up.
struct SshdConfig {
  /// Write home()/.ssh/known_hosts with this server's ed25519 host key.
  bool write_known_hosts = true;
  /// More lines for authorized_keys, after the fixture's own user key.
  std::vector<std::string> extra_authorized_keys;
  /// sshd_config lines. A keyword given here (before any "Match") replaces the fixture's
  /// default for it, since sshd keeps the first value it reads; HostKey, ListenAddress, Port
  /// and PidFile lines are added instead. "Match" blocks go last, as sshd requires.
  std::vector<std::string> extra_config;
  /// More host key types ("ecdsa", "rsa") for the server to offer besides ed25519. Only the
  /// ed25519 key goes into known_hosts.
  std::vector<std::string> extra_host_key_types;
  /// A login password for the current user, for password authentication: sshd then runs in
  /// a private mount namespace whose /etc/shadow is a copy holding this password, so the
  /// machine's accounts are never touched. Needs root (see PasswordsUsable).
  std::string password;
};

/// A real OpenSSH server (/usr/sbin/sshd -D -e) on a free loopback port, with throwaway host
/// and user keys, its own authorized_keys, and a client HOME whose .ssh holds the user key
/// and a known_hosts entry. Works as root and as an ordinary user. Everything it started is
/// stopped by pid, and its files are removed, when it is destroyed.
class SshdServer {
  struct PassKey {};

 public:
  /// Starts sshd and returns once it answers with its SSH-2.0 banner; nullptr and *error
  /// (with the sshd log) on failure.
  static std::unique_ptr<SshdServer> Start(const SshdConfig& cfg, std::string* error);
  /// True when SshdConfig::password can work here; else *why says what is missing.
  static bool PasswordsUsable(std::string* why);
  /// True when a test may give a process its own view of a file under /etc (root, and
  /// `unshare --mount` works); else *why says what is missing.
  static bool PrivateMountsUsable(std::string* why);
  /// argv that runs `command` with `replacement` bound over `target` (an /etc file) in a
  /// private mount namespace: the same pid, and nothing changes for other processes.
  static std::vector<std::string> WithFileReplaced(const std::string& replacement,
                                                   const std::string& target,
                                                   const std::vector<std::string>& command);
  /// Start with the default configuration.
  static std::unique_ptr<SshdServer> Start(std::string* error);
  /// MakeUserKey, reachable through the class as well.
  static std::string MakeUserKey(const std::string& path, const std::string& type,
                                 const std::string& passphrase,
                                 const std::vector<std::string>& extra_args = {}) {
    return testing::MakeUserKey(path, type, passphrase, extra_args);
  }

  /// Use Start(); public only for std::make_unique.
  explicit SshdServer(PassKey) {}
  /// Stop(); then the temp directory goes.
  ~SshdServer();
  SshdServer(const SshdServer&) = delete;
  SshdServer& operator=(const SshdServer&) = delete;

  /// The port sshd listens on, at 127.0.0.1.
  uint16_t port() const { return port_; }
  /// The fixture's temp directory (config, host keys, authorized_keys, log, home/).
  const std::string& dir() const { return dir_.path(); }
  /// The client's HOME: holds .ssh/id_ed25519 and .ssh/known_hosts.
  std::string home() const { return dir_.Join("home"); }
  /// The user sshd accepts: the one running the tests.
  std::string user() const { return user_; }
  /// The unencrypted ed25519 user key that authorized_keys lists.
  std::string user_key_path() const { return home() + "/.ssh/id_ed25519"; }
  /// The user key's public line ("ssh-ed25519 AAAA... comment").
  const std::string& user_public_key_line() const { return user_public_key_line_; }
  /// home()/.ssh/known_hosts (absent when SshdConfig::write_known_hosts was false).
  std::string known_hosts_path() const { return home() + "/.ssh/known_hosts"; }
  /// The known_hosts line for this server: "[127.0.0.1]:PORT ssh-ed25519 AAAA...".
  std::string known_hosts_line() const;
  /// The server's ed25519 host key: "ssh-ed25519 AAAA..." (no comment).
  const std::string& host_public_key_line() const { return host_public_key_line_; }
  /// The host key of another type from SshdConfig::extra_host_key_types, or "".
  std::string HostPublicKeyLine(const std::string& type) const;
  /// The authorized_keys file sshd reads (outside home()).
  std::string authorized_keys_path() const { return dir_.Join("authorized_keys"); }
  /// The sshd_config in use.
  std::string config_path() const { return dir_.Join("sshd_config"); }
  /// An empty 0700 directory, set as XDG_RUNTIME_DIR by ClientEnv(), so tunnels started by
  /// one test do not show up in another test's `tether list`.
  std::string runtime_dir() const { return dir_.Join("run"); }
  /// The listening sshd's pid, or -1 after Stop(). Kill ConnectionPids(), not this, to
  /// simulate a dead server: connection processes of a killed listener are orphaned and
  /// can no longer be found (or stopped) by the fixture.
  pid_t sshd_pid() const { return process_ ? process_->pid() : -1; }
  /// sshd's log so far (LogLevel VERBOSE): print it when a test fails.
  std::string sshd_log() const { return ReadFile(log_path()); }

  /// Live (not zombie) descendants of the listening sshd: the per-connection processes
  /// (monitor, pre-auth and post-auth children), parents first. Stop or kill all of them to
  /// hang or kill the server side of a connection.
  std::vector<pid_t> ConnectionPids() const;
  /// Sends `sig` to every ConnectionPids() process; returns how many there were.
  int SignalConnections(int sig) const;
  /// Appends a line to authorized_keys; sshd reads it at the next authentication.
  bool AddAuthorizedKey(const std::string& pub_line);

  /// Environment for a client process: HOME=home(), XDG_RUNTIME_DIR=runtime_dir().
  std::map<std::string, std::string> ClientEnv() const;
  /// SubprocessOptions with ClientEnv() set and SSH_AUTH_SOCK, SSH_ASKPASS,
  /// SSH_ASKPASS_REQUIRE and DISPLAY unset, so no agent or prompt of the host leaks in.
  SubprocessOptions ClientProcessOptions() const;
  /// The OpenSSH client pointed at this server with the fixture's key and known_hosts and
  /// no other configuration: {"ssh", "-F", "/dev/null", ..., "-p", PORT}. Append e.g.
  /// {"-N", "-L", spec, user() + "@127.0.0.1"}.
  std::vector<std::string> OpenSshClientArgs() const;

  /// Stops sshd and every connection process (SIGKILL); idempotent.
  void Stop();
  /// A server restart: Stop(), then sshd again on the same port with the same settings.
  /// With `new_host_key` it comes back with a fresh ed25519 host key, which known_hosts
  /// does not know. False with *error (and the sshd log) when it does not come up.
  bool Restart(bool new_host_key, std::string* error);

 private:
  bool Prepare(const SshdConfig& cfg, std::string* error);
  /// argv that starts sshd (in its own mount namespace when a password is set).
  std::vector<std::string> SshdCommand() const;
  bool MakeHostKeys(const SshdConfig& cfg, std::string* error);
  bool MakeClientHome(const SshdConfig& cfg, std::string* error);
  bool WriteConfig(const SshdConfig& cfg, std::string* error) const;
  /// Starts sshd on a fresh port, retrying when the port was taken meanwhile.
  bool Launch(std::string* error);
  bool WaitReady(std::string* error);
  SubprocessOptions LaunchOptions() const;
  std::string log_path() const { return dir_.Join("sshd.log"); }
  std::string host_key_path(const std::string& type) const;

  TempDir dir_;
  std::string user_;
  uint16_t port_ = 0;
  std::string host_public_key_line_;
  std::string user_public_key_line_;
  std::map<std::string, std::string> extra_host_keys_;  ///< type -> public line.
  std::unique_ptr<Subprocess> process_;
  std::string password_;  ///< SshdConfig::password
};

/// A throwaway ssh-agent (ssh-agent -D -a SOCKET), killed by pid when destroyed.
class SshAgent {
  struct PassKey {};

 public:
  /// Starts the agent and waits until its socket accepts; nullptr and *error on failure.
  static std::unique_ptr<SshAgent> Start(std::string* error);
  /// Use Start(); public only for std::make_unique.
  explicit SshAgent(PassKey) {}
  ~SshAgent() = default;
  SshAgent(const SshAgent&) = delete;
  SshAgent& operator=(const SshAgent&) = delete;

  /// The agent's socket: the value for SSH_AUTH_SOCK.
  const std::string& socket_path() const { return socket_path_; }
  /// The agent's pid.
  pid_t pid() const { return process_->pid(); }
  /// {"SSH_AUTH_SOCK": socket_path()}.
  std::map<std::string, std::string> Env() const;
  /// Adds an unencrypted private key with ssh-add. On failure *error (if given) says why.
  bool Add(const std::string& key_path, std::string* error = nullptr);
  /// Number of identities `ssh-add -l` lists, or -1 when it cannot ask.
  int KeyCount() const;

 private:
  SubprocessOptions AddOptions() const;

  TempDir dir_;  ///< Declared before process_: the agent dies before its socket dir goes.
  std::string socket_path_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace tether::testing
