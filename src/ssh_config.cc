#include "tether/ssh_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <span>
#include <utility>

#include "tether/forward_spec.h"
#include "tether/jump_spec.h"
#include "tether/message_text.h"
#include "tether/regular_file.h"
#include "tether/text.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

// A real ssh_config line is short; a longer one is garbage or an attack, never a config.
constexpr size_t kMaxLineBytes = size_t{1} << 20;
// OpenSSH's READCONF_MAX_DEPTH: deeper nesting is taken as an Include loop.
constexpr int kMaxIncludeDepth = 16;
// match_pattern_list() gives up (no match) on a longer sub-pattern; so do we.
constexpr size_t kMaxListPattern = 1023;
constexpr std::string_view kBlanks = " \t\r\n";
constexpr std::string_view kCommandLine = "command line";

// ---------------------------------------------------------------------------------------
// Text helpers

std::string_view SkipBlanks(std::string_view text) {
  const size_t start = text.find_first_not_of(kBlanks);
  return start == std::string_view::npos ? std::string_view() : text.substr(start);
}

// Messages stay on one short line whatever bytes the file holds.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 200;
  const bool cut = text.size() > kMaxShown;
  std::string out = "'";
  for (char c : text.substr(0, kMaxShown)) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7f) ? '?' : c;
  }
  return out + (cut ? "...'" : "'");
}

// ssh's resolve_addr(): the canonical numeric form of a single address, e.g. "10.1" →
// "10.0.0.1"; nullopt for anything else. Never touches the network.
std::optional<std::string> CanonicalAddress(const std::string& host, int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), "22", &hints, &result) != 0) return std::nullopt;
  char text[NI_MAXHOST] = {};
  const bool single = result != nullptr && result->ai_next == nullptr;
  const bool ok = single && getnameinfo(result->ai_addr, result->ai_addrlen, text, sizeof(text),
                                        nullptr, 0, NI_NUMERICHOST) == 0;
  freeaddrinfo(result);
  return ok ? std::optional<std::string>(text) : std::nullopt;
}

// ssh's is_addr_fast(): what might be an address (even a malformed one) is never lowercased.
bool LooksLikeAddress(std::string_view host) {
  return host.find_first_of("%:") != std::string_view::npos ||
         host.find_first_not_of("0123456789.") == std::string_view::npos;
}

// The host name as ssh goes on to use it: an address in canonical form, keeping its case
// when only the case differs; a name lowercased.
std::string NormalizeHost(const std::string& host, int family) {
  if (std::optional<std::string> address = CanonicalAddress(host, family)) {
    return EqualsIgnoreCase(*address, host) ? host : *address;
  }
  return LooksLikeAddress(host) ? host : Lowercase(host);
}

// ---------------------------------------------------------------------------------------
// Patterns (OpenSSH match.c semantics)

enum class ListMatch { kNone, kPositive, kNegated };

// Each pattern may start with '!'. A negated match decides at once, as in ssh.
ListMatch MatchEach(std::string_view text, std::span<const std::string_view> patterns) {
  bool positive = false;
  for (std::string_view pattern : patterns) {
    const bool negated = !pattern.empty() && pattern.front() == '!';
    if (negated) pattern.remove_prefix(1);
    if (!MatchPattern(text, pattern)) continue;
    if (negated) return ListMatch::kNegated;
    positive = true;
  }
  return positive ? ListMatch::kPositive : ListMatch::kNone;
}

std::vector<std::string_view> SplitList(std::string_view list, std::string_view separators,
                                        bool keep_empty) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find_first_of(separators, start);
    if (end == std::string_view::npos) end = list.size();
    if (keep_empty || end > start) parts.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// ssh's match_pattern_list(): a comma-separated list, as Match criteria take.
ListMatch MatchCommaList(std::string_view text, std::string_view list, bool lower_patterns) {
  const std::string patterns = lower_patterns ? Lowercase(list) : std::string(list);
  std::vector<std::string_view> parts = SplitList(patterns, ",", /*keep_empty=*/true);
  if (parts.back().empty()) parts.pop_back();  // ssh stops at the end: "a," is just "a"
  for (std::string_view part : parts) {
    if (part.size() - (part.starts_with('!') ? 1 : 0) >= kMaxListPattern) return ListMatch::kNone;
  }
  return MatchEach(text, parts);
}

// ---------------------------------------------------------------------------------------
// Line splitting (OpenSSH misc.c: strdelim and argv_split)

// The part of `text` from the quote at `quote` on: the word before it joined with the
// quoted text, as strdelim() does. Sets *bad_quote when the quote is not closed.
std::optional<std::string> QuotedWord(std::string_view text, size_t quote,
                                      std::optional<std::string_view>* rest, bool* bad_quote) {
  const size_t close = text.find('"', quote + 1);
  if (close == std::string_view::npos) {
    *bad_quote = true;
    rest->reset();
    return std::nullopt;
  }
  std::string word(text.substr(0, quote));
  word += text.substr(quote + 1, close - quote - 1);
  *rest = SkipBlanks(text.substr(close + 1));
  return word;
}

// ssh's strdelim(): the next word, ending at a blank, a quote or one '=' (so "Key=Value",
// "Key = Value" and "Key Value" all split the same way). `rest` becomes nullopt when the
// text is used up; the result is nullopt only then or on an unclosed quote.
std::optional<std::string> NextWord(std::optional<std::string_view>* rest, bool* bad_quote) {
  if (!rest->has_value()) return std::nullopt;
  std::string_view text = **rest;
  const size_t cut = text.find_first_of(" \t\r\n\"=");
  if (cut == std::string_view::npos) {
    rest->reset();
    return std::string(text);
  }
  if (text[cut] == '"') return QuotedWord(text, cut, rest, bad_quote);
  const bool cut_at_equals = text[cut] == '=';
  std::string word(text.substr(0, cut));
  text = SkipBlanks(text.substr(cut + 1));
  if (!cut_at_equals && text.starts_with('=')) text = SkipBlanks(text.substr(1));
  *rest = text;
  return word;
}

bool IsEscapable(char next, char quote) {
  return next == '\'' || next == '"' || next == '\\' || (quote == 0 && next == ' ');
}

