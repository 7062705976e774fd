#include "tether/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

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

bool ResolveBindAddresses(const Endpoint& listen, bool gateway_ports,
                          std::vector<BindAddress>* out, Failure* failure) {
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

}  // namespace

bool BindForward(const ForwardSpec& forward, size_t forward_index, bool gateway_ports,
                 std::vector<Listener>* listeners, Failure* failure) {
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
      *failure = {ExitCode::kCannotListen, ErrnoMessage("cannot listen on " + text)};
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
    *failure = {ExitCode::kCannotListen, "cannot listen for " + FormatEndpoint(forward.listen) +
                                             ": no usable address"};
    return false;
  }
  for (Listener& listener : bound) listeners->push_back(std::move(listener));
  return true;
}

}  // namespace tether
