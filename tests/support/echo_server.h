#pragma once

#include <stdint.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tether/unique_fd.h"

namespace tether::testing {

/// A TCP service for tunnels to reach: an accept thread plus one thread per connection.
/// Handles hundreds of concurrent connections; stopping joins every thread it started.
class TcpServer {
 public:
  /// What each connection gets. Unscoped so both TcpServer::kEcho and TcpServer::Mode::kEcho
  /// read naturally at call sites.
  enum Mode {
    /// Echoes every byte until the client's EOF, then shuts down its own write side and
    /// closes: a half-close travels through the tunnel and back.
    kEcho,
    /// Sends the greeting first, then behaves like kEcho.
    kGreeting,
  };

  /// Listens on `address` ("127.0.0.1", "::1") and `port` (0 = any). Check ok().
  explicit TcpServer(Mode mode = kEcho, std::string greeting = "",
                     std::string address = "127.0.0.1", uint16_t port = 0);
  /// The same, returning nullptr and *error when listening fails.
  static std::unique_ptr<TcpServer> Start(Mode mode, const std::string& greeting,
                                          std::string* error,
                                          const std::string& address = "127.0.0.1",
                                          uint16_t port = 0);
  /// Stop().
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  /// True when the server listens.
  bool ok() const { return port_ != 0; }
  /// Why listening failed.
  const std::string& error() const { return error_; }
  /// The port it listens on (0 when it failed).
  uint16_t port() const { return port_; }
  /// The address it listens on.
  const std::string& address() const { return address_; }
  /// Connections accepted so far.
  int connections_accepted() const { return accepted_.load(); }
  /// Connections accepted and not yet closed by the server.
  int active_connections() const { return active_.load(); }
  /// Closes the listener and every connection, then joins all threads. Idempotent.
  void Stop();

 private:
  /// One accepted client. fd is closed (under mu_) by its own thread when it is done.
  struct Connection {
    UniqueFd fd;
    std::thread thread;
    bool done = false;  ///< Guarded by mu_.
  };

  void AcceptLoop();
  void Serve(Connection* conn);
  void Echo(int fd);
  /// Joins and frees connections whose threads have finished.
  void ReapFinished();

  const Mode mode_;
  const std::string greeting_;
  const std::string address_;
  std::string error_;
  uint16_t port_ = 0;  ///< Set only once listening succeeded.
  UniqueFd listen_fd_;
  bool stopped_ = false;  ///< Set by Stop(), from the owning thread only.
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::list<std::unique_ptr<Connection>> connections_;  ///< Guarded by mu_.
};

}  // namespace tether::testing
