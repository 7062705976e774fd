#include "support/echo_server.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/net_util.h"

namespace tether::testing {

TcpServer::TcpServer(Mode mode, std::string greeting, std::string address, uint16_t port)
    : mode_(mode), greeting_(std::move(greeting)), address_(std::move(address)) {
  listen_fd_ = ListenTcp(address_, port, &error_);
  if (!listen_fd_) return;
  port_ = LocalPort(listen_fd_.get());
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

std::unique_ptr<TcpServer> TcpServer::Start(Mode mode, const std::string& greeting,
                                            std::string* error, const std::string& address,
                                            uint16_t port) {
  auto server = std::make_unique<TcpServer>(mode, greeting, address, port);
  if (server->ok()) return server;
  *error = server->error();
  return nullptr;
}

TcpServer::~TcpServer() { Stop(); }

void TcpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  // shutdown() wakes a thread blocked in accept() or read() on Linux; close() would not.
  if (listen_fd_) shutdown(listen_fd_.get(), SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::unique_ptr<Connection>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& conn : connections_) {
      if (conn->fd) shutdown(conn->fd.get(), SHUT_RDWR);
    }
    all.swap(connections_);
  }
  for (auto& conn : all) conn->thread.join();
  listen_fd_.Reset();
}

void TcpServer::AcceptLoop() {
  while (!stopping_) {
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      break;  // The listener was shut down.
    }
    ++accepted_;
    ++active_;
    ReapFinished();
    std::lock_guard<std::mutex> lock(mu_);
    auto conn = std::make_unique<Connection>();
    conn->fd.Reset(fd);
    Connection* raw = conn.get();
    conn->thread = std::thread([this, raw] { Serve(raw); });
    connections_.push_back(std::move(conn));
  }
}

void TcpServer::Serve(Connection* conn) {
  int fd = conn->fd.get();
  if (mode_ != kGreeting || WriteAll(fd, greeting_)) Echo(fd);
  std::lock_guard<std::mutex> lock(mu_);
  conn->fd.Reset();
  conn->done = true;
  --active_;
}

void TcpServer::Echo(int fd) {
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // Reset by the peer, or Stop(): just close.
    if (n == 0) {
      shutdown(fd, SHUT_WR);  // Pass the client's EOF back; it has all our bytes by now.
      return;
    }
    if (!WriteAll(fd, buf, static_cast<size_t>(n))) return;
  }
}

void TcpServer::ReapFinished() {
  std::list<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if ((*it)->done) finished.splice(finished.end(), connections_, it);
      it = next;
    }
  }
  for (auto& conn : finished) conn->thread.join();
}

}  // namespace tether::testing