// One argument of argv_split() starting at *pos; false when a quote is left open.
bool ReadArgument(std::string_view text, size_t* pos, std::string* word) {
  char quote = 0;
  size_t i = *pos;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && IsEscapable(text[i + 1], quote)) {
      word->push_back(text[++i]);
    } else if (quote == 0 && (c == ' ' || c == '\t')) {
      break;
    } else if (quote == 0 && (c == '"' || c == '\'')) {
      quote = c;
    } else if (quote != 0 && c == quote) {
      quote = 0;
    } else {
      word->push_back(c);
    }
  }
  *pos = i;
  return quote == 0;
}

// ssh's argv_split() with comments on: blank-separated arguments, "..." and '...' quoting,
// backslash escapes; an argument starting with '#' ends the line. nullopt on open quotes.
std::optional<std::vector<std::string>> SplitArguments(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    if (text[i] == '#') break;
    std::string word;
    if (!ReadArgument(text, &i, &word)) return std::nullopt;
    words.push_back(std::move(word));
  }
  return words;
}

// ---------------------------------------------------------------------------------------
// Values

// A count, or an amount of time units: digits, at most INT_MAX.
std::optional<long> ParseCount(std::string_view text) {
  const std::optional<uint64_t> value = ParseDecimal(text, INT_MAX);
  if (!value) return std::nullopt;
  return static_cast<long>(*value);
}

// ssh's a2port(): 1-65535, or a TCP service name from /etc/services.
std::optional<int> PortOrServiceName(const std::string& text) {
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    const std::optional<uint16_t> port = ParsePort(text);
    return port ? std::optional<int>(*port) : std::nullopt;
  }
  servent entry{};
  servent* found = nullptr;
  char buffer[4096];
  if (getservbyname_r(text.c_str(), "tcp", &entry, buffer, sizeof(buffer), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return ntohs(static_cast<uint16_t>(found->s_port));
}

// Seconds per unit letter of ssh's convtime(), any case; 0 for anything else.
long TimeUnit(char unit) {
  constexpr std::pair<char, long> kUnits[] = {
      {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
  const auto lower = static_cast<char>(std::tolower(static_cast<unsigned char>(unit)));
  for (const auto& [letter, seconds] : kUnits) {
    if (letter == lower) return seconds;
  }
  return 0;
}

// ssh's convtime(): "90", "1h30m", "2d"... (units s m h d w, any case) to seconds.
std::optional<long> ParseTime(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long total = 0;
  while (!text.empty()) {
    const size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
    std::optional<long> amount = ParseCount(text.substr(0, digits));
    if (!amount) return std::nullopt;
    text.remove_prefix(digits);
    long unit = 1;
    if (!text.empty()) {
      unit = TimeUnit(text.front());
      text.remove_prefix(1);
    }
    if (unit == 0 || *amount > INT_MAX / unit || total > INT_MAX - *amount * unit) {
      return std::nullopt;
    }
    total += *amount * unit;
  }
  return total;
}

struct Choice {
  std::string_view word;   ///< as written in a file, any case
  std::string_view value;  ///< as ssh -G prints it
};

constexpr Choice kFlag[] = {{"yes", "yes"}, {"true", "yes"}, {"no", "no"}, {"false", "no"}};
constexpr Choice kStrictHostKey[] = {{"yes", "true"},
                                     {"true", "true"},
                                     {"no", "false"},
                                     {"false", "false"},
                                     {"off", "false"},
                                     {"ask", "ask"},
                                     {"accept-new", "accept-new"}};
constexpr Choice kAddressFamily[] = {{"any", "any"}, {"inet", "inet"}, {"inet6", "inet6"}};
constexpr Choice kPubkeyAuth[] = {{"yes", "true"},        {"true", "true"},
                                  {"no", "false"},        {"false", "false"},
                                  {"unbound", "unbound"}, {"host-bound", "host-bound"}};
constexpr Choice kCanonicalize[] = {
    {"yes", "true"}, {"true", "true"}, {"no", "false"}, {"false", "false"}, {"always", "always"}};
constexpr Choice kControlMaster[] = {{"yes", "true"},       {"true", "true"}, {"no", "false"},
                                     {"false", "false"},    {"auto", "auto"}, {"ask", "ask"},
                                     {"autoask", "autoask"}};

std::string ChoiceWords(std::span<const Choice> choices) {
  std::string words;
  for (const Choice& choice : choices) {
    words += (words.empty() ? "" : ", ") + std::string(choice.word);
  }
  return words;
}

// ---------------------------------------------------------------------------------------
// Keywords tether reads. Every other keyword is ignored quietly (see tether(1)), as ssh users
// with IgnoreUnknown expect; its line must still be well formed.

enum class Kind {
  kString,    ///< one word, first obtained wins
  kCommand,   ///< the rest of the line verbatim (ProxyCommand, ProxyJump)
  kPort,      ///< 1-65535 or a service name
  kCount,     ///< 0..INT_MAX
  kTime,      ///< convtime() seconds; "none" leaves the key unset, as in ssh
  kChoice,    ///< one of `choices`
  kFileList,  ///< several words on one line; the first line wins
  kFiles,     ///< one word per line; every line adds one (duplicates dropped)
  kForward,   ///< LocalForward, RemoteForward: two words joined into one -L/-R string;
              ///< DynamicForward: one word, a -D string
  kSendEnv,   ///< names add up; "-pattern" removes
};

enum class Expansion {
  kNone,
  kPath,   ///< ~, %-tokens and ${VAR}
  kTilde,  ///< ~ only
  kAgent,  ///< kPath, except the literal words none and SSH_AUTH_SOCK
};

struct Keyword {
  std::string_view name;  ///< as ssh_config(5) spells it, for messages
  Kind kind;
  std::span<const Choice> choices = {};
  Expansion expansion = Expansion::kNone;
  bool warn = false;  ///< tether does not honour it yet: a set value draws a warning
};

constexpr Keyword kKeywords[] = {
    {"AddressFamily", Kind::kChoice, kAddressFamily},
    {"BatchMode", Kind::kChoice, kFlag},
    {"BindAddress", Kind::kString},
    {"BindInterface", Kind::kString},
    {"CanonicalizeHostname", Kind::kChoice, kCanonicalize, Expansion::kNone, true},
    {"CertificateFile", Kind::kFiles, {}, Expansion::kPath},
    {"Ciphers", Kind::kString},
    {"ConnectionAttempts", Kind::kCount},
    {"ConnectTimeout", Kind::kTime},
    {"ControlMaster", Kind::kChoice, kControlMaster, Expansion::kNone, true},
    {"ControlPath", Kind::kString, {}, Expansion::kNone, true},
    {"ControlPersist", Kind::kString, {}, Expansion::kNone, true},
    {"DynamicForward", Kind::kForward},
    {"ExitOnForwardFailure", Kind::kChoice, kFlag},
    {"GatewayPorts", Kind::kChoice, kFlag},
    {"GlobalKnownHostsFile", Kind::kFileList, {}, Expansion::kTilde},
    {"HashKnownHosts", Kind::kChoice, kFlag},
    {"HostKeyAlgorithms", Kind::kString},
    {"HostKeyAlias", Kind::kString},
    {"HostName", Kind::kString},
    {"IdentitiesOnly", Kind::kChoice, kFlag},
    {"IdentityAgent", Kind::kString, {}, Expansion::kAgent},
    {"IdentityFile", Kind::kFiles, {}, Expansion::kPath},
    {"KbdInteractiveAuthentication", Kind::kChoice, kFlag},
    {"KexAlgorithms", Kind::kString},
    {"KnownHostsCommand", Kind::kCommand, {}, Expansion::kNone, true},
    {"LocalForward", Kind::kForward},
    {"MACs", Kind::kString},
    {"NumberOfPasswordPrompts", Kind::kCount},
    {"PasswordAuthentication", Kind::kChoice, kFlag},
    {"PKCS11Provider", Kind::kString, {}, Expansion::kNone, true},
    {"Port", Kind::kPort},
    {"PreferredAuthentications", Kind::kString},
    {"ProxyCommand", Kind::kCommand, {}, Expansion::kNone, true},
    {"ProxyJump", Kind::kCommand},
    {"PubkeyAcceptedAlgorithms", Kind::kString},
    {"PubkeyAuthentication", Kind::kChoice, kPubkeyAuth},
    {"RemoteForward", Kind::kForward},
    {"SendEnv", Kind::kSendEnv},
    {"ServerAliveCountMax", Kind::kCount},
    {"ServerAliveInterval", Kind::kTime},
    {"StrictHostKeyChecking", Kind::kChoice, kStrictHostKey},
    {"User", Kind::kString},
    {"UserKnownHostsFile", Kind::kFileList, {}, Expansion::kPath},
};

// Old names ssh still accepts for the same option.
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"challengeresponseauthentication", "KbdInteractiveAuthentication"},
    {"pubkeyacceptedkeytypes", "PubkeyAcceptedAlgorithms"},
};

const Keyword* FindKeyword(std::string_view lower_name) {
  for (const auto& [alias, name] : kAliases) {
    if (lower_name == alias) lower_name = name;
  }
  for (const Keyword& keyword : kKeywords) {
    if (EqualsIgnoreCase(keyword.name, lower_name)) return &keyword;
  }
  return nullptr;
}

}  // namespace

