#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

/// One forward as `tether list` shows it: the first local address, the remote target.
/// Which kind of forward a registry entry lists.
enum class ForwardKind {
  kLocal,    ///< -L: `listen` is here, `target` is reached from the server
  kDynamic,  ///< -D: a SOCKS server here (target is "socks")
  kRemote,   ///< -R: `listen` is on the server (port: where it listens), `target` is reached from
             ///< here
};

/// "local", "dynamic", "remote": the kind's name in the registry file and in JSON.
std::string_view ForwardKindName(ForwardKind kind);

struct RegistryForward {
  std::string listen;  ///< "127.0.0.1:5432" or a socket path
  std::string target;  ///< "db:5432" or a remote socket path
  uint16_t port = 0;   ///< the local TCP port (0 for a Unix socket), for `tether stop :PORT`;
                       ///< for -R, the server's
  ForwardKind kind = ForwardKind::kLocal;
  friend bool operator==(const RegistryForward&, const RegistryForward&) = default;
};

/// What a running tunnel tells other tethers about itself: one file per tunnel in the
/// registry directory, named after its pid and start time, next to its control socket.
struct RegistryEntry {
  pid_t pid = 0;
  /// Start time of `pid` in clock ticks after boot (/proc/PID/stat field 22): a later
  /// process that gets the same pid has a different one, so it is never taken for this.
  uint64_t start_ticks = 0;
  int64_t started_unix = 0;             ///< wall clock, seconds since the epoch
  std::optional<int64_t> ttl_end_unix;  ///< nullopt with --ttl none
  std::vector<RegistryForward> forwards;
  std::string destination;  ///< the host as typed
  std::string user;         ///< the user on the server
  pid_t tied_to = 0;        ///< the process whose end stops the tunnel
  friend bool operator==(const RegistryEntry&, const RegistryEntry&) = default;
};

/// The entry as stored: "key=value" lines after a version line; values escaped so that any
/// byte survives (\\, \n, \t and other control bytes as \xNN).
std::string FormatRegistryEntry(const RegistryEntry& entry);
/// Parses FormatRegistryEntry's output; on failure *error says what is wrong.
std::optional<RegistryEntry> ParseRegistryEntry(std::string_view text, std::string* error);

/// $XDG_RUNTIME_DIR/tether when XDG_RUNTIME_DIR is set to an absolute path, else
/// /tmp/tether-UID.
std::string RegistryDirPath();

/// Creates the directory (0700) if missing, then checks it is a real directory owned by
/// this user and writable by nobody else; false with *error when refused, since another
/// local user could then plant or read entries.
bool PrepareRegistryDir(const std::string& dir, std::string* error);
/// The same checks without creating anything; false with *error if missing or refused.
bool CheckRegistryDir(const std::string& dir, bool* missing, std::string* error);

/// Field 22 of /proc/PID/stat; nullopt when the process does not exist or has exited
/// (a zombie not yet reaped).
std::optional<uint64_t> ProcessStartTicks(pid_t pid);

/// "PID-TICKS": the name of a tunnel's entry ("STEM.entry") and socket ("STEM.sock").
std::string RegistryStem(pid_t pid, uint64_t start_ticks);
std::string EntryPath(const std::string& dir, pid_t pid, uint64_t start_ticks);
std::string ControlSocketPath(const std::string& dir, pid_t pid, uint64_t start_ticks);

/// The entries of live tunnels (pid alive with the recorded start time), oldest first.
/// Files of dead owners — entries, sockets, unfinished temp files — are removed on the way;
/// an entry whose pid now belongs to another process is removed and never contacted.
std::vector<RegistryEntry> LoadLiveEntries(const std::string& dir,
                                           std::vector<std::string>* warnings);

/// A published entry: written atomically (temp file + rename), removed when destroyed.
class Registration {
  struct PassKey {};

 public:
  /// Writes `entry` to `dir`; nullptr with *error on failure.
  static std::unique_ptr<Registration> Publish(const std::string& dir, const RegistryEntry& entry,
                                               std::string* error);
  /// Use Publish(); public only for std::make_unique.
  Registration(PassKey, std::string path) : path_(std::move(path)) {}
  ~Registration();
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::string path_;
};

}  // namespace tether
