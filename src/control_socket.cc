#include "tether/control_socket.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "tether/failure.h"
#include "tether/logging.h"
#include "tether/message_text.h"

namespace tether {
namespace {

constexpr size_t kMaxPeers = 8;
constexpr std::chrono::milliseconds kPeerDeadline{2000};

bool UnixAddress(const std::string& path, sockaddr_un* address, std::string* error) {
  *address = sockaddr_un{};
  address->sun_family = AF_UNIX;
  if (path.size() >= sizeof(address->sun_path)) {
    *error = "control socket path too long: " + EscapeForMessage(path);
    return false;
  }
  std::memcpy(address->sun_path, path.c_str(), path.size() + 1);
  return true;
}

bool PeerCredentials(int fd, ucred* credentials) {
  socklen_t length = sizeof(*credentials);
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, credentials, &length) == 0;
}

bool SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
         setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0;
}

}  // namespace

std::unique_ptr<ControlServer> ControlServer::Listen(EventLoop* loop, const std::string& path,
                                                     Handlers handlers, std::string* error) {
  sockaddr_un address;
  if (!UnixAddress(path, &address, error)) return nullptr;
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  unlink(path.c_str());
  // 0600 from the moment bind() creates the file.
  mode_t old_mask = umask(0177);
  int rc = fd ? bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) : -1;
  umask(old_mask);
  struct stat st {};
  if (rc != 0 || listen(fd.get(), 16) != 0 || stat(path.c_str(), &st) != 0) {
    *error = ErrnoMessage("cannot listen on control socket " + EscapeForMessage(path));
    if (rc == 0) unlink(path.c_str());
    return nullptr;
  }
  auto server = std::make_unique<ControlServer>(
      PassKey{}, loop, std::move(fd), SocketFile(path, st.st_dev, st.st_ino), std::move(handlers));
  ControlServer* raw = server.get();
  loop->Watch(raw->fd_.get(), EPOLLIN, [raw](uint32_t) { raw->OnAcceptable(); });
  return server;
}

ControlServer::ControlServer(PassKey, EventLoop* loop, UniqueFd fd, SocketFile file,
                             Handlers handlers)
    : loop_(loop), fd_(std::move(fd)), file_(std::move(file)), handlers_(std::move(handlers)) {}

ControlServer::~ControlServer() {
  for (auto& [fd, peer] : peers_) {
    loop_->Unwatch(fd);
    loop_->CancelTimer(peer.deadline);
  }
  loop_->Unwatch(fd_.get());
}

void ControlServer::OnAcceptable() {
  for (;;) {
    UniqueFd fd(accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    ucred credentials{};
    if (!PeerCredentials(fd.get(), &credentials) || credentials.uid != geteuid()) {
      LogEventText(spdlog::level::warn, "control_peer_refused",
                   "control socket: refused a peer of uid " + std::to_string(credentials.uid));
      continue;
    }
    if (peers_.size() >= kMaxPeers) continue;
    const int raw = fd.get();
    Peer& peer = peers_[raw];
    peer.fd = std::move(fd);
    peer.pid = credentials.pid;
    peer.deadline =
        loop_->AddTimer(EventLoop::Clock::now() + kPeerDeadline, [this, raw] { Drop(raw); });
    loop_->Watch(raw, EPOLLIN, [this, raw](uint32_t) { OnPeerReadable(raw); });
  }
}

void ControlServer::OnPeerReadable(int fd) {
  Peer& peer = peers_.at(fd);
  char buffer[kMaxControlLine];
  ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return Drop(fd);
  peer.received.append(buffer, static_cast<size_t>(n));
  std::string line;
  switch (TakeControlLine(peer.received, &line)) {
    case LineState::kIncomplete:
      return;
    case LineState::kTooLong:
      return Answer(fd, FormatErrorReply("request too long"));
    case LineState::kLine:
      break;
  }
  std::string error;
  std::optional<ControlRequest> request = ParseControlRequest(line, &error);
  if (!request) return Answer(fd, FormatErrorReply(error));
  if (*request == ControlRequest::kStatus) return Answer(fd, FormatStatusReply(handlers_.status()));
  pid_t requester = peer.pid;
  Answer(fd, FormatStopReply());
  handlers_.stop(requester);
}

void ControlServer::Answer(int fd, const std::string& line) {
  // The reply is one short line into an empty socket buffer: it fits at once, or the
  // peer is not worth waiting for.
  (void)!send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  Drop(fd);
}

void ControlServer::Drop(int fd) {
  auto it = peers_.find(fd);
  if (it == peers_.end()) return;
  loop_->Unwatch(fd);
  loop_->CancelTimer(it->second.deadline);
  peers_.erase(it);
}

bool ControlExchange(const std::string& path, pid_t expected_pid, ControlRequest request,
                     std::chrono::milliseconds timeout, std::string* reply, std::string* error) {
  sockaddr_un address;
  if (!UnixAddress(path, &address, error)) return false;
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || !SetTimeouts(fd.get(), timeout) ||
      connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    *error = ErrnoMessage("cannot connect to " + EscapeForMessage(path));
    return false;
  }
  ucred credentials{};
  if (!PeerCredentials(fd.get(), &credentials) || credentials.uid != geteuid() ||
      credentials.pid != expected_pid) {
    *error = "control socket " + EscapeForMessage(path) + " belongs to pid " +
             std::to_string(credentials.pid) + " (uid " + std::to_string(credentials.uid) +
             "), not to tunnel " + std::to_string(expected_pid);
    return false;
  }
  const std::string text = FormatControlRequest(request);
  if (send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) {
    *error = ErrnoMessage("cannot send to " + EscapeForMessage(path));
    return false;
  }
  std::string received;
  char buffer[kMaxControlLine];
  for (;;) {
    if (TakeControlLine(received, reply) == LineState::kLine) return true;
    ssize_t n = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || received.size() >= kMaxControlLine) break;
    received.append(buffer, static_cast<size_t>(n));
  }
  *error = received.empty() ? ErrnoMessage("no reply from " + EscapeForMessage(path))
                            : "malformed reply from " + EscapeForMessage(path);
  return false;
}

}  // namespace tether