bool IsSshConfigKeyword(std::string_view name) {
  const std::string lower = Lowercase(name);
  const Keyword* keyword = FindKeyword(lower);
  // A keyword tether does not honour yet is only a warning in a file; asked for on the
  // command line, it is refused.
  if (keyword != nullptr) return !keyword->warn;
  return lower == "host" || lower == "match" || lower == "include";
}

namespace {

// Match criteria OpenSSH knows but tether cannot decide (it runs no commands, has no tags,
// no interface list): refused, but only when the answer would change what applies.
constexpr std::string_view kUndecidableCriteria[] = {"exec",    "localnetwork", "tagged",
                                                     "command", "sessiontype",  "version"};

// ---------------------------------------------------------------------------------------
// Expansion of ~, %-tokens and ${VAR}

std::optional<std::string> HomeOf(const std::string& user) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return std::string(found->pw_dir);
}

// ssh's tilde_expand(): "~" and "~/x" use `home`, "~user/x" that user's home directory.
bool ExpandTilde(const std::string& path, const std::string& home, std::string* out,
                 std::string* why) {
  if (!path.starts_with('~')) {
    *out = path;
    return true;
  }
  const size_t slash = path.find('/');
  const std::string user = path.substr(1, slash == std::string::npos ? slash : slash - 1);
  std::optional<std::string> dir = user.empty() ? std::optional<std::string>(home) : HomeOf(user);
  if (!dir) {
    *why = "no such user " + Quote(user);
    return false;
  }
  std::string_view tail = slash == std::string::npos ? "" : std::string_view(path).substr(slash);
  tail.remove_prefix(std::min(tail.find_first_not_of('/'), tail.size()));
  *out = *dir + (dir->ends_with('/') ? "" : "/") + std::string(tail);
  return true;
}

using TokenMap = std::map<char, std::string>;

// ${VAR} at text[*i]; advances *i past the closing brace.
bool ExpandVariable(std::string_view text, size_t* i, std::string* out, std::string* why) {
  const size_t close = text.find('}', *i + 2);
  if (close == std::string_view::npos) {
    *why = "${ without a closing }";
    return false;
  }
  const std::string name(text.substr(*i + 2, close - *i - 2));
  const char* value = name.empty() ? nullptr : getenv(name.c_str());
  if (value == nullptr) {
    *why = name.empty() ? "empty ${}"
                        : "environment variable " + EscapeForMessage(name) + " is not set";
    return false;
  }
  *out += value;
  *i = close;
  return true;
}

// %X at text[*i]; advances *i past X.
bool ExpandToken(std::string_view text, size_t* i, const TokenMap& tokens, std::string* out,
                 std::string* why) {
  if (*i + 1 >= text.size()) {
    *why = "'%' at the end";
    return false;
  }
  const char key = text[++*i];
  if (key == '%') {
    *out += '%';
    return true;
  }
  auto found = tokens.find(key);
  if (found != tokens.end()) {
    *out += found->second;
    return true;
  }
  *why = key == 'C' || key == 'j' || key == 'T'
             ? std::string("%") + key + " is not supported by tether"
             : "unknown token %" + EscapeForMessage(std::string(1, key));
  return false;
}

