#include "tether/registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>

#include "tether/failure.h"
#include "tether/message_text.h"
#include "tether/text.h"
#include "tether/unique_fd.h"

namespace tether {
namespace {

constexpr std::string_view kVersionLine = "tether-registry 1";
constexpr std::string_view kEntrySuffix = ".entry";
constexpr std::string_view kSocketSuffix = ".sock";
constexpr std::string_view kTempSuffix = ".entry.tmp";
// /proc/PID/stat: field 22 (starttime), counted from 1; fields after the command name,
// which may hold spaces and parentheses, start at 3.
constexpr int kStartTimeField = 22;
constexpr int kFirstFieldAfterComm = 3;

std::string EscapeValue(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> UnescapeValue(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      if (static_cast<unsigned char>(text[i]) < 0x20) return std::nullopt;
      out += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == '\\') {
      out += '\\';
      ++i;
    } else if (i + 3 < text.size() && text[i + 1] == 'x' && HexDigit(text[i + 2]) >= 0 &&
               HexDigit(text[i + 3]) >= 0) {
      out += static_cast<char>(HexDigit(text[i + 2]) * 16 + HexDigit(text[i + 3]));
      i += 3;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

/// ParseDecimal up to the largest T.
template <typename T>
std::optional<T> ParseNumber(std::string_view text) {
  const std::optional<uint64_t> value =
      ParseDecimal(text, static_cast<uint64_t>(std::numeric_limits<T>::max()));
  if (!value) return std::nullopt;
  return static_cast<T>(*value);
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::optional<RegistryForward> ParseForward(std::string_view value) {
  // A dynamic or remote forward has a fourth field, "dynamic" or "remote"; a -L forward's
  // line is as it always was.
  std::vector<std::string_view> parts = Split(value, '\t');
  if (parts.size() != 3 && parts.size() != 4) return std::nullopt;
  ForwardKind kind = ForwardKind::kLocal;
  if (parts.size() == 4) {
    if (parts[3] == ForwardKindName(ForwardKind::kDynamic)) {
      kind = ForwardKind::kDynamic;
    } else if (parts[3] == ForwardKindName(ForwardKind::kRemote)) {
      kind = ForwardKind::kRemote;
    } else {
      return std::nullopt;
    }
  }
  std::optional<std::string> listen = UnescapeValue(parts[0]);
  std::optional<std::string> target = UnescapeValue(parts[1]);
  std::optional<uint16_t> port = ParseNumber<uint16_t>(parts[2]);
  if (!listen || !target || !port || listen->empty() || target->empty()) return std::nullopt;
  return RegistryForward{*listen, *target, *port, kind};
}

bool ApplyField(std::string_view key, std::string_view value, RegistryEntry* entry) {
  if (key == "forward") {
    std::optional<RegistryForward> forward = ParseForward(value);
    if (forward) entry->forwards.push_back(*forward);
    return forward.has_value();
  }
  if (key == "destination" || key == "user") {
    std::optional<std::string> text = UnescapeValue(value);
    if (text) (key == "user" ? entry->user : entry->destination) = *text;
    return text.has_value();
  }
  if (key == "ttl_end" && value == "none") return true;
  std::optional<int64_t> number = ParseNumber<int64_t>(value);
  if (!number) return false;
  if (key == "pid") entry->pid = static_cast<pid_t>(*number);
  if (key == "start_ticks") entry->start_ticks = static_cast<uint64_t>(*number);
  if (key == "started") entry->started_unix = *number;
  if (key == "ttl_end") entry->ttl_end_unix = *number;
  if (key == "tied_to") entry->tied_to = static_cast<pid_t>(*number);
  // A pid must fit pid_t; the kernel never hands out more than 2^22.
  return (key != "pid" && key != "tied_to") || *number <= (int64_t{1} << 30);
}

bool HasSuffix(std::string_view text, std::string_view suffix) {
  return text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// "PID-TICKS" at the start of a registry file name (after a leading '.' for temp files).
bool ParseStem(std::string_view stem, pid_t* pid, uint64_t* ticks) {
  const size_t dash = stem.find('-');
  if (dash == std::string_view::npos) return false;
  std::optional<int64_t> p = ParseNumber<int64_t>(stem.substr(0, dash));
  std::optional<uint64_t> t = ParseNumber<uint64_t>(stem.substr(dash + 1));
  if (!p || !t || *p <= 0 || *p > (int64_t{1} << 30)) return false;
  *pid = static_cast<pid_t>(*p);
  *ticks = *t;
  return true;
}

// The stem of a registry file, or "" for names that are not ours.
std::string_view StemOf(std::string_view name) {
  if (HasSuffix(name, kTempSuffix) && name.front() == '.') {
    return name.substr(1, name.size() - 1 - kTempSuffix.size());
  }
  for (std::string_view suffix : {kEntrySuffix, kSocketSuffix}) {
    if (HasSuffix(name, suffix)) return name.substr(0, name.size() - suffix.size());
  }
  return {};
}

bool OwnerAlive(pid_t pid, uint64_t ticks) {
  std::optional<uint64_t> actual = ProcessStartTicks(pid);
  return actual && *actual == ticks;
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Reads one live entry file; false when it is not one (then it may be garbage to prune).
bool LoadEntry(const std::string& dir, std::string_view name, RegistryEntry* entry,
               std::vector<std::string>* warnings) {
  std::string error;
  std::optional<RegistryEntry> parsed =
      ParseRegistryEntry(ReadSmallFile(dir + "/" + std::string(name)), &error);
  if (!parsed) {
    warnings->push_back("ignoring registry entry " + dir + "/" + EscapeForMessage(name) + ": " +
                        error);
    return false;
  }
  *entry = *parsed;
  return true;
}

}  // namespace

std::string_view ForwardKindName(ForwardKind kind) {
  switch (kind) {
    case ForwardKind::kLocal:
      return "local";
    case ForwardKind::kDynamic:
      return "dynamic";
    case ForwardKind::kRemote:
      return "remote";
  }
  return "local";
}

std::string FormatRegistryEntry(const RegistryEntry& entry) {
  std::string text = std::string(kVersionLine) + "\n";
  text += "pid=" + std::to_string(entry.pid) + "\n";
  text += "start_ticks=" + std::to_string(entry.start_ticks) + "\n";
  text += "started=" + std::to_string(entry.started_unix) + "\n";
  text += "ttl_end=" + (entry.ttl_end_unix ? std::to_string(*entry.ttl_end_unix) : "none") + "\n";
  text += "destination=" + EscapeValue(entry.destination) + "\n";
  text += "user=" + EscapeValue(entry.user) + "\n";
  text += "tied_to=" + std::to_string(entry.tied_to) + "\n";
  for (const RegistryForward& forward : entry.forwards) {
    text +=
        "forward=" + EscapeValue(forward.listen) + "\t" + EscapeValue(forward.target) + "\t" +
        std::to_string(forward.port) +
        (forward.kind == ForwardKind::kLocal ? ""
                                             : "\t" + std::string(ForwardKindName(forward.kind))) +
        "\n";
  }
  return text;
}

std::optional<RegistryEntry> ParseRegistryEntry(std::string_view text, std::string* error) {
  std::vector<std::string_view> lines = Split(text, '\n');
  if (lines.empty() || lines.front() != kVersionLine) {
    *error = "not a tether registry entry (version 1)";
    return std::nullopt;
  }
  RegistryEntry entry;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty() && i + 1 == lines.size()) break;
    const size_t equals = lines[i].find('=');
    if (equals == std::string_view::npos ||
        !ApplyField(lines[i].substr(0, equals), lines[i].substr(equals + 1), &entry)) {
      *error = "bad line " + std::to_string(i + 1) + ": " + QuoteForMessage(lines[i].substr(0, 80));
      return std::nullopt;
    }
  }
  if (entry.pid <= 0 || entry.start_ticks == 0) {
    *error = "no pid or start time";
    return std::nullopt;
  }
  return entry;
}

std::string RegistryDirPath() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && runtime[0] == '/') return std::string(runtime) + "/tether";
  return "/tmp/tether-" + std::to_string(geteuid());
}

bool CheckRegistryDir(const std::string& dir, bool* missing, std::string* error) {
  struct stat st {};
  *missing = false;
  if (lstat(dir.c_str(), &st) != 0) {
    *missing = errno == ENOENT;
    *error = ErrnoMessage("registry directory " + dir);
    return false;
  }
  std::string problem;
  if (!S_ISDIR(st.st_mode)) {
    problem = "not a directory";
  } else if (st.st_uid != geteuid()) {
    problem = "owned by uid " + std::to_string(st.st_uid) + ", not by this user";
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problem = std::string("writable by others (mode ") + mode + ")";
  }
  if (problem.empty()) return true;
  *error = "registry directory " + EscapeForMessage(dir) + " refused: " + problem;
  return false;
}

bool PrepareRegistryDir(const std::string& dir, std::string* error) {
  if (mkdir(dir.c_str(), 0700) == 0) {
    // The umask may have taken bits away, never added; make the mode exact.
    chmod(dir.c_str(), 0700);
  } else if (errno != EEXIST) {
    *error = ErrnoMessage("cannot create registry directory " + EscapeForMessage(dir));
    return false;
  }
  bool missing = false;
  return CheckRegistryDir(dir, &missing, error);
}

std::optional<uint64_t> ProcessStartTicks(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  const std::string stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t comm_end = stat.rfind(')');
  if (comm_end == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(comm_end + 1));
  std::string field;
  // Field 3, the state: a zombie has exited already, only its parent has not reaped it.
  if (!(fields >> field) || field == "Z" || field == "X") return std::nullopt;
  for (int i = kFirstFieldAfterComm + 1; i < kStartTimeField && (fields >> field); ++i) {
  }
  uint64_t ticks = 0;
  if (!(fields >> ticks)) return std::nullopt;
  return ticks;
}

std::string RegistryStem(pid_t pid, uint64_t start_ticks) {
  return std::to_string(pid) + "-" + std::to_string(start_ticks);
}

std::string EntryPath(const std::string& dir, pid_t pid, uint64_t start_ticks) {
  return dir + "/" + RegistryStem(pid, start_ticks) + std::string(kEntrySuffix);
}

std::string ControlSocketPath(const std::string& dir, pid_t pid, uint64_t start_ticks) {
  return dir + "/" + RegistryStem(pid, start_ticks) + std::string(kSocketSuffix);
}

std::vector<RegistryEntry> LoadLiveEntries(const std::string& dir,
                                           std::vector<std::string>* warnings) {
  std::vector<RegistryEntry> entries;
  std::unique_ptr<DIR, int (*)(DIR*)> listing(opendir(dir.c_str()), closedir);
  while (dirent* file = listing ? readdir(listing.get()) : nullptr) {
    const std::string_view name = file->d_name;
    pid_t pid = 0;
    uint64_t ticks = 0;
    if (!ParseStem(StemOf(name), &pid, &ticks)) continue;
    if (!OwnerAlive(pid, ticks)) {
      // Its owner is gone (or the pid now names another process): nobody will remove it.
      unlinkat(dirfd(listing.get()), file->d_name, 0);
      continue;
    }
    RegistryEntry entry;
    if (!HasSuffix(name, kEntrySuffix) || !LoadEntry(dir, name, &entry, warnings)) continue;
    if (entry.pid != pid || entry.start_ticks != ticks) continue;
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const RegistryEntry& a, const RegistryEntry& b) {
    return std::tie(a.started_unix, a.pid) < std::tie(b.started_unix, b.pid);
  });
  return entries;
}

std::unique_ptr<Registration> Registration::Publish(const std::string& dir,
                                                    const RegistryEntry& entry,
                                                    std::string* error) {
  const std::string path = EntryPath(dir, entry.pid, entry.start_ticks);
  const std::string temp =
      dir + "/." + RegistryStem(entry.pid, entry.start_ticks) + std::string(kTempSuffix);
  unlink(temp.c_str());
  UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  const std::string text = FormatRegistryEntry(entry);
  bool written =
      fd && write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (!written || close(fd.Release()) != 0 || rename(temp.c_str(), path.c_str()) != 0) {
    *error = ErrnoMessage("cannot write registry entry " + EscapeForMessage(path));
    unlink(temp.c_str());
    return nullptr;
  }
  return std::make_unique<Registration>(PassKey{}, path);
}

Registration::~Registration() { unlink(path_.c_str()); }

}  // namespace tether
