#include "tether/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "tether/port_owner.h"

namespace tether {
namespace {

struct BindAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool optional = false;  // a failure to bind is tolerated (::1 on a host without IPv6)
};

BindAddress MakeAddress(int family, bool loopback, uint16_t port, bool optional) {
  BindAddress address;
  address.optional = optional;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&address.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    address.length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_addr = loopback ? in6addr_loopback : in6addr_any;
    address.length = sizeof(sockaddr_in6);
  }
  return address;
}

bool ResolveBindAddresses(const Endpoint& listen, bool gateway_ports, std::vector<BindAddress>* out,
                          Failure* failure) {
  const std::string& host = listen.host;
  bool wildcard = host == "*" || (host.empty() && gateway_ports);
  if (wildcard || host.empty() || host == "localhost") {
    out->push_back(MakeAddress(AF_INET, !wildcard, listen.port, false));
    out->push_back(MakeAddress(AF_INET6, !wildcard, listen.port, true));
    return true;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string port = std::to_string(listen.port);
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) {
    *failure = {ExitCode::kCannotListen,
                "cannot listen on " + FormatEndpoint(listen) + ": " + gai_strerror(rc)};
    return false;
  }
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    BindAddress address;
    memcpy(&address.storage, ai->ai_addr, ai->ai_addrlen);
    address.length = ai->ai_addrlen;
    out->push_back(address);
  }
  freeaddrinfo(result);
  return true;
}

std::string FormatSockaddr(const sockaddr_storage& storage, uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    *port = ntohs(in->sin_port);
    return std::string(text) + ":" + std::to_string(*port);
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
  *port = ntohs(in6->sin6_port);
  return "[" + std::string(text) + "]:" + std::to_string(*port);
}

void SetPort(BindAddress* address, uint16_t port) {
  if (address->storage.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&address->storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&address->storage)->sin6_port = htons(port);
  }
}

// Binds and listens; returns an invalid fd with errno set on failure.
UniqueFd BindOne(const BindAddress& address) {
  UniqueFd fd(socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (address.storage.ss_family == AF_INET6) {
    // Lets 127.0.0.1 and ::1 (or 0.0.0.0 and ::) be bound side by side.
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0 ||
      listen(fd.get(), SOMAXCONN) != 0) {
    int saved = errno;
    fd.Reset();
    errno = saved;
  }
  return fd;
}

/// A socket's directory, open, and its name in it: bind() and connect() have no *at form,
/// so they reach the name through /proc/self/fd/N/, which resolves to this very directory
/// whatever happens to the path meanwhile.
struct SocketPlace {
  UniqueFd dir;
  std::string name;
  std::string path;  ///< as given, for messages

  std::string ViaFd() const { return "/proc/self/fd/" + std::to_string(dir.get()) + "/" + name; }
};

Failure CannotListen(const std::string& path, const std::string& why) {
  return {ExitCode::kCannotListen, "cannot listen on " + path + ": " + why};
}

// Opens the directory of `path` (O_PATH, O_NOFOLLOW: a symbolic link there could be swapped
// under us by whoever may write its parent).
bool OpenSocketPlace(const std::string& path, SocketPlace* place, Failure* failure) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  place->name = slash == std::string::npos ? path : path.substr(slash + 1);
  place->path = path;
  if (place->name.empty() || place->name == "." || place->name == "..") {
    *failure = CannotListen(path, "not a file name");
    return false;
  }
  place->dir.Reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!place->dir) {
    struct stat st {};
    *failure =
        errno == ELOOP || (errno == ENOTDIR && lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
            ? CannotListen(path, "its directory " + dir +
                                     " is a symbolic link (give the directory it points to)")
            : Failure{ExitCode::kCannotListen, ErrnoMessage("cannot listen on " + path)};
    return false;
  }
  sockaddr_un probe{};
  if (place->ViaFd().size() >= sizeof(probe.sun_path)) {
    *failure = CannotListen(path, "the socket's file name is too long");
    return false;
  }
  return true;
}