// ssh's percent_expand() / percent_dollar_expand().
bool ExpandPercent(std::string_view text, const TokenMap& tokens, bool dollar, std::string* out,
                   std::string* why) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    bool ok = true;
    if (dollar && text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      ok = ExpandVariable(text, &i, out, why);
    } else if (text[i] == '%') {
      ok = ExpandToken(text, &i, tokens, out, why);
    } else {
      *out += text[i];
    }
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Reading

/// Where a value came from, for messages: "file:line" or "command line".
struct Entry {
  std::string value;
  std::string origin;
};
using Store = std::map<std::string, std::vector<Entry>, std::less<>>;

const Entry* First(const Store& store, std::string_view key) {
  auto found = store.find(key);
  return found == store.end() || found->second.empty() ? nullptr : &found->second.front();
}

/// How one file is read: the rules ssh attaches to its origin.
struct FileScope {
  std::string path;
  bool user_conf = true;     ///< ~ allowed in Include, relative Includes in ~/.ssh
  bool never_match = false;  ///< inside an inactive block: read for errors only
  bool check_permissions = false;
  bool required = false;  ///< a missing file is an error (-F)
  int depth = 0;          ///< Include nesting
};

struct Where {
  const FileScope& file;
  int line;
  std::string Origin() const {
    if (file.path == kCommandLineOrigin) return file.path;  // one -o value: no line to name
    return file.path + ":" + std::to_string(line);
  }
};

bool Fail(const Where& where, std::string_view what, std::string* error) {
  *error = where.Origin() + ": " + std::string(what);
  return false;
}

struct MatchOutcome {
  bool result = true;
  int attributes = 0;
  std::string refused;  ///< first criterion tether cannot decide, if any
};

/// One pass of ssh's read_config_file() over all files into a shared Store.
class Reader {
 public:
  /// `host` is what Host lines match: as typed in the first pass, the final host name in the
  /// second ("Match final"/"canonical"), exactly as ssh re-reads its files.
  Reader(const SshConfigContext& context, bool final_pass, std::string host, Store* store,
         std::vector<std::string>* warnings)
      : context_(context),
        final_pass_(final_pass),
        host_(std::move(host)),
        store_(store),
        warnings_(warnings) {}

  bool ReadAll(const std::vector<SshConfigFile>& files, std::string* error);
  bool wants_final_pass() const { return wants_final_pass_; }

 private:
  bool ReadFile(const FileScope& scope, bool* active, std::string* error);
  bool ReadLines(int fd, const FileScope& scope, bool* active, std::string* error);
  bool ProcessLine(std::string_view line, const Where& where, bool* active, std::string* error);
  bool Dispatch(const std::string& keyword, std::string_view text,
                const std::vector<std::string>& args, const Where& where, bool* active,
                std::string* error);
  bool HandleHost(const std::vector<std::string>& patterns, const Where& where, bool* active,
                  std::string* error);
  bool HandleMatch(std::string_view text, const Where& where, bool* active, std::string* error);
  bool EvaluateMatch(std::string_view text, const Where& where, MatchOutcome* outcome,
                     std::string* error);
  bool MatchAll(std::optional<std::string_view>* rest, bool negate, const Where& where,
                MatchOutcome* outcome, std::string* error);
  bool EvaluateCriterion(const std::string& name, const std::string& arg, const Where& where,
                         std::optional<bool>* matched, std::string* error);
  bool MatchHost(std::string* host, std::string* error) const;
  bool HandleInclude(const std::vector<std::string>& args, const Where& where, bool* active,
                     std::string* error);
  bool IncludePattern(const std::string& arg, const Where& where, std::string* pattern,
                      std::string* error) const;
  bool ReadIncluded(const std::string& path, const Where& where, bool* active, std::string* error);
  bool HandleSetting(const Keyword& key, std::string_view text,
                     const std::vector<std::string>& args, const Where& where, bool active,
                     std::string* error);
  bool SetSingle(const Keyword& key, const std::vector<std::string>& args, const Where& where,
                 bool active, std::string* error);
  bool SetCommand(const Keyword& key, std::string_view text, const Where& where, bool active,
                  std::string* error);
  bool SetFileList(const Keyword& key, const std::vector<std::string>& args, const Where& where,
                   bool active, std::string* error);
  bool AddFile(const Keyword& key, const std::vector<std::string>& args, const Where& where,
               bool active, std::string* error);
  bool AddForward(const Keyword& key, const std::vector<std::string>& args, const Where& where,
                  bool active, std::string* error);
  bool AddSendEnv(const std::vector<std::string>& args, const Where& where, bool active,
                  std::string* error);
  void Set(const Keyword& key, const std::string& value, const Where& where);
  void Append(const Keyword& key, const std::string& value, const Where& where, bool dedup);
  void Warn(const Keyword& key, const std::string& value, const Where& where);

  const SshConfigContext& context_;
  const bool final_pass_;
  const std::string host_;
  Store* store_;
  std::vector<std::string>* warnings_;
  bool wants_final_pass_ = false;
};

bool Reader::ReadAll(const std::vector<SshConfigFile>& files, std::string* error) {
  // -o lines come first, as ssh reads them: being first, their values win.
  FileScope command_line;
  command_line.path = kCommandLineOrigin;
  bool command_line_active = true;
  for (size_t i = 0; i < context_.command_line.size(); ++i) {
    const Where where{command_line, static_cast<int>(i + 1)};
    if (!ProcessLine(context_.command_line[i], where, &command_line_active, error)) return false;
  }
  for (const SshConfigFile& file : files) {
    FileScope scope;
    scope.path = file.path;
    scope.user_conf = file.role != SshConfigRole::kSystem;
    scope.check_permissions = file.role == SshConfigRole::kUser;
    scope.required = file.role == SshConfigRole::kExplicit;
    bool active = true;  // lines before the first Host or Match apply to every host
    if (!ReadFile(scope, &active, error)) return false;
  }
  return true;
}

