// The tunnel command line: ssh(1)-compatible flags plus tether's lifetime options.
//
// CLI11 only collects strings here; every value is checked by tether's own parsers so that
// each mistake gets one precise line and exit code 64. The commands `tether list` and
// `tether stop` are recognised before this parser runs (ParseAdminCommandLine in
// tunnel_admin.cc, called first by main.cc), leaving the tunnel grammar below untouched.

#include <libssh2.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tether/duration.h"
#include "tether/exit_code.h"
#include "tether/forward_spec.h"
#include "tether/jump_spec.h"
#include "tether/message_text.h"
#include "tether/options.h"
#include "tether/ssh_config.h"
#include "tether/text.h"

namespace tether {
namespace {

using std::chrono::seconds;

constexpr std::string_view kUsageLine =
    "tether [OPTIONS] [-L SPEC]... [user@]host [-- COMMAND [ARG]...]";
constexpr uint64_t kMaxKeepaliveCount = 1000;
constexpr uint64_t kMaxSessions = 16;

constexpr std::string_view kHelpText =
    R"(Usage: tether [OPTIONS] [-L|-D|-R SPEC]... [user@]host [-- COMMAND [ARG]...]
       tether -G [OPTIONS] [user@]host
       tether list [--json]
       tether stop PID | :PORT | all

Forwards local TCP ports or Unix sockets through an SSH server, like
`ssh -N -L` (and -D, -R), but the tunnel never outlives what it was opened
for: it stops when the process that started it ends, when --ttl runs out,
after --idle-timeout, or when COMMAND exits. Settings not given here come from
~/.ssh/config, read with ssh's rules.

Commands (only as the first argument; `tether -L ... list` still reaches a host
named list):
  list [--json]  show this user's running tunnels: pid, forwards, destination,
                 uptime, TTL left, the process each is tied to, open
                 connections, bytes in and out, state (up, reconnecting);
                 --json prints a JSON array
  stop PID | :PORT | all
                 stop the tunnel with that pid, the one(s) forwarding local
                 port PORT, or all, as Ctrl-C would; exits 1 if none matches

Forwards:
  -L SPEC        forward a local port or socket through the server; repeatable.
                 SPEC is one of
                   [bind_address:]port:host:hostport
                   [bind_address:]port:remote_socket
                   local_socket:host:hostport
                   local_socket:remote_socket
                 Port 0 picks a free port. IPv6 addresses go in [brackets].
                 A socket path starts with '/'. An empty bind_address or '*'
                 means all interfaces; without one, tether listens on
                 loopback only.
  -D [bind_address:]port
                 dynamic forward: a local SOCKS server (SOCKS4, SOCKS4a,
                 SOCKS5 without authentication, CONNECT only); each client
                 names its target, which the server connects to (names are
                 resolved by the server); repeatable. Port 0 picks a free
                 port. Loopback only unless bind_address or -g is given.
  -R SPEC        remote forward: the server listens, and each connection to
                 it is carried back and connected from this machine to the
                 target; repeatable. SPEC is one of
                   [bind_address:]port:host:hostport
                   [bind_address:]port:local_socket
                 Port 0 lets the server pick (printed by -f, given to
                 COMMAND in $TETHER_REMOTE_PORTS). Without bind_address the
                 server listens on its loopback; '*' or an empty one asks
                 for all its interfaces, which its GatewayPorts decides. A
                 port the server refuses (in use, AllowTcpForwarding,
                 PermitListen) exits 73. Not supported: a socket on the
                 server (-R /path:...) and the remote SOCKS form -R port.
  -g             let other hosts connect to local forwards given without
                 bind_address

SSH options (as in ssh):
  -p PORT        server port (default: Port from ssh_config, else 22)
  -l USER        user on the server, also given as user@host
                 (default: your login name)
  -i FILE        private key file; repeatable
  -F FILE        read this ssh_config file instead of ~/.ssh/config and
                 /etc/ssh/ssh_config
  -J [user@]host[:port][,...]
                 reach the server through these jump hosts, in order, each
                 with its own host key check, login and ssh_config settings;
                 'none' connects directly (also -o ProxyJump)
  -o KEY=VALUE   ssh_config option, also -o 'KEY VALUE'; repeatable. Keys are
                 case-insensitive and the first value of a key wins, except
                 for IdentityFile, UserKnownHostsFile, LocalForward,
                 DynamicForward and RemoteForward, which add up. -p, -l, -i,
                 -g and --keepalive* win over -o.
                 Understood:
                   User, Port, HostName, IdentityFile, IdentitiesOnly,
                   IdentityAgent, UserKnownHostsFile, GlobalKnownHostsFile,
                   StrictHostKeyChecking (yes, accept-new, no; ask means
                   yes), HashKnownHosts, ConnectTimeout, ConnectionAttempts,
                   AddressFamily, BindAddress, ServerAliveInterval,
                   ServerAliveCountMax, BatchMode, GatewayPorts,
                   LocalForward, DynamicForward, RemoteForward, Ciphers,
                   MACs,
                   KexAlgorithms,
                   HostKeyAlgorithms, PubkeyAuthentication,
                   PubkeyAcceptedAlgorithms, PasswordAuthentication,
                   KbdInteractiveAuthentication, NumberOfPasswordPrompts,
                   ProxyJump
                 Accepted and ignored, as they change nothing for a tunnel:
                   AddKeysToAgent, CheckHostIP, Compression, ControlMaster,
                   ControlPath, ControlPersist, EscapeChar,
                   ExitOnForwardFailure (tether always exits when a forward
                   fails), ForwardAgent, ForwardX11, ForwardX11Trusted,
                   HashKnownHosts, LogLevel, RequestTTY, SessionType,
                   TCPKeepAlive, UpdateHostKeys, VisualHostKey
  -c CIPHERS     ciphers to offer, as -o Ciphers (libssh2 has no aes-gcm or
                 chacha20-poly1305)
  -m MACS        MACs to offer, as -o MACs
  -4, -6         connect to the server over IPv4 only / IPv6 only
  -b ADDRESS     connect to the server from this local address
  -G             print the settings tether would use for host, like ssh -G,
                 and exit
  -f             go to the background once every forward listens and the
                 server has accepted us; the tunnel still ends with its parent
  -E FILE        write the log to FILE instead of stderr
  -v             log more detail; repeat (-vv, -vvv) for more
  -q             quiet: log errors only
  -N, -T, -n     accepted for ssh compatibility; tether never runs a remote
                 command

Lifetime:
  --ttl DURATION           stop after this long, 'none' for no limit; a
                           warning is logged a minute before (default: 8h)
  --idle-timeout DURATION  stop after this long with no client connection
                           open (default: none)
  --keepalive DURATION     interval between SSH keepalives, 0 turns them off
                           (default: 15s; also -o ServerAliveInterval)
  --keepalive-count N      unanswered keepalives, 1-1000, after which the
                           server counts as gone (default: 3; also
                           -o ServerAliveCountMax)
  --tie-to PID             stop when process PID ends (default: the parent
                           process)
  --sessions N             open channels over up to N SSH sessions to the
                           server, 1-16 (default: 4): extra sessions are
                           opened in the background while client
                           connections wait for a channel, and closed when
                           idle; 1 keeps exactly one SSH connection
  --reconnect              when the connection to the server is lost, keep
                           the ports open and connect again, 1s after the
                           loss, then doubling up to 60s between attempts
                           (with jitter), until the TTL; each attempt checks
                           the host key again. Clients arriving meanwhile
                           wait up to ConnectTimeout (default 30s). A
                           changed host key or refused login still stops
                           the tunnel (77)

