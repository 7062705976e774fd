#pragma once

#include <stdint.h>

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tether/unique_fd.h"

namespace tether::testing {

/// A TCP proxy on 127.0.0.1 (any free port) to a target port, that a test can make misbehave
/// like a bad network: stall everything (blackhole), add latency, or reset every connection.
/// Two threads per proxied connection; stopping joins them all.
class FaultProxy {
 public:
  /// Listens at once; connects to target_address:target_port per accepted client. Check ok().
  explicit FaultProxy(uint16_t target_port, std::string target_address = "127.0.0.1");
  /// The same, returning nullptr and *error when listening fails.
  static std::unique_ptr<FaultProxy> Start(uint16_t target_port, std::string* error);
  /// Stop().
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// True when the proxy listens.
  bool ok() const { return port_ != 0; }
  /// Why listening failed.
  const std::string& error() const { return error_; }
  /// The port clients connect to.
  uint16_t port() const { return port_; }

  /// Stops moving bytes either way while keeping every socket open: to both ends the link
  /// looks dead (bytes sit unread, then TCP windows fill). New connections are still
  /// accepted and connected to the target, but carry nothing.
  void Pause();
  /// Moves bytes again, including those held back during the pause.
  void Resume();
  /// True between Pause() and Resume().
  bool paused() const { return paused_.load(); }
  /// Holds each chunk this long before forwarding it: a slow link. Zero turns it off.
  void SetDelay(std::chrono::milliseconds delay);
  /// Aborts every open proxied connection with a TCP RST to both ends (SO_LINGER 0) and
  /// returns once they are closed. Later connections work normally.
  void ResetAll();

  /// Clients accepted so far.
  int connections_accepted() const { return accepted_.load(); }
  /// Proxied connections not yet closed.
  int active_connections();
  /// Closes the listener and every connection, then joins all threads. Idempotent.
  void Stop();

 private:
  /// One proxied connection: a pump thread per direction. The last pump to finish closes
  /// both sockets, so no fd is closed while the other pump or ResetAll still uses it.
  struct Link {
    UniqueFd client;
    UniqueFd server;
    std::thread up;    ///< client -> server
    std::thread down;  ///< server -> client
    std::atomic<bool> aborted{false};
    int pumps_running = 2;  ///< Guarded by mu_.
  };

  void AcceptLoop();
  void StartLink(UniqueFd client);
  void Pump(Link* link, int from, int to);
  /// Waits while paused; false when the pump must end (stopping or aborted).
  bool WaitForTurn(const Link& link);
  /// Waits until `fd` has `events`; false when the pump must end.
  bool WaitFor(const Link& link, int fd, short events);
  bool SendAll(const Link& link, int fd, const char* data, size_t len);
  void AbortLocked(Link* link);
  void FinishPump(Link* link);
  void ReapFinished();

  const std::string target_address_;
  const uint16_t target_port_;
  std::string error_;
  uint16_t port_ = 0;  ///< Set only once listening succeeded.
  UniqueFd listen_fd_;
  bool stopped_ = false;  ///< Set by Stop(), from the owning thread only.
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int64_t> delay_ms_{0};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::list<std::unique_ptr<Link>> links_;  ///< Guarded by mu_.
};

}  // namespace tether::testing