// ssh refuses a config that someone else could have written: it may name commands and keys.
bool UnsafeOwnerOrMode(const struct stat& st) {
  return (st.st_uid != 0 && st.st_uid != getuid()) || (st.st_mode & 022) != 0;
}

bool Reader::ReadFile(const FileScope& scope, bool* active, std::string* error) {
  OpenedFile file;
  if (!OpenForReading(scope.path, &file)) {
    if (errno == ENOENT && !scope.required) return true;
    *error = scope.path + ": " + std::strerror(errno);
    return false;
  }
  if (scope.check_permissions && UnsafeOwnerOrMode(file.st)) {
    *error = scope.path + ": bad owner or permissions (must not be writable by group or others)";
    return false;
  }
  switch (file.type) {
    case FileType::kRegular:
      return ReadLines(file.fd.get(), scope, active, error);
    case FileType::kDirectory:   // ssh reads nothing from one (its read fails at once): a
    case FileType::kNullDevice:  // glob may match one; /dev/null is empty
      return true;
    case FileType::kOther:
      break;
  }
  // A FIFO would hold tether in open() or read() for good, /dev/zero never ends.
  *error = scope.path + ": not a regular file (" + DescribeFileType(file.st) + ")";
  return false;
}

bool Reader::ReadLines(int fd, const FileScope& scope, bool* active, std::string* error) {
  LineReader reader(fd, kMaxLineBytes);
  std::string line;
  for (int number = 1;; ++number) {
    const LineReader::Status status = reader.Next(&line);
    if (status == LineReader::Status::kEnd) return true;
    if (status == LineReader::Status::kTooLong) {
      return Fail(Where{scope, number}, "line longer than 1 MiB", error);
    }
    if (status == LineReader::Status::kReadError) {
      *error = scope.path + ": " + std::strerror(reader.read_errno());
      return false;
    }
    if (!ProcessLine(line, Where{scope, number}, active, error)) return false;
  }
}

bool Reader::ProcessLine(std::string_view line, const Where& where, bool* active,
                         std::string* error) {
  line = line.substr(0, line.find('\0'));  // ssh sees a C string
  const size_t last = line.find_last_not_of(" \t\r\n\f");
  line = line.substr(0, last == std::string_view::npos ? 0 : last + 1);
  // A comment may hold any text, unbalanced quotes included.
  if (const std::string_view start = SkipBlanks(line); start.empty() || start.front() == '#') {
    return true;
  }
  std::optional<std::string_view> rest = line;
  bool bad_quote = false;
  std::optional<std::string> keyword = NextWord(&rest, &bad_quote);
  if (keyword && keyword->empty()) keyword = NextWord(&rest, &bad_quote);  // leading blanks
  if (bad_quote) return Fail(where, "invalid quotes", error);
  if (!keyword || keyword->empty() || keyword->front() == '#') return true;
  const std::string_view text = rest ? SkipBlanks(*rest) : std::string_view();
  if (text.empty()) return Fail(where, EscapeForMessage(*keyword) + ": missing value", error);
  const std::optional<std::vector<std::string>> args = SplitArguments(text);
  if (!args) return Fail(where, "invalid quotes", error);
  return Dispatch(Lowercase(*keyword), text, *args, where, active, error);
}

bool Reader::Dispatch(const std::string& keyword, std::string_view text,
                      const std::vector<std::string>& args, const Where& where, bool* active,
                      std::string* error) {
  if (keyword == "host") return HandleHost(args, where, active, error);
  if (keyword == "match") return HandleMatch(text, where, active, error);
  if (keyword == "include") return HandleInclude(args, where, active, error);
  const Keyword* key = FindKeyword(keyword);
  if (key == nullptr) return true;
  return HandleSetting(*key, text, args, where, *active, error);
}

// ---- Host and Match

bool Reader::HandleHost(const std::vector<std::string>& patterns, const Where& where, bool* active,
                        std::string* error) {
  *active = false;
  for (const std::string& pattern : patterns) {
    if (pattern.empty()) return Fail(where, "Host: empty pattern", error);
  }
  if (where.file.never_match) return true;
  // Unlike Match host, a Host line takes one pattern per word (no commas), case-sensitive.
  const std::vector<std::string_view> views(patterns.begin(), patterns.end());
  *active = MatchEach(host_, views) == ListMatch::kPositive;
  return true;
}

bool Reader::HandleMatch(std::string_view text, const Where& where, bool* active,
                         std::string* error) {
  MatchOutcome outcome;
  if (!EvaluateMatch(text, where, &outcome, error)) return false;
  if (where.file.never_match) {
    *active = false;
    return true;
  }
  if (outcome.result && !outcome.refused.empty()) {
    return Fail(where, "Match " + outcome.refused + " is not supported", error);
  }
  *active = outcome.result;
  return true;
}

// ssh's match_cfg_line(): criteria are ANDed; "!" negates one; "all" stands alone.
bool Reader::EvaluateMatch(std::string_view text, const Where& where, MatchOutcome* outcome,
                           std::string* error) {
  std::optional<std::string_view> rest = text;
  bool bad_quote = false;
  for (;;) {
    const std::optional<std::string> word = NextWord(&rest, &bad_quote);
    if (bad_quote) return Fail(where, "invalid quotes", error);
    if (!word || word->empty() || word->front() == '#') break;
    const bool negate = word->front() == '!';
    const std::string name = Lowercase(std::string_view(*word).substr(negate ? 1 : 0));
    if (name == "all") return MatchAll(&rest, negate, where, outcome, error);
    ++outcome->attributes;
    std::optional<bool> matched = final_pass_;
    if (name == "final" && !negate) wants_final_pass_ = true;
    if (name != "canonical" && name != "final") {
      const std::optional<std::string> arg = NextWord(&rest, &bad_quote);
      if (bad_quote) return Fail(where, "invalid quotes", error);
      if (!arg || arg->empty() || arg->front() == '#') {
        return Fail(where, "Match " + EscapeForMessage(name) + ": missing argument", error);
      }
      if (!EvaluateCriterion(name, *arg, where, &matched, error)) return false;
    }
    if (!matched) {
      if (outcome->refused.empty()) outcome->refused = name;
    } else if (*matched == negate) {
      outcome->result = false;
    }
  }
  if (outcome->attributes == 0) return Fail(where, "Match: no criteria", error);
  return true;
}

