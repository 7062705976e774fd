#include "tether/port_owner.h"

#include <dirent.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "tether/message_text.h"

namespace tether {
namespace {

constexpr char kTcpListenState[] = "0A";

struct ProcSocket {
  unsigned long inode = 0;
  unsigned int uid = 0;
};

std::string ReadCommandLine(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  // Arguments joined by spaces; anything else the process chose is escaped when shown.
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  constexpr size_t kMaxShown = 200;
  return text.size() > kMaxShown ? text.substr(0, kMaxShown) + "..." : text;
}

// The pid of the first process with an fd on `inode`; 0 when none is visible to us.
int FindProcessWithInode(unsigned long inode) {
  std::string wanted = "socket:[" + std::to_string(inode) + "]";
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  if (!proc) return 0;
  while (dirent* entry = readdir(proc.get())) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    std::unique_ptr<DIR, int (*)(DIR*)> fds(opendir(fd_dir.c_str()), closedir);
    if (!fds) continue;  // another user's process: EACCES
    while (dirent* fd = readdir(fds.get())) {
      char target[64] = {};
      std::string link = fd_dir + "/" + fd->d_name;
      ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
      if (n > 0 && wanted == std::string(target, static_cast<size_t>(n))) {
        return static_cast<int>(pid);
      }
    }
  }
  return 0;
}

std::optional<ProcSocket> FindListeningTcpSocket(uint16_t port, bool ipv6) {
  std::ifstream in(ipv6 ? "/proc/net/tcp6" : "/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits;
    ProcSocket socket;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> socket.uid;
    std::string timeout;
    fields >> timeout >> socket.inode;
    size_t colon = local.rfind(':');
    if (colon == std::string::npos || state != kTcpListenState) continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) == port) return socket;
  }
  return std::nullopt;
}

std::optional<SocketHolder> HolderOf(const ProcSocket& socket) {
  SocketHolder holder;
  holder.uid = socket.uid;
  holder.pid = FindProcessWithInode(socket.inode);
  if (holder.pid != 0) holder.command = ReadCommandLine(holder.pid);
  return holder;
}

}  // namespace

std::optional<SocketHolder> FindTcpListener(uint16_t port, bool ipv6) {
  std::optional<ProcSocket> socket = FindListeningTcpSocket(port, ipv6);
  if (!socket) return std::nullopt;
  return HolderOf(*socket);
}

std::optional<SocketHolder> FindUnixListener(const std::string& path) {
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refcount, protocol, flags, type, state, inode, socket_path;
    fields >> num >> refcount >> protocol >> flags >> type >> state >> inode >> socket_path;
    // Flag 00010000 is __SO_ACCEPTCON: a listening socket.
    if (socket_path == path && flags == "00010000") {
      return HolderOf(ProcSocket{std::stoul(inode), 0});
    }
  }
  return std::nullopt;
}

SocketHolder HolderOfProcess(int pid, unsigned int uid) {
  SocketHolder holder;
  holder.pid = pid;
  holder.uid = uid;
  if (pid != 0) holder.command = ReadCommandLine(pid);
  return holder;
}

std::string DescribeHolder(const std::optional<SocketHolder>& holder) {
  if (!holder) return "in use";
  if (holder->pid != 0) {
    // Another user's process sets its own command line: escaped, as every text from outside.
    return "in use by pid " + std::to_string(holder->pid) + " (" +
           EscapeForMessage(holder->command) + ")";
  }
  const passwd* user = getpwuid(holder->uid);
  std::string name = user != nullptr ? user->pw_name : "?";
  return "in use by a process of user " + EscapeForMessage(name) + " (uid " +
         std::to_string(holder->uid) + "), which tether cannot see";
}

}  // namespace tether
