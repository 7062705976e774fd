#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/unique_fd.h"

namespace tether {

/// Owns the file of a listening Unix socket: unlinks it when destroyed, but only if the name
/// still names the socket we created (same device and inode), never a successor's. Made
/// with the socket's directory open, it checks and unlinks through that directory
/// (fstatat, unlinkat), so that no swap of a directory on the path can redirect the unlink
/// to a file elsewhere.
class SocketFile {
 public:
  SocketFile() = default;
  /// By path: for sockets in a directory only we can write (the control socket).
  SocketFile(std::string path, dev_t device, ino_t inode)
      : path_(std::move(path)), device_(device), inode_(inode) {}
  /// `name` inside the open directory `dir`; `path` is for messages.
  SocketFile(UniqueFd dir, std::string name, std::string path, dev_t device, ino_t inode)
      : dir_(std::move(dir)),
        name_(std::move(name)),
        path_(std::move(path)),
        device_(device),
        inode_(inode) {}
  SocketFile(SocketFile&& other) noexcept { *this = std::move(other); }
  SocketFile& operator=(SocketFile&& other) noexcept;
  SocketFile(const SocketFile&) = delete;
  SocketFile& operator=(const SocketFile&) = delete;
  ~SocketFile() { Unlink(); }
  void Unlink();

 private:
  UniqueFd dir_;      ///< the socket's directory (O_PATH), or invalid for a path-only file
  std::string name_;  ///< the socket's name inside dir_
  std::string path_;
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

/// One listening socket of a forward. A forward may have several (127.0.0.1 and ::1).
struct Listener {
  UniqueFd fd;
  std::string address;  ///< "127.0.0.1:5432", "[::1]:5432" or a socket path
  uint16_t port = 0;    ///< the bound port (the chosen one for port 0)
  size_t forward_index = 0;
  SocketFile socket_file;  ///< Unix listeners only; declared last, so unlinked before close
};

/// Binds every listening socket of `forward` with ssh's rules: no bind address means
/// loopback (both families) unless `gateway_ports`; "*" or an empty address means all
/// interfaces; "localhost" means loopback; anything else is resolved and bound as given.
/// Port 0 picks a free port, the same one for every address. A Unix socket path is created
/// mode 0600; a stale socket file (nobody accepts on it) is replaced, a live one refused.
/// The socket's directory is opened once, without following a symbolic link as its last
/// component, and every later step (the stale check, the unlink, bind) goes through it.
/// On failure nothing stays bound
/// and *failure is kCannotListen naming the address.
bool BindForward(const ForwardSpec& forward, size_t forward_index, bool gateway_ports,
                 std::vector<Listener>* listeners, Failure* failure);

/// Fills `address` for a Unix socket at `path`; false when the path is too long for it.
bool UnixAddress(const std::string& path, sockaddr_un* address);

}  // namespace tether