bool Reader::MatchAll(std::optional<std::string_view>* rest, bool negate, const Where& where,
                      MatchOutcome* outcome, std::string* error) {
  bool bad_quote = false;
  const std::optional<std::string> next = NextWord(rest, &bad_quote);
  // As in ssh, "all" may follow one criterion ("Match canonical all") but nothing else.
  if (outcome->attributes > 1 || (next && !next->empty() && next->front() != '#')) {
    return Fail(where, "Match: 'all' cannot be combined with other criteria", error);
  }
  if (outcome->result) outcome->result = !negate;
  return true;
}

// Leaves *matched empty for a criterion tether cannot decide.
bool Reader::EvaluateCriterion(const std::string& name, const std::string& arg, const Where& where,
                               std::optional<bool>* matched, std::string* error) {
  if (name == "host") {
    std::string host;
    if (!MatchHost(&host, error)) return false;
    *matched = MatchCommaList(Lowercase(host), arg, true) == ListMatch::kPositive;
  } else if (name == "originalhost") {
    *matched = MatchCommaList(Lowercase(context_.host), arg, true) == ListMatch::kPositive;
  } else if (name == "user") {
    const Entry* user = First(*store_, "user");
    const std::string& remote = user ? user->value : context_.local_user;
    *matched = MatchCommaList(remote, arg, false) == ListMatch::kPositive;
  } else if (name == "localuser") {
    *matched = MatchCommaList(context_.local_user, arg, false) == ListMatch::kPositive;
  } else if (std::find(std::begin(kUndecidableCriteria), std::end(kUndecidableCriteria), name) !=
             std::end(kUndecidableCriteria)) {
    matched->reset();
  } else {
    return Fail(where, "Match: unsupported criterion " + Quote(name), error);
  }
  return true;
}

// What Match host compares with: HostName as obtained so far (with %h), else the host typed.
bool Reader::MatchHost(std::string* host, std::string* error) const {
  const Entry* name = First(*store_, "hostname");
  if (final_pass_ || name == nullptr) {
    *host = name && final_pass_ ? name->value : host_;
    return true;
  }
  std::string why;
  if (ExpandPercent(name->value, {{'h', context_.host}}, false, host, &why)) return true;
  *error = name->origin + ": HostName: " + why;
  return false;
}

// ---- Include

bool Reader::HandleInclude(const std::vector<std::string>& args, const Where& where, bool* active,
                           std::string* error) {
  for (const std::string& arg : args) {
    std::string pattern;
    if (!IncludePattern(arg, where, &pattern, error)) return false;
    glob_t matches{};
    const int status = glob(pattern.c_str(), 0, nullptr, &matches);
    std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
    globfree(&matches);
    if (status != 0 && status != GLOB_NOMATCH) {
      return Fail(where, "Include: cannot expand " + Quote(pattern), error);
    }
    for (const std::string& path : paths) {  // glob() sorts, as ssh relies on
      if (!ReadIncluded(path, where, active, error)) return false;
    }
  }
  return true;
}

bool Reader::IncludePattern(const std::string& arg, const Where& where, std::string* pattern,
                            std::string* error) const {
  if (arg.empty()) return Fail(where, "Include: empty argument", error);
  if (arg.front() == '~' && !where.file.user_conf) {
    return Fail(where, "Include: ~ is not allowed in a system file: " + Quote(arg), error);
  }
  if (arg.front() != '/' && arg.front() != '~') {
    *pattern = (where.file.user_conf ? context_.home + "/.ssh/" : "/etc/ssh/") + arg;
    return true;
  }
  std::string why;
  if (ExpandTilde(arg, context_.home, pattern, &why)) return true;
  return Fail(where, "Include: " + why, error);
}

bool Reader::ReadIncluded(const std::string& path, const Where& where, bool* active,
                          std::string* error) {
  if (where.file.depth + 1 > kMaxIncludeDepth) {
    return Fail(where, "Include nested more than 16 deep (does a file include itself?)", error);
  }
  FileScope scope;
  scope.path = path;
  scope.user_conf = where.file.user_conf;
  scope.never_match = where.file.never_match || !*active;
  scope.check_permissions = true;
  scope.depth = where.file.depth + 1;
  // The included file starts in the includer's state, and its Host or Match lines do not
  // leak back out.
  const bool outer = *active;
  const bool ok = ReadFile(scope, active, error);
  *active = outer;
  return ok;
}

// ---- Settings

bool Reader::HandleSetting(const Keyword& key, std::string_view text,
                           const std::vector<std::string>& args, const Where& where, bool active,
                           std::string* error) {
  switch (key.kind) {
    case Kind::kCommand:
      return SetCommand(key, text, where, active, error);
    case Kind::kFileList:
      return SetFileList(key, args, where, active, error);
    case Kind::kFiles:
      return AddFile(key, args, where, active, error);
    case Kind::kForward:
      return AddForward(key, args, where, active, error);
    case Kind::kSendEnv:
      return AddSendEnv(args, where, active, error);
    default:
      return SetSingle(key, args, where, active, error);
  }
}

// The normalized value; "" for a valid value that leaves the key unset ("none" for a time).
std::optional<std::string> Normalize(const Keyword& key, const std::string& word,
                                     std::string* why) {
  switch (key.kind) {
    case Kind::kPort:
      if (std::optional<int> port = PortOrServiceName(word)) return std::to_string(*port);
      *why = "bad port " + Quote(word);
      return std::nullopt;
    case Kind::kCount:
      if (std::optional<long> count = ParseCount(word)) return std::to_string(*count);
      *why = "bad number " + Quote(word);
      return std::nullopt;
    case Kind::kTime:
      if (word == "none") return std::string();
      if (std::optional<long> seconds = ParseTime(word)) return std::to_string(*seconds);
      *why = "bad time " + Quote(word) + " (use e.g. 30, 90s, 5m, 1h30m)";
      return std::nullopt;
    case Kind::kChoice:
      for (const Choice& choice : key.choices) {
        if (EqualsIgnoreCase(word, choice.word)) return std::string(choice.value);
      }
      *why = "bad value " + Quote(word) + " (expected " + ChoiceWords(key.choices) + ")";
      return std::nullopt;
    default:
      return word;
  }
}