  --log-format FORMAT      text (default), or json: one JSON object per line
                           and event, for log shippers
  -h, --help               show this help and exit
  -V, --version            show the version and exit

DURATION is 90s, 5m, 1h30m, 2d or plain seconds; units d, h, m, s go
largest first.

With -- COMMAND, tether runs COMMAND once every forward listens, with the
first local port in $TETHER_PORT, all of them in $TETHER_PORTS and the ports
the server listens on for -R in $TETHER_REMOTE_PORTS; the tunnel stops when
COMMAND ends, and tether exits with its status.

Exit codes:
  0      stopped on request (Ctrl-C, SIGTERM, tether stop), parent gone,
         idle timeout, or TTL reached
  1      list, stop: no tunnel matched, or the registry directory is refused
  64     usage: bad option, bad -L, -D or -R, bad duration
  65     bad configuration file
  69     server unreachable: name lookup, connection refused, connect timeout
  70     internal error
  73     cannot listen: port or socket path in use, permission denied;
         the server refused a -R port
  74     connection lost: keepalive timeout, server closed the connection
  77     not trusted or not allowed: host key unknown or changed,
         authentication failed
  other  with -- COMMAND: the command's own status (128+N when signal N
         ended it)

Examples:
  tether -L 5432:localhost:5432 db
      reach PostgreSQL on db at localhost:5432 until Ctrl-C
  tether -L 0:localhost:5432 db -- ./report.sh
      run report.sh with a tunnel on a free port, given in $TETHER_PORT
  tether -f -L 8080:intranet:80 alice@gateway && curl http://localhost:8080/
      go to the background once the forward works; it still ends with the
      shell
  tether -L '[::1]:6379:cache:6379' --ttl 30m -p 2222 jump
      listen on IPv6 loopback only, for at most 30 minutes
  tether -L /tmp/docker.sock:/var/run/docker.sock build
      reach the Docker daemon on build through a local socket
  tether -D 1080 bastion
      a SOCKS proxy on localhost:1080 through bastion, for a browser or
      curl's proxy socks5h://localhost:1080
  tether -R 8080:localhost:3000 dev
      show the dev server of this machine on dev's localhost:8080, until
      Ctrl-C; the port on dev is freed when tether ends
  tether stop :5432
      stop whichever tunnel of yours forwards local port 5432)";

/// argv as CLI11 collected it; nothing is checked yet.
struct RawArgs {
  std::vector<std::string> forwards;          ///< -L, in order
  std::vector<std::string> dynamic_forwards;  ///< -D, in order
  std::vector<std::string> remote_forwards;   ///< -R, in order
  std::vector<std::string> ssh_options;       ///< -o, in order
  std::vector<std::string> identity_files;    ///< -i, in order
  std::vector<std::string> jump_hosts;        ///< -J: at most one, as in ssh
  std::vector<std::string> positionals;       ///< the destination, plus strays before "--"
  std::optional<std::string> port, user, log_file, config_file, ciphers, macs, bind_address;
  std::optional<std::string> ttl, idle_timeout, keepalive, keepalive_count, tie_to, sessions;
  std::optional<std::string> log_format;
  // Flags are read through their counts; CLI::App owns the options.
  const CLI::Option* gateway_ports = nullptr;
  const CLI::Option* ipv4_only = nullptr;
  const CLI::Option* ipv6_only = nullptr;
  const CLI::Option* print_config = nullptr;
  const CLI::Option* fork = nullptr;
  const CLI::Option* reconnect = nullptr;
  const CLI::Option* quiet = nullptr;
  const CLI::Option* verbose = nullptr;
  const CLI::Option* help = nullptr;
  const CLI::Option* version = nullptr;
};

