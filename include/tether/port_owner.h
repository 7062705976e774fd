#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tether {

/// A process holding a socket, found through /proc.
struct SocketHolder {
  int pid = 0;           ///< 0 when the socket's owner could not be seen
  std::string command;   ///< its command line, arguments separated by spaces
  unsigned int uid = 0;  ///< the socket's owner
};

/// Who listens on TCP `port` (any address of the family; IPv6 when `ipv6`), from
/// /proc/net/tcp{,6} and /proc/*/fd. nullopt when nobody listens there any more.
std::optional<SocketHolder> FindTcpListener(uint16_t port, bool ipv6);

/// "in use by pid 4242 (ssh -N -L 5432:localhost:5432 db)", or "in use by a process of
/// user alice (uid 1001), which tether cannot see", or "in use" when nothing is known.
std::string DescribeHolder(const std::optional<SocketHolder>& holder);

/// Process `pid` of user `uid` as a holder, its command line read from /proc: for a socket
/// whose peer credentials (SO_PEERCRED) named it.
SocketHolder HolderOfProcess(int pid, unsigned int uid);

/// The inode of the socket behind `path` if some process listens there (/proc/net/unix).
std::optional<SocketHolder> FindUnixListener(const std::string& path);

}  // namespace tether