bool Reader::SetSingle(const Keyword& key, const std::vector<std::string>& args, const Where& where,
                       bool active, std::string* error) {
  const std::string name(key.name);
  if (args.empty() || args[0].empty()) return Fail(where, name + ": missing value", error);
  std::string why;
  const std::optional<std::string> value = Normalize(key, args[0], &why);
  if (!value) return Fail(where, name + ": " + why, error);
  if (args.size() > 1) return Fail(where, name + ": extra words after the value", error);
  if (active && !value->empty()) Set(key, *value, where);
  return true;
}

bool Reader::SetCommand(const Keyword& key, std::string_view text, const Where& where, bool active,
                        std::string* error) {
  // ssh keeps the rest of the line as written, quotes and all; only a leading '=' goes.
  text.remove_prefix(std::min(text.find_first_not_of(" \t\r\n="), text.size()));
  // Like ssh, a ProxyJump line is checked even in a block that does not apply.
  std::string jump_error;
  if (key.name == "ProxyJump" && !ParseJumpList(JumpListText(text), &jump_error)) {
    return Fail(where, "ProxyJump: " + jump_error, error);
  }
  if (active && !text.empty()) Set(key, std::string(text), where);
  return true;
}

bool Reader::SetFileList(const Keyword& key, const std::vector<std::string>& args,
                         const Where& where, bool active, std::string* error) {
  const std::string name(key.name);
  for (const std::string& arg : args) {
    if (arg.empty()) return Fail(where, name + ": empty file name", error);
    if (EqualsIgnoreCase(arg, "none") && args.size() > 1) {
      return Fail(where, name + ": \"none\" must appear alone", error);
    }
  }
  if (!active || args.empty() || First(*store_, Lowercase(key.name)) != nullptr) return true;
  for (const std::string& arg : args) Append(key, arg, where, /*dedup=*/false);
  return true;
}

bool Reader::AddFile(const Keyword& key, const std::vector<std::string>& args, const Where& where,
                     bool active, std::string* error) {
  const std::string name(key.name);
  if (args.empty() || args[0].empty()) return Fail(where, name + ": missing value", error);
  if (args.size() > 1) return Fail(where, name + ": extra words after the value", error);
  if (active) Append(key, args[0], where, /*dedup=*/true);
  return true;
}

// Each forward is checked with its flag's grammar (-L, -D, -R) since tether sets it up.
bool Reader::AddForward(const Keyword& key, const std::vector<std::string>& args,
                        const Where& where, bool active, std::string* error) {
  const std::string name(key.name);
  const size_t most = key.name == "DynamicForward" ? 1 : 2;
  const size_t least = key.name == "LocalForward" ? 2 : 1;
  if (args.empty() || args[0].empty()) return Fail(where, name + ": missing value", error);
  if (args.size() < least || args[least - 1].empty()) {
    return Fail(where, name + ": missing target, expected [bind_address:]port host:hostport",
                error);
  }
  if (args.size() > most) return Fail(where, name + ": extra words after the value", error);
  const std::string joined = args.size() == 2 ? args[0] + ":" + args[1] : args[0];
  std::string reason;
  const bool parsed =
      key.name == "DynamicForward"  ? ParseDynamicForwardSpecReason(joined, &reason).has_value()
      : key.name == "RemoteForward" ? ParseRemoteForwardSpecReason(joined, &reason).has_value()
                                    : ParseForwardSpecReason(joined, &reason).has_value();
  if (!parsed) {
    const std::string value = args.size() == 2 ? args[0] + " " + args[1] : args[0];
    return Fail(where, name + ": bad value " + Quote(value) + ": " + reason, error);
  }
  if (active) Append(key, joined, where, /*dedup=*/true);
  return true;
}

bool Reader::AddSendEnv(const std::vector<std::string>& args, const Where& where, bool active,
                        std::string* error) {
  for (const std::string& arg : args) {
    if (arg.empty() || arg.find('=') != std::string::npos) {
      return Fail(where, "SendEnv: bad variable name " + Quote(arg), error);
    }
    if (!active) continue;
    std::vector<Entry>& names = (*store_)["sendenv"];
    if (arg.front() == '-') {
      const std::string_view pattern = std::string_view(arg).substr(1);
      std::erase_if(names, [&](const Entry& e) { return MatchPattern(e.value, pattern); });
    } else {
      names.push_back({arg, where.Origin()});
    }
  }
  if (First(*store_, "sendenv") == nullptr) store_->erase("sendenv");
  return true;
}

void Reader::Set(const Keyword& key, const std::string& value, const Where& where) {
  std::vector<Entry>& entries = (*store_)[Lowercase(key.name)];
  if (!entries.empty()) return;  // first obtained value wins
  entries.push_back({value, where.Origin()});
  Warn(key, value, where);
}

void Reader::Append(const Keyword& key, const std::string& value, const Where& where, bool dedup) {
  std::vector<Entry>& entries = (*store_)[Lowercase(key.name)];
  const bool seen =
      std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.value == value; });
  if (dedup && seen) return;
  entries.push_back({value, where.Origin()});
  Warn(key, value, where);
}

void Reader::Warn(const Keyword& key, const std::string& value, const Where& where) {
  if (!key.warn || warnings_ == nullptr) return;
  for (std::string_view off : {"none", "no", "false"}) {
    if (EqualsIgnoreCase(value, off)) return;
  }
  std::string warning = where.Origin() + ": tether ignores " + std::string(key.name);
  // The second pass ("Match final") reads the same lines again.
  if (std::find(warnings_->begin(), warnings_->end(), warning) != warnings_->end()) return;
  warnings_->push_back(std::move(warning));
}

// ---------------------------------------------------------------------------------------
// After reading

// AddressFamily as obtained so far, which ssh uses to parse a numeric host.
int AddressFamilyOf(const Store& store) {
  const Entry* family = First(store, "addressfamily");
  if (family != nullptr && family->value == "inet") return AF_INET;
  if (family != nullptr && family->value == "inet6") return AF_INET6;
  return AF_UNSPEC;
}