/// Applies one -o value, already split into words, to *out; on failure *detail says why
/// and names the value.
using SshOptionApply = bool (*)(const std::vector<std::string>& words, Options* out,
                                std::string* detail);

/// One -o key tether understands.
struct SshOptionHandler {
  std::string_view key;  ///< lower case
  bool accumulates;      ///< list key: every value counts, not only the first
  SshOptionApply apply;
};

std::string BadValue(std::string_view value, std::string_view expected) {
  return "bad value " + QuoteForMessage(value) + " (expected " + std::string(expected) + ")";
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

/// A server port as -p and -o Port take it: 1-65535; else *detail names the value.
std::optional<uint16_t> ParseServerPort(std::string_view text, std::string* detail) {
  if (const std::optional<uint16_t> port = ParsePort(text)) return port;
  *detail = BadValue(text, "a port 1-65535");
  return std::nullopt;
}

/// --keepalive-count and -o ServerAliveCountMax: 1 to kMaxKeepaliveCount.
std::optional<int> ParseKeepaliveCount(std::string_view text, std::string* detail) {
  const std::optional<uint64_t> count = ParseDecimal(text, kMaxKeepaliveCount);
  if (count && *count > 0) return static_cast<int>(*count);
  *detail = BadValue(text, "a number 1-" + std::to_string(kMaxKeepaliveCount));
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// -o values

bool OneWord(const std::vector<std::string>& words, std::string* detail) {
  if (words.size() == 1) return true;
  std::string joined;
  for (const std::string& word : words) joined += (joined.empty() ? "" : " ") + word;
  *detail = BadValue(joined, "one value");
  return false;
}

std::optional<bool> ParseYesNo(std::string_view text) {
  const std::string lower = Lowercase(text);
  if (lower == "yes" || lower == "true") return true;
  if (lower == "no" || lower == "false") return false;
  return std::nullopt;
}

bool ApplyUser(const std::vector<std::string>& words, Options* out, std::string* detail) {
  if (!OneWord(words, detail)) return false;
  if (HasControlCharacter(words[0])) {
    *detail = "bad value " + QuoteForMessage(words[0]) + ": contains a control character";
    return false;
  }
  out->user = words[0];
  return true;
}

bool ApplyPort(const std::vector<std::string>& words, Options* out, std::string* detail) {
  if (!OneWord(words, detail)) return false;
  const std::optional<uint16_t> port = ParseServerPort(words[0], detail);
  if (port) out->port = port;
  return port.has_value();
}

bool ApplyIdentityFile(const std::vector<std::string>& words, Options* out, std::string* detail) {
  if (!OneWord(words, detail)) return false;
  out->identity_files.push_back(words[0]);
  return true;
}

bool ApplyUserKnownHostsFile(const std::vector<std::string>& words, Options* out, std::string*) {
  out->user_known_hosts_files.insert(out->user_known_hosts_files.end(), words.begin(), words.end());
  return true;
}

bool ApplyGlobalKnownHostsFile(const std::vector<std::string>& words, Options* out,
                               std::string* detail) {
  if (!OneWord(words, detail)) return false;
  out->global_known_hosts_file = words[0];
  return true;
}

bool ApplyStrictHostKeyChecking(const std::vector<std::string>& words, Options* out,
                                std::string* detail) {
  if (!OneWord(words, detail)) return false;
  const std::string value = Lowercase(words[0]);
  // tether never prompts, so "ask" gets the strict answer a prompt-less ssh would give.
  if (value == "yes" || value == "true" || value == "ask") {
    out->host_key_policy = HostKeyPolicy::kStrict;
  } else if (value == "accept-new") {
    out->host_key_policy = HostKeyPolicy::kAcceptNew;
  } else if (value == "no" || value == "off" || value == "false") {
    out->host_key_policy = HostKeyPolicy::kOff;
  } else {
    *detail = BadValue(words[0], "yes, accept-new or no");
    return false;
  }
  return true;
}

bool ApplyConnectTimeout(const std::vector<std::string>& words, Options* out, std::string* detail) {
  if (!OneWord(words, detail)) return false;
  const std::optional<seconds> timeout = ParseDuration(words[0], detail);
  if (!timeout) return false;
  if (*timeout == seconds::zero()) {
    *detail = BadValue(words[0], "more than 0");
    return false;
  }
  out->connect_timeout = timeout;
  return true;
}

bool ApplyServerAliveInterval(const std::vector<std::string>& words, Options* out,
                              std::string* detail) {
  if (!OneWord(words, detail)) return false;
  const std::optional<seconds> interval = ParseDuration(words[0], detail);
  if (!interval) return false;
  out->keepalive_interval = *interval;
  out->keepalive_interval_given = true;
  return true;
}

bool ApplyServerAliveCountMax(const std::vector<std::string>& words, Options* out,
                              std::string* detail) {
  if (!OneWord(words, detail)) return false;
  const std::optional<int> count = ParseKeepaliveCount(words[0], detail);
  if (count) {
    out->keepalive_count = *count;
    out->keepalive_count_given = true;
  }
  return count.has_value();
}

bool ApplyBatchMode(const std::vector<std::string>& words, Options* out, std::string* detail) {
  if (!OneWord(words, detail)) return false;
  const std::optional<bool> value = ParseYesNo(words[0]);
  if (!value) *detail = BadValue(words[0], "yes or no");
  out->batch_mode = value.value_or(false);
  return value.has_value();
}

bool ApplyGatewayPorts(const std::vector<std::string>& words, Options* out, std::string* detail) {
  if (!OneWord(words, detail)) return false;
  const std::optional<bool> value = ParseYesNo(words[0]);
  if (!value) *detail = BadValue(words[0], "yes or no");
  out->gateway_ports = value.value_or(false);
  return value.has_value();
}

// ssh_config writes a forward as words: LocalForward and RemoteForward two,
// "[bind_address:]port host:hostport", which ssh joins with ':' and reads with the -L or -R
// grammar, and so does tether; DynamicForward one, "[bind_address:]port".
bool ApplyForwardWords(const std::vector<std::string>& words, size_t count,
                       std::string_view expected, ForwardSpecParser parse,
                       std::vector<ForwardSpec>* forwards, std::string* detail) {
  std::string reason;
  std::string joined;
  for (const std::string& word : words) joined += (joined.empty() ? "" : ":") + word;
  if (words.size() != count) {
    reason = "expected " + std::string(expected);
  } else if (auto forward = parse(joined, &reason)) {
    forwards->push_back(*forward);
    return true;
  }
  std::string shown;
  for (const std::string& word : words) shown += (shown.empty() ? "" : " ") + word;
  *detail = "bad value " + QuoteForMessage(shown) + ": " + reason;
  return false;
}

bool ApplyLocalForward(const std::vector<std::string>& words, Options* out, std::string* detail) {
  return ApplyForwardWords(words, 2, "[bind_address:]port host:hostport", ParseForwardSpecReason,
                           &out->forwards, detail);
}

bool ApplyDynamicForward(const std::vector<std::string>& words, Options* out, std::string* detail) {
  return ApplyForwardWords(words, 1, "[bind_address:]port", ParseDynamicForwardSpecReason,
                           &out->forwards, detail);
}

bool ApplyRemoteForward(const std::vector<std::string>& words, Options* out, std::string* detail) {
  return ApplyForwardWords(words, 2, "[bind_address:]port host:hostport",
                           ParseRemoteForwardSpecReason, &out->remote_forwards, detail);
}

// -J and -o ProxyJump: checked here so that a typo is a usage error (64) before anything
// connects; the list is parsed again when the chain is planned.
bool CheckJumpHosts(std::string_view text, std::string* detail) {
  std::string error;
  if (ParseJumpList(text, &error)) return true;
  *detail = error;
  return false;
}

bool ApplyProxyJump(const std::vector<std::string>& words, Options* out, std::string* detail) {
  if (!OneWord(words, detail) || !CheckJumpHosts(words[0], detail)) return false;
  out->jump_hosts = words[0];
  return true;
}

bool IgnoreValue(const std::vector<std::string>&, Options*, std::string*) { return true; }

// Keys a tunnel has no use for, accepted so that -o lines copied from ssh scripts keep
// working. Each is harmless to drop: it concerns sessions, terminals, agents, X11,
// multiplexing, host-key display or logging, none of which tether has, or it asks for what
// tether always does (ExitOnForwardFailure). Keys that would weaken or change security or
// routing (Ciphers, ProxyCommand, HostName, ...) are deliberately not here: silently
// ignoring those would surprise, so they fail as unknown.
constexpr SshOptionHandler kSshOptionHandlers[] = {
    {"user", false, ApplyUser},
    {"port", false, ApplyPort},
    {"identityfile", true, ApplyIdentityFile},
    {"userknownhostsfile", true, ApplyUserKnownHostsFile},
    {"globalknownhostsfile", false, ApplyGlobalKnownHostsFile},
    {"stricthostkeychecking", false, ApplyStrictHostKeyChecking},
    {"connecttimeout", false, ApplyConnectTimeout},
    {"serveraliveinterval", false, ApplyServerAliveInterval},
    {"serveralivecountmax", false, ApplyServerAliveCountMax},
    {"batchmode", false, ApplyBatchMode},
    {"gatewayports", false, ApplyGatewayPorts},
    {"localforward", true, ApplyLocalForward},
    {"dynamicforward", true, ApplyDynamicForward},
    {"proxyjump", false, ApplyProxyJump},
    {"remoteforward", true, ApplyRemoteForward},
    {"addkeystoagent", false, IgnoreValue},
    {"checkhostip", false, IgnoreValue},
    {"compression", false, IgnoreValue},
    {"controlmaster", false, IgnoreValue},
    {"controlpath", false, IgnoreValue},
    {"controlpersist", false, IgnoreValue},
    {"escapechar", false, IgnoreValue},
    {"exitonforwardfailure", false, IgnoreValue},
    {"forwardagent", false, IgnoreValue},
    {"forwardx11", false, IgnoreValue},
    {"forwardx11trusted", false, IgnoreValue},
    {"loglevel", false, IgnoreValue},
    {"requesttty", false, IgnoreValue},
    {"sessiontype", false, IgnoreValue},
    {"tcpkeepalive", false, IgnoreValue},
    {"updatehostkeys", false, IgnoreValue},
    {"visualhostkey", false, IgnoreValue},
};

// Keys the tunnel plan reads from ssh_config: given with -o they are handed to the same
// reader, ahead of the files, which checks their values. Keys ssh has but tether does not
// honour (HostKeyAlias, ProxyCommand, ...) stay unknown here rather than silently dropped.
constexpr std::string_view kConfigFileKeys[] = {
    "addressfamily",
    "bindaddress",
    "ciphers",
    "connectionattempts",
    "hashknownhosts",
    "hostkeyalgorithms",
    "hostname",
    "identitiesonly",
    "identityagent",
    "kbdinteractiveauthentication",
    "kexalgorithms",
    "macs",
    "numberofpasswordprompts",
    "passwordauthentication",
    "pubkeyauthentication",
    "challengeresponseauthentication",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
};

bool ReadWithConfigFiles(std::string_view lower_key) {
  return std::find(std::begin(kConfigFileKeys), std::end(kConfigFileKeys), lower_key) !=
             std::end(kConfigFileKeys) &&
         IsSshConfigKeyword(lower_key);
}

const SshOptionHandler* FindSshOptionHandler(std::string_view lower_key) {
  for (const SshOptionHandler& handler : kSshOptionHandlers) {
    if (handler.key == lower_key) return &handler;
  }
  return nullptr;
}

/// Splits "Key=Value", "Key Value" or "Key = Value" as ssh_config lines split.
bool SplitKeyValue(std::string_view line, std::string* key, std::string* value) {
  auto skip_spaces = [&line] {
    while (!line.empty() && IsSpace(line.front())) line.remove_prefix(1);
  };
  skip_spaces();
  size_t key_end = 0;
  while (key_end < line.size() && !IsSpace(line[key_end]) && line[key_end] != '=') ++key_end;
  *key = std::string(line.substr(0, key_end));
  line.remove_prefix(key_end);
  skip_spaces();
  if (!line.empty() && line.front() == '=') line.remove_prefix(1);
  skip_spaces();
  while (!line.empty() && IsSpace(line.back())) line.remove_suffix(1);
  *value = std::string(line);
  return !key->empty();
}

/// Splits a value into words on blanks; "double quotes" keep blanks inside one word.
bool SplitWords(std::string_view value, std::vector<std::string>* words) {
  std::string word;
  bool in_word = false;
  bool quoted = false;
  for (char c : value) {
    if (c == '"') {
      quoted = !quoted;
      in_word = true;
    } else if (IsSpace(c) && !quoted) {
      if (in_word) words->push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words->push_back(word);
  return !quoted;
}

// ssh keeps the first value given for a key, yet still rejects a malformed later one, so
// every value is checked and only the first is kept.
bool ApplySshOption(const std::string& line, std::set<std::string>* seen, Options* out,
                    std::string* error) {
  std::string key, value;
  if (!SplitKeyValue(line, &key, &value)) {
    *error = "bad -o " + QuoteForMessage(line) + ": expected KEY=VALUE";
    return false;
  }
  const std::string lower_key = Lowercase(key);
  const SshOptionHandler* handler = FindSshOptionHandler(lower_key);
  if (handler == nullptr && ReadWithConfigFiles(lower_key)) {
    // Read with the configuration files, before them, by the same reader: it checks the
    // value (a bad one is still a usage error) and the first value wins as in ssh.
    out->ssh_config_lines.push_back(key + " " + value);
    return true;
  }
  if (handler == nullptr) {
    *error = "unknown -o option " + QuoteForMessage(key);
    return false;
  }
  const std::string prefix = "-o " + key + ": ";
  std::vector<std::string> words;
  if (!SplitWords(value, &words)) {
    *error = prefix + "unterminated quote in " + QuoteForMessage(value);
    return false;
  }
  if (words.empty()) {
    *error = prefix + "missing value";
    return false;
  }
  Options discarded;
  const bool first = seen->insert(lower_key).second;
  Options* target = first || handler->accumulates ? out : &discarded;
  std::string detail;
  if (handler->apply(words, target, &detail)) return true;
  *error = prefix + detail;
  return false;
}

bool ApplySshOptions(const std::vector<std::string>& lines, Options* out, std::string* error) {
  std::set<std::string> seen;
  for (const std::string& line : lines) {
    if (!ApplySshOption(line, &seen, out, error)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Flags

bool ParseForwardFlags(const std::vector<std::string>& specs, ForwardSpecParser parse,
                       std::vector<ForwardSpec>* forwards, std::string* error) {
  for (const std::string& spec : specs) {
    std::optional<ForwardSpec> forward = parse(spec, error);
    if (!forward) return false;
    forwards->push_back(*forward);
  }
  return true;
}

bool ApplyForwards(const RawArgs& raw, Options* out, std::string* error) {
  std::vector<ForwardSpec> forwards;
  std::vector<ForwardSpec> remote_forwards;
  if (!ParseForwardFlags(raw.forwards, ParseForwardSpec, &forwards, error) ||
      !ParseForwardFlags(raw.dynamic_forwards, ParseDynamicForwardSpec, &forwards, error) ||
      !ParseForwardFlags(raw.remote_forwards, ParseRemoteForwardSpec, &remote_forwards, error)) {
    return false;
  }
  // -L, then -D forwards come first, then those from -o LocalForward and DynamicForward;
  // -R forwards before those from -o RemoteForward.
  out->forwards.insert(out->forwards.begin(), forwards.begin(), forwards.end());
  out->remote_forwards.insert(out->remote_forwards.begin(), remote_forwards.begin(),
                              remote_forwards.end());
  return true;
}

bool NonEmpty(std::string_view flag, const std::optional<std::string>& value,
              std::string_view expected, std::string* error) {
  if (!value || !value->empty()) return true;
  *error = std::string(flag) + ": " + BadValue(*value, expected);
  return false;
}

/// -c, -m, -b, -4, -6: flags that stand for ssh_config lines. They go before the -o lines,
/// so that they win over -o as ssh's flags do; the reader checks their values.
bool ApplyConfigFlags(const RawArgs& raw, Options* out, std::string* error) {
  if (!NonEmpty("-c", raw.ciphers, "a cipher list", error) ||
      !NonEmpty("-m", raw.macs, "a MAC list", error) ||
      !NonEmpty("-b", raw.bind_address, "an address", error)) {
    return false;
  }
  if (raw.ipv4_only->count() > 0 && raw.ipv6_only->count() > 0) {
    *error = "-4 and -6 exclude each other";
    return false;
  }
  std::vector<std::string> lines;
  for (const auto& [keyword, value] :
       {std::pair{"Ciphers", raw.ciphers}, std::pair{"MACs", raw.macs},
        std::pair{"BindAddress", raw.bind_address}}) {
    if (value && HasControlCharacter(*value)) {
      *error = std::string(keyword) + ": bad value " + QuoteForMessage(*value) +
               ": contains a control character";
      return false;
    }
    if (value) lines.push_back(std::string(keyword) + " " + *value);
  }
  if (raw.ipv4_only->count() > 0) lines.push_back("AddressFamily inet");
  if (raw.ipv6_only->count() > 0) lines.push_back("AddressFamily inet6");
  out->ssh_config_lines.insert(out->ssh_config_lines.begin(), lines.begin(), lines.end());
  out->print_config = raw.print_config->count() > 0;
  return true;
}

/// -J wins over -o ProxyJump; ssh allows a single -J (hops go in one comma list).
bool ApplyJumpFlag(const std::vector<std::string>& values, Options* out, std::string* error) {
  if (values.empty()) return true;
  std::string detail;
  if (values.size() > 1) {
    *error = "-J: give it once, with the jump hosts separated by commas";
    return false;
  }
  if (!CheckJumpHosts(values[0], &detail)) {
    *error = "-J: " + detail;
    return false;
  }
  out->jump_hosts = values[0];
  return true;
}

// Explicit flags run after -o, so that they win over it as they do in ssh.
bool ApplySshFlags(const RawArgs& raw, Options* out, std::string* error) {
  if (!ApplyForwards(raw, out, error)) return false;
  if (!ApplyJumpFlag(raw.jump_hosts, out, error)) return false;
  if (raw.port) {
    std::string detail;
    out->port = ParseServerPort(*raw.port, &detail);
    if (!out->port) {
      *error = "-p: " + detail;
      return false;
    }
  }
  if (!NonEmpty("-l", raw.user, "a user name", error) ||
      !NonEmpty("-E", raw.log_file, "a file name", error) ||
      !NonEmpty("-F", raw.config_file, "a file name", error)) {
    return false;
  }
  if (raw.user && HasControlCharacter(*raw.user)) {
    *error = "-l: bad value " + QuoteForMessage(*raw.user) + ": contains a control character";
    return false;
  }
  if (!ApplyConfigFlags(raw, out, error)) return false;
  if (raw.user) out->user = *raw.user;
  if (raw.log_file) out->log_file = *raw.log_file;
  if (raw.config_file) out->config_file = *raw.config_file;
  out->identity_files.insert(out->identity_files.begin(), raw.identity_files.begin(),
                             raw.identity_files.end());
  out->gateway_ports = out->gateway_ports || raw.gateway_ports->count() > 0;
  out->fork_after_ready = raw.fork->count() > 0;
  out->reconnect = raw.reconnect->count() > 0;
  out->quiet = raw.quiet->count() > 0;
  out->verbosity = static_cast<int>(raw.verbose->count());
  return true;
}

/// --ttl and --idle-timeout: a duration above zero, or "none" for no limit.
bool ApplyLimit(std::string_view flag, const std::optional<std::string>& text,
                std::optional<seconds>* limit, std::string* error) {
  if (!text) return true;
  if (*text == "none") {
    limit->reset();
    return true;
  }
  std::string problem;
  const std::optional<seconds> value = ParseDuration(*text, &problem);
  if (value && *value == seconds::zero()) problem = BadValue(*text, "more than 0, or none");
  if (!value || *value == seconds::zero()) {
    *error = std::string(flag) + ": " + problem;
    return false;
  }
  *limit = value;
  return true;
}

bool ApplyKeepalive(const RawArgs& raw, Options* out, std::string* error) {
  if (raw.keepalive) {
    std::string problem;
    const std::optional<seconds> interval = ParseDuration(*raw.keepalive, &problem);
    if (!interval) {
      *error = "--keepalive: " + problem;
      return false;
    }
    out->keepalive_interval = *interval;
    out->keepalive_interval_given = true;
  }
  if (raw.keepalive_count) {
    std::string detail;
    const std::optional<int> count = ParseKeepaliveCount(*raw.keepalive_count, &detail);
    if (!count) {
      *error = "--keepalive-count: " + detail;
      return false;
    }
    out->keepalive_count = *count;
    out->keepalive_count_given = true;
  }
  if (raw.sessions) {
    const std::optional<uint64_t> sessions = ParseDecimal(*raw.sessions, kMaxSessions);
    if (!sessions || *sessions == 0) {
      *error =
          "--sessions: " + BadValue(*raw.sessions, "a number 1-" + std::to_string(kMaxSessions));
      return false;
    }
    out->max_sessions = static_cast<int>(*sessions);
  }
  return true;
}

bool ApplyLifetimeFlags(const RawArgs& raw, Options* out, std::string* error) {
  if (!ApplyLimit("--ttl", raw.ttl, &out->ttl, error) ||
      !ApplyLimit("--idle-timeout", raw.idle_timeout, &out->idle_timeout, error) ||
      !ApplyKeepalive(raw, out, error)) {
    return false;
  }
  if (raw.tie_to) {
    const std::optional<uint64_t> pid =
        ParseDecimal(*raw.tie_to, static_cast<uint64_t>(std::numeric_limits<pid_t>::max()));
    if (!pid || *pid == 0) {
      *error = "--tie-to: " + BadValue(*raw.tie_to, "a process id above 0");
      return false;
    }
    out->tie_to = static_cast<pid_t>(*pid);
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Destination and the parse itself

/// Empty when `host` may be a destination host (brackets already removed).
std::string HostProblem(std::string_view host) {
  if (host.empty()) return "missing host";
  // Such a name could only be a mistyped option, and ssh refuses it for the same reason.
  if (host.front() == '-') return "host starts with '-'";
  if (HasControlCharacter(host)) return "host contains a control character";
  const size_t bad = host.find_first_of(" \t/[]");
  if (bad != std::string_view::npos) return "host contains " + QuoteForMessage(host.substr(bad, 1));
  return "";
}

/// "[user@]host": the last '@' splits, since a user name may itself contain '@'.
bool ApplyDestination(const std::string& destination, bool user_given, Options* out,
                      std::string* error) {
  const size_t at = destination.rfind('@');
  std::string_view host(destination);
  if (at != std::string::npos) {
    host.remove_prefix(at + 1);
    if (at == 0) {
      *error = "bad destination " + QuoteForMessage(destination) + ": empty user name";
      return false;
    }
    if (HasControlCharacter(destination.substr(0, at))) {
      *error =
          "bad destination " + QuoteForMessage(destination) + ": user contains a control character";
      return false;
    }
    // -l is the more deliberate choice, as `ssh -l alice bob@host` logs in as alice.
    if (!user_given) out->user = destination.substr(0, at);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string problem = HostProblem(host);
  if (!problem.empty()) {
    *error = "bad destination " + QuoteForMessage(destination) + ": " + problem;
    return false;
  }
  out->host = std::string(host);
  return true;
}

bool ApplyPositionals(const RawArgs& raw, Options* out, std::string* error) {
  if (raw.positionals.empty()) {
    *error = "missing destination host";
    return false;
  }
  if (raw.positionals.size() > 1) {
    *error = "unexpected argument " + QuoteForMessage(raw.positionals[1]) +
             " (put a command after '--')";
    return false;
  }
  return ApplyDestination(raw.positionals[0], raw.user.has_value(), out, error);
}

bool ApplyLogFormat(const std::optional<std::string>& text, Options* out, std::string* error) {
  if (!text || *text == "text") return true;
  if (*text == "json") {
    out->log_format = LogFormat::kJson;
    return true;
  }
  *error = "--log-format: " + BadValue(*text, "text or json");
  return false;
}

bool BuildOptions(const RawArgs& raw, Options* out, std::string* error) {
  if (!ApplySshOptions(raw.ssh_options, out, error) || !ApplySshFlags(raw, out, error) ||
      !ApplyLifetimeFlags(raw, out, error) || !ApplyLogFormat(raw.log_format, out, error) ||
      !ApplyPositionals(raw, out, error)) {
    return false;
  }
  // "no forward given" is decided once LocalForward lines in ssh_config have been read.
  return true;
}

void AddValueOption(CLI::App* app, const std::string& name, std::optional<std::string>* slot) {
  app->add_option_function<std::string>(name, [slot](const std::string& value) { *slot = value; })
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

// Every value is taken as a string; the help text is kHelpText, not CLI11's.
void DefineTunnelOptions(CLI::App* app, RawArgs* raw) {
  app->set_help_flag();
  // Unknown options are collected instead of thrown so the message can be tether's own.
  app->allow_extras();
  // allow_extra_args(false): one value per -L, or "-L a:1:b:2 host" would swallow host.
  app->add_option("-L", raw->forwards)->allow_extra_args(false);
  app->add_option("-D", raw->dynamic_forwards)->allow_extra_args(false);
  app->add_option("-R", raw->remote_forwards)->allow_extra_args(false);
  app->add_option("-o", raw->ssh_options)->allow_extra_args(false);
  app->add_option("-i", raw->identity_files)->allow_extra_args(false);
  app->add_option("-J", raw->jump_hosts)->allow_extra_args(false);
  AddValueOption(app, "-p", &raw->port);
  AddValueOption(app, "-l", &raw->user);
  AddValueOption(app, "-E", &raw->log_file);
  AddValueOption(app, "-F", &raw->config_file);
  AddValueOption(app, "-c", &raw->ciphers);
  AddValueOption(app, "-m", &raw->macs);
  AddValueOption(app, "-b", &raw->bind_address);
  AddValueOption(app, "--ttl", &raw->ttl);
  AddValueOption(app, "--idle-timeout", &raw->idle_timeout);
  AddValueOption(app, "--keepalive", &raw->keepalive);
  AddValueOption(app, "--keepalive-count", &raw->keepalive_count);
  AddValueOption(app, "--tie-to", &raw->tie_to);
  AddValueOption(app, "--sessions", &raw->sessions);
  AddValueOption(app, "--log-format", &raw->log_format);
  raw->gateway_ports = app->add_flag("-g");
  raw->ipv4_only = app->add_flag("-4");
  raw->ipv6_only = app->add_flag("-6");
  raw->print_config = app->add_flag("-G");
  raw->fork = app->add_flag("-f");
  raw->reconnect = app->add_flag("--reconnect");
  raw->quiet = app->add_flag("-q");
  raw->verbose = app->add_flag("-v");
  raw->help = app->add_flag("-h,--help");
  raw->version = app->add_flag("-V,--version");
  // ssh's "no remote command", "no tty" and "no stdin": always so for a tunnel.
  app->add_flag("-N,-T,-n");
  app->add_option("destination", raw->positionals);
}

bool TakesValue(const CLI::App& app, const std::string& name) {
  const CLI::Option* option = app.get_option_no_throw(name);
  return option != nullptr && option->get_items_expected_min() > 0;
}

/// The option name when `arg` is an option, or a cluster of short ones ("-fL"), whose value
/// is the next argument; nullopt otherwise.
std::optional<std::string> OptionTakingNextArg(const CLI::App& app, const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-') return std::nullopt;
  if (arg[1] == '-') {
    return TakesValue(app, arg) ? std::optional<std::string>(arg) : std::nullopt;
  }
  for (size_t i = 1; i < arg.size(); ++i) {
    const std::string name{'-', arg[i]};
    // An unknown letter ends the cluster for CLI11 too; it is reported after the parse.
    if (app.get_option_no_throw(name) == nullptr) return std::nullopt;
    if (TakesValue(app, name)) {
      return i + 1 == arg.size() ? std::optional<std::string>(name) : std::nullopt;
    }
  }
  return std::nullopt;
}

/// "--ttl" for "--ttl=": a long option that needs a value, given none after its '='.
std::optional<std::string> LongOptionWithoutValue(const CLI::App& app, const std::string& arg) {
  if (arg.size() < 4 || arg.rfind("--", 0) != 0 || arg.back() != '=') return std::nullopt;
  const std::string name = arg.substr(0, arg.size() - 1);
  return TakesValue(app, name) ? std::optional<std::string>(name) : std::nullopt;
}

// CLI11 would read the arguments after "--" as more destinations, and reports an option
// left without its value in words of its own; so the end of tether's own arguments is
// found first. An option value that is "--" stays a value, as CLI11 reads it.
bool FindOptionsEnd(const CLI::App& app, const std::vector<std::string>& args, size_t* end,
                    std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      *end = i;
      return true;
    }
    std::optional<std::string> option = LongOptionWithoutValue(app, args[i]);
    if (!option) {
      option = OptionTakingNextArg(app, args[i]);
      if (!option) continue;
      if (++i < args.size()) continue;
    }
    *error = "option " + *option + " needs a value";
    return false;
  }
  *end = args.size();
  return true;
}

/// Runs CLI11 over args[0, end); returns an error message, or nullopt when parsed.
std::optional<std::string> RunCli11(CLI::App* app, const std::vector<std::string>& args,
                                    size_t end) {
  std::vector<std::string> reversed(args.rbegin() + static_cast<ptrdiff_t>(args.size() - end),
                                    args.rend());
  try {
    app->parse(reversed);
  } catch (const CLI::Error& e) {
    return std::string(e.what()) + " (see tether --help)";
  }
  const std::vector<std::string> unknown = app->remaining();
  if (unknown.empty()) return std::nullopt;
  return "unknown option " + QuoteForMessage(unknown.front()) + " (see tether --help)";
}

CommandLine ParseTunnelCommand(const std::vector<std::string>& args) {
  if (args.empty()) {
    return UsageError<CommandLine>("usage: " + std::string(kUsageLine) + " (see tether --help)");
  }
  CLI::App app("tether", "tether");
  RawArgs raw;
  DefineTunnelOptions(&app, &raw);
  size_t end = 0;
  std::string error;
  if (!FindOptionsEnd(app, args, &end, &error)) return UsageError<CommandLine>(error);
  const std::optional<std::string> cli_error = RunCli11(&app, args, end);
  // Asking for help or the version is answered even next to a mistake.
  if (raw.help->count() > 0) return Finished<CommandLine>(kHelpText);
  if (raw.version->count() > 0) {
    return Finished<CommandLine>("tether " TETHER_VERSION " (libssh2 " LIBSSH2_VERSION ")");
  }
  if (cli_error) return UsageError<CommandLine>(*cli_error);
  CommandLine result;
  if (!BuildOptions(raw, &result.options, &error)) return UsageError<CommandLine>(error);
  result.options.command.assign(
      args.begin() + static_cast<ptrdiff_t>(std::min(end + 1, args.size())), args.end());
  return result;
}

}  // namespace

LogFormat LogFormatOnCommandLine(int argc, const char* const* argv) {
  CLI::App app("tether", "tether");
  RawArgs raw;
  DefineTunnelOptions(&app, &raw);
  constexpr std::string_view kFlag = "--log-format", kFlagWithValue = "--log-format=";
  std::string_view format;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == kFlag && i + 1 < argc) {
      format = argv[++i];
    } else if (arg.rfind(kFlagWithValue, 0) == 0) {
      format = std::string_view(argv[i]).substr(kFlagWithValue.size());
    } else if (OptionTakingNextArg(app, arg)) {
      ++i;  // a value, even one that reads "--log-format"
    }
  }
  return format == "json" ? LogFormat::kJson : LogFormat::kText;
}

CommandLine ParseCommandLine(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return ParseTunnelCommand(args);
}

}  // namespace tether