// Removes a socket file nobody accepts on (its owner died); refuses a live one. The check
// and the unlink both go through the directory fd: no swap in between can redirect them.
bool ClearStaleSocket(const SocketPlace& place, Failure* failure) {
  struct stat st {};
  if (fstatat(place.dir.get(), place.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
  if (!S_ISSOCK(st.st_mode)) {
    *failure = CannotListen(place.path, "the path exists and is not a socket");
    return false;
  }
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  UnixAddress(place.ViaFd(), &address);
  if (connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    // /proc/net/unix names a socket by the address it was bound to, which for another
    // tether is its /proc/self/fd/N/ form: its credentials name it then.
    std::optional<SocketHolder> holder = FindUnixListener(place.path);
    ucred peer{};
    socklen_t length = sizeof(peer);
    if ((!holder || holder->pid == 0) &&
        getsockopt(probe.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peer.pid > 0) {
      holder = HolderOfProcess(peer.pid, peer.uid);
    }
    *failure = CannotListen(place.path, place.path + " is " + DescribeHolder(holder));
    return false;
  }
  if (errno != ECONNREFUSED) {
    *failure = {ExitCode::kCannotListen, ErrnoMessage("cannot listen on " + place.path)};
    return false;
  }
  // The same inode as checked, or nothing: a socket that took its place meanwhile stays.
  struct stat again {};
  if (fstatat(place.dir.get(), place.name.c_str(), &again, AT_SYMLINK_NOFOLLOW) == 0 &&
      again.st_dev == st.st_dev && again.st_ino == st.st_ino) {
    unlinkat(place.dir.get(), place.name.c_str(), 0);
  }
  return true;
}

bool BindUnix(const std::string& path, size_t forward_index, std::vector<Listener>* listeners,
              Failure* failure) {
  SocketPlace place;
  if (!OpenSocketPlace(path, &place, failure) || !ClearStaleSocket(place, failure)) return false;
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  UnixAddress(place.ViaFd(), &address);
  // The umask makes bind() create the file 0600 from the start: no window where another
  // local user could connect.
  mode_t old_mask = umask(0177);
  int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
  umask(old_mask);
  struct stat st {};
  if (rc != 0 || listen(fd.get(), SOMAXCONN) != 0 ||
      fstatat(place.dir.get(), place.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    *failure = {ExitCode::kCannotListen, ErrnoMessage("cannot listen on " + path)};
    if (rc == 0) unlinkat(place.dir.get(), place.name.c_str(), 0);
    return false;
  }
  Listener listener;
  listener.fd = std::move(fd);
  listener.address = path;
  listener.forward_index = forward_index;
  listener.socket_file =
      SocketFile(std::move(place.dir), std::move(place.name), path, st.st_dev, st.st_ino);
  listeners->push_back(std::move(listener));
  return true;
}

}  // namespace

bool UnixAddress(const std::string& path, sockaddr_un* address) {
  *address = sockaddr_un{};
  address->sun_family = AF_UNIX;
  if (path.size() >= sizeof(address->sun_path)) return false;
  memcpy(address->sun_path, path.c_str(), path.size());
  return true;
}

SocketFile& SocketFile::operator=(SocketFile&& other) noexcept {
  if (this != &other) {
    Unlink();
    dir_ = std::move(other.dir_);
    name_ = std::exchange(other.name_, std::string());
    path_ = std::exchange(other.path_, std::string());
    device_ = other.device_;
    inode_ = other.inode_;
  }
  return *this;
}

void SocketFile::Unlink() {
  if (path_.empty()) return;
  const int dir = dir_ ? dir_.get() : AT_FDCWD;
  const std::string& name = dir_ ? name_ : path_;
  struct stat st {};
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == device_ &&
      st.st_ino == inode_) {
    unlinkat(dir, name.c_str(), 0);
  }
  path_.clear();
  name_.clear();
  dir_.Reset();
}

bool BindForward(const ForwardSpec& forward, size_t forward_index, bool gateway_ports,
                 std::vector<Listener>* listeners, Failure* failure) {
  if (forward.listen.IsUnix()) {
    return BindUnix(forward.listen.unix_path, forward_index, listeners, failure);
  }
  std::vector<BindAddress> addresses;
  if (!ResolveBindAddresses(forward.listen, gateway_ports, &addresses, failure)) return false;
  std::vector<Listener> bound;
  uint16_t chosen_port = forward.listen.port;
  for (BindAddress& address : addresses) {
    if (chosen_port != 0) SetPort(&address, chosen_port);
    UniqueFd fd = BindOne(address);
    if (!fd) {
      if (address.optional && errno != EADDRINUSE) continue;
      uint16_t port = 0;
      std::string text = FormatSockaddr(address.storage, &port);
      *failure = {ExitCode::kCannotListen,
                  errno == EADDRINUSE ? "cannot listen on " + text + ": " + text + " is " +
                                            DescribeHolder(FindTcpListener(
                                                port, address.storage.ss_family == AF_INET6))
                                      : ErrnoMessage("cannot listen on " + text)};
      return false;  // `bound` closes what was bound so far
    }
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &length);
    Listener listener;
    listener.address = FormatSockaddr(local, &listener.port);
    listener.fd = std::move(fd);
    listener.forward_index = forward_index;
    chosen_port = listener.port;
    bound.push_back(std::move(listener));
  }
  if (bound.empty()) {
    *failure = {ExitCode::kCannotListen,
                "cannot listen for " + FormatEndpoint(forward.listen) + ": no usable address"};
    return false;
  }
  for (Listener& listener : bound) listeners->push_back(std::move(listener));
  return true;
}

}  // namespace tether
