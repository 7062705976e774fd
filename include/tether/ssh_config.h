#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

/// The role a configuration file plays; ssh applies different rules to each.
enum class SshConfigRole {
  kUser,      ///< ~/.ssh/config: may be missing; refused when others can write it.
  kExplicit,  ///< -F FILE: must exist; otherwise read like kUser.
  kSystem,    ///< /etc/ssh/ssh_config: may be missing; relative Includes live in /etc/ssh.
};

/// One file to read, in the order given.
struct SshConfigFile {
  std::string path;
  SshConfigRole role = SshConfigRole::kUser;
};

/// ~/.ssh/config then /etc/ssh/ssh_config: what ssh reads when -F is not given.
std::vector<SshConfigFile> DefaultSshConfigFiles(const std::string& home);

/// What the command line and the local account contribute before any file is read.
struct SshConfigContext {
  std::string host;        ///< destination as typed, after the user@ split (Host, %n)
  std::string local_user;  ///< %u, Match localuser; the remote user when nobody names one
  std::string home;        ///< %d, ~ expansion, base of relative Includes in user files
  /// -l, user@host or -o User; empty = not given. Like every obtained value it wins over
  /// User in the files, and it is what %r and Match user see.
  std::string user;
  std::optional<uint16_t> port;  ///< -p or -o Port; wins over Port in the files (%p)
  /// -o lines ("Key Value") that the command line does not handle itself: read before any
  /// file, with the same rules, so their values win. Errors name kCommandLineOrigin.
  std::vector<std::string> command_line;
};

/// How errors in SshConfigContext::command_line lines name their origin.
inline constexpr char kCommandLineOrigin[] = "-o";

/// True for every keyword the reader knows and tether honours (any case), Host, Match and
/// Include included; false for those it only warns about (ProxyCommand, ...).
bool IsSshConfigKeyword(std::string_view name);

/// ssh_config read with OpenSSH's rules: for each key the first obtained value wins, Host
/// and Match blocks select what applies to the destination, Include pulls in more files,
/// and %-tokens and ~ are expanded where ssh expands them. Unknown keys are ignored.
///
/// Values come back normalized the way `ssh -G` prints them: lowercase key names, flags as
/// "yes"/"no", times in seconds, choices in ssh's spelling (StrictHostKeyChecking "true",
/// "false", "ask" or "accept-new"; PubkeyAuthentication "true", "false", "unbound" or
/// "host-bound"), LocalForward and RemoteForward as one -L/-R string "listen:target".
class SshConfig {
 public:
  /// Reads `files` in order (user file, then system file), then expands tokens. A missing
  /// file is skipped unless its role is kExplicit. On a malformed line, a refused Match, an
  /// unreadable or unsafe file, returns nullopt with *error as "file:line: what" (the caller
  /// exits 65). Keys that matter but that tether does not honour yet (ProxyCommand, ...)
  /// add "file:line: tether ignores Key" to *warnings, once per line.
  static std::optional<SshConfig> Load(const std::vector<SshConfigFile>& files,
                                       const SshConfigContext& context, std::string* error,
                                       std::vector<std::string>* warnings);

  /// The value of `key` (any case), or nullopt when nothing set it. "hostname" is always
  /// present: HostName with %h expanded, else the host as typed, lowercased like ssh does.
  std::optional<std::string> Get(std::string_view key) const;
  /// Every value of `key` in the order obtained: IdentityFile, CertificateFile,
  /// LocalForward, RemoteForward, SendEnv, and the files of UserKnownHostsFile /
  /// GlobalKnownHostsFile.
  std::vector<std::string> GetAll(std::string_view key) const;
  /// "key value" lines sorted by key, like `ssh -G` prints them for the keys set here.
  std::string Dump() const;

 private:
  /// Lowercase key → values; single-valued keys hold exactly one.
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

/// ssh's wildcard match of one name against one pattern: '*' is any run of characters, '?'
/// exactly one; the whole name must match; case-sensitive.
bool MatchPattern(std::string_view text, std::string_view pattern);

/// True when `host` matches at least one pattern of `pattern_list` (separated by commas
/// and/or blanks) and no pattern negated with '!': one negated match fails the whole list,
/// and a list of negations alone matches nothing. Case-sensitive, as ssh compares a Host
/// line with the name typed.
bool MatchHostPatterns(std::string_view host, std::string_view pattern_list);

}  // namespace tether