// ssh's host after its first pass: HostName with %h expanded, lowercased unless an address.
bool ResolveHostName(const SshConfigContext& context, Store* store, std::string* host,
                     std::string* error) {
  const Entry* configured = First(*store, "hostname");
  std::string origin(kCommandLine);
  *host = context.host;
  if (configured != nullptr) {
    origin = configured->origin;
    std::string why;
    if (!ExpandPercent(configured->value, {{'h', context.host}}, false, host, &why)) {
      *error = origin + ": HostName: " + why;
      return false;
    }
  }
  *host = NormalizeHost(*host, AddressFamilyOf(*store));
  (*store)["hostname"] = {Entry{*host, origin}};
  return true;
}

std::string LocalHostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

TokenMap MakeTokens(const SshConfigContext& context, const Store& store) {
  const Entry* port = First(store, "port");
  const Entry* user = First(store, "user");
  const Entry* alias = First(store, "hostkeyalias");
  const std::string local_host = LocalHostName();
  return TokenMap{
      {'h', First(store, "hostname")->value},
      {'n', context.host},
      {'p', port ? port->value : "22"},
      {'r', user ? user->value : context.local_user},
      {'u', context.local_user},
      {'d', context.home},
      {'i', std::to_string(getuid())},
      {'k', alias ? Lowercase(alias->value) : context.host},
      {'l', local_host},
      {'L', local_host.substr(0, local_host.find('.'))},
  };
}

bool ExpandEntry(const Keyword& key, const TokenMap& tokens, const std::string& home, Entry* entry,
                 std::string* error) {
  if (key.expansion == Expansion::kAgent &&
      (entry->value == "none" || entry->value == "SSH_AUTH_SOCK")) {
    return true;
  }
  if (key.expansion != Expansion::kTilde && EqualsIgnoreCase(entry->value, "none")) return true;
  std::string tilded, why;
  bool ok = ExpandTilde(entry->value, home, &tilded, &why);
  if (ok && key.expansion == Expansion::kTilde) {
    entry->value = tilded;
  } else if (ok) {
    ok = ExpandPercent(tilded, tokens, /*dollar=*/true, &entry->value, &why);
  }
  if (!ok) *error = entry->origin + ": " + std::string(key.name) + ": " + why;
  return ok;
}

bool ExpandStore(const SshConfigContext& context, Store* store, std::string* error) {
  const TokenMap tokens = MakeTokens(context, *store);
  for (auto& [name, entries] : *store) {
    const Keyword* key = FindKeyword(name);
    if (key == nullptr || key->expansion == Expansion::kNone) continue;
    for (Entry& entry : entries) {
      if (!ExpandEntry(*key, tokens, context.home, &entry, error)) return false;
    }
  }
  return true;
}

Store SeedStore(const SshConfigContext& context) {
  Store store;
  if (!context.user.empty()) store["user"] = {Entry{context.user, std::string(kCommandLine)}};
  if (context.port) {
    store["port"] = {Entry{std::to_string(*context.port), std::string(kCommandLine)}};
  }
  return store;
}

bool CanonicalizationAsked(const Store& store) {
  const Entry* value = First(store, "canonicalizehostname");
  return value != nullptr && value->value != "false";
}

}  // namespace

bool MatchPattern(std::string_view text, std::string_view pattern) {
  // Iterative glob with one backtrack point: same answers as ssh's recursive match_pattern,
  // without its exponential time on patterns like "*a*a*a*b" from a 1 MiB line.
  size_t t = 0, p = 0;
  size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool MatchHostPatterns(std::string_view host, std::string_view pattern_list) {
  const std::vector<std::string_view> patterns =
      SplitList(pattern_list, ", \t", /*keep_empty=*/false);
  return MatchEach(host, patterns) == ListMatch::kPositive;
}

std::vector<SshConfigFile> DefaultSshConfigFiles(const std::string& home) {
  return {{home + "/.ssh/config", SshConfigRole::kUser},
          {"/etc/ssh/ssh_config", SshConfigRole::kSystem}};
}

std::optional<SshConfig> SshConfig::Load(const std::vector<SshConfigFile>& files,
                                         const SshConfigContext& context, std::string* error,
                                         std::vector<std::string>* warnings) {
  Store store = SeedStore(context);
  Reader first(context, /*final_pass=*/false, context.host, &store, warnings);
  if (!first.ReadAll(files, error)) return std::nullopt;
  std::string host;
  if (!ResolveHostName(context, &store, &host, error)) return std::nullopt;
  // ssh reads everything again when asked to ("Match final", CanonicalizeHostname), with
  // the final host name; tether does not canonicalize, so that name is the one just found.
  if (first.wants_final_pass() || CanonicalizationAsked(store)) {
    Reader final_pass(context, /*final_pass=*/true, host, &store, warnings);
    if (!final_pass.ReadAll(files, error)) return std::nullopt;
  }
  if (!ExpandStore(context, &store, error)) return std::nullopt;
  SshConfig config;
  for (auto& [name, entries] : store) {
    std::vector<std::string>& values = config.values_[name];
    for (Entry& entry : entries) values.push_back(std::move(entry.value));
  }
  return config;
}

std::optional<std::string> SshConfig::Get(std::string_view key) const {
  auto found = values_.find(Lowercase(key));
  if (found == values_.end() || found->second.empty()) return std::nullopt;
  return found->second.front();
}

std::vector<std::string> SshConfig::GetAll(std::string_view key) const {
  auto found = values_.find(Lowercase(key));
  return found == values_.end() ? std::vector<std::string>() : found->second;
}

std::string SshConfig::Dump() const {
  std::string out;
  for (const auto& [name, values] : values_) {
    const Keyword* key = FindKeyword(name);
    if (key != nullptr && key->kind == Kind::kFileList) {
      out += name;
      for (const std::string& value : values) out += " " + value;
      out += "\n";
      continue;
    }
    for (const std::string& value : values) out += name + " " + value + "\n";
  }
  return out;
}

}  // namespace tether
