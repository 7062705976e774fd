#include "support/fault_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/net_util.h"
#include "support/subprocess.h"

namespace tether::testing {

namespace {

/// How often a blocked pump looks at the pause, stop and abort flags.
constexpr std::chrono::milliseconds kPollSlice(20);

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/// Makes the next close() send RST instead of FIN.
void SetAbortiveClose(int fd) {
  linger lin{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
}

}  // namespace

FaultProxy::FaultProxy(uint16_t target_port, std::string target_address)
    : target_address_(std::move(target_address)), target_port_(target_port) {
  listen_fd_ = ListenTcp("127.0.0.1", 0, &error_);
  if (!listen_fd_) return;
  port_ = LocalPort(listen_fd_.get());
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

std::unique_ptr<FaultProxy> FaultProxy::Start(uint16_t target_port, std::string* error) {
  auto proxy = std::make_unique<FaultProxy>(target_port);
  if (proxy->ok()) return proxy;
  *error = proxy->error();
  return nullptr;
}

FaultProxy::~FaultProxy() { Stop(); }

void FaultProxy::Pause() { paused_ = true; }

void FaultProxy::Resume() { paused_ = false; }

void FaultProxy::SetDelay(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }

void FaultProxy::ResetAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& link : links_) AbortLocked(link.get());
  }
  // Pumps notice within one poll slice; wait so the caller can rely on the RSTs being sent.
  WaitUntil([this] { return active_connections() == 0; }, std::chrono::seconds(2));
}

int FaultProxy::active_connections() {
  std::lock_guard<std::mutex> lock(mu_);
  int active = 0;
  for (const auto& link : links_) active += link->pumps_running > 0 ? 1 : 0;
  return active;
}

void FaultProxy::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (listen_fd_) shutdown(listen_fd_.get(), SHUT_RDWR);  // Wakes accept().
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::unique_ptr<Link>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.swap(links_);
  }
  for (auto& link : all) {
    link->up.join();
    link->down.join();
  }
  listen_fd_.Reset();
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    UniqueFd client(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(kPollSlice);
        continue;
      }
      break;  // The listener was shut down.
    }
    ++accepted_;
    ReapFinished();
    StartLink(std::move(client));
  }
}

void FaultProxy::StartLink(UniqueFd client) {
  std::string error;
  UniqueFd server = ConnectTcp(target_address_, target_port_, &error);
  if (!server) {
    SetAbortiveClose(client.get());  // Like a refused connection, as far as TCP allows.
    return;
  }
  SetNonBlocking(client.get());
  SetNonBlocking(server.get());
  std::lock_guard<std::mutex> lock(mu_);
  auto link = std::make_unique<Link>();
  link->client = std::move(client);
  link->server = std::move(server);
  Link* raw = link.get();
  int client_fd = raw->client.get(), server_fd = raw->server.get();
  raw->up = std::thread([this, raw, client_fd, server_fd] { Pump(raw, client_fd, server_fd); });
  raw->down = std::thread([this, raw, client_fd, server_fd] { Pump(raw, server_fd, client_fd); });
  links_.push_back(std::move(link));
}

void FaultProxy::Pump(Link* link, int from, int to) {
  char buf[65536];
  while (WaitForTurn(*link) && WaitFor(*link, from, POLLIN)) {
    ssize_t n = read(from, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n == 0) {
      shutdown(to, SHUT_WR);  // Half-close travels on; the other direction keeps going.
      break;
    }
    if (n > 0 && delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    // A read error (reset) or a failed send aborts the whole link, as a router would.
    if (n < 0 || !SendAll(*link, to, buf, static_cast<size_t>(n))) {
      std::lock_guard<std::mutex> lock(mu_);
      AbortLocked(link);
      break;
    }
  }
  FinishPump(link);
}

bool FaultProxy::WaitForTurn(const Link& link) {
  while (paused_ && !stopping_ && !link.aborted) std::this_thread::sleep_for(kPollSlice);
  return !stopping_ && !link.aborted;
}

bool FaultProxy::WaitFor(const Link& link, int fd, short events) {
  while (!stopping_ && !link.aborted) {
    pollfd pfd{fd, events, 0};
    if (poll(&pfd, 1, static_cast<int>(kPollSlice.count())) > 0) return true;
  }
  return false;
}

bool FaultProxy::SendAll(const Link& link, int fd, const char* data, size_t len) {
  while (len > 0) {
    if (!WaitForTurn(link)) return true;  // Stopping or aborted: not a send failure.
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!WaitFor(link, fd, POLLOUT)) return true;
      continue;
    }
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

void FaultProxy::AbortLocked(Link* link) {
  if (link->pumps_running == 0 || link->aborted) return;
  link->aborted = true;
  SetAbortiveClose(link->client.get());
  SetAbortiveClose(link->server.get());
}

void FaultProxy::FinishPump(Link* link) {
  std::lock_guard<std::mutex> lock(mu_);
  if (--link->pumps_running > 0) return;
  link->client.Reset();
  link->server.Reset();
}

void FaultProxy::ReapFinished() {
  std::list<std::unique_ptr<Link>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = links_.begin(); it != links_.end();) {
      auto next = std::next(it);
      if ((*it)->pumps_running == 0) finished.splice(finished.end(), links_, it);
      it = next;
    }
  }
  for (auto& link : finished) {
    link->up.join();
    link->down.join();
  }
}

}  // namespace tether::testing
