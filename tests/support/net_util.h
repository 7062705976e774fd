#pragma once

#include <stddef.h>
#include <stdint.h>

#include <array>
#include <chrono>
#include <string>

#include "tether/unique_fd.h"

namespace tether::testing {

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
/// Returns 0 on failure. Someone else may take it before the caller does.
uint16_t FreeTcpPort();

/// True when `addr:port` can be bound and listened on again at once (SO_REUSEADDR): nobody
/// listens there. `addr` is an IPv4 or IPv6 literal ("::1", "[::1]") or "localhost".
bool PortIsFree(uint16_t port, const std::string& addr = "127.0.0.1");

/// True when a TCP connect to `addr:port` succeeds (somebody listens there).
bool PortAccepts(uint16_t port, const std::string& addr = "127.0.0.1");

/// Blocking TCP connect to an IPv4/IPv6 literal (brackets allowed) or "localhost".
/// Returns an invalid fd and sets *error on failure.
UniqueFd ConnectTcp(const std::string& addr, uint16_t port, std::string* error);

/// Blocking connect to a Unix stream socket at `path`.
UniqueFd ConnectUnix(const std::string& path, std::string* error);

/// A listening TCP socket (SO_REUSEADDR, CLOEXEC, blocking) on `addr:port`; port 0 picks one.
/// Useful to hold a port so that something else finds it busy.
UniqueFd ListenTcp(const std::string& addr, uint16_t port, std::string* error);

/// A Unix stream socket bound to `path` (CLOEXEC, and non-blocking, so that accept() returns
/// at once when nobody connected), listening unless `listen_too` is false: a socket file
/// with a live owner, or one whose owner does not answer. Invalid on failure.
UniqueFd ListenUnix(const std::string& path, bool listen_too = true);

/// The local port a socket is bound to, or 0.
uint16_t LocalPort(int fd);

/// Bytes that arrived on established TCP connections to local port `port` and that nobody
/// has read yet (the rx_queue of /proc/net/tcp and tcp6): shows that a client's first bytes
/// reached a server that is stopped, or has not accepted the connection yet.
size_t UnreadBytesAtPort(uint16_t port);

/// Writes all `len` bytes (retrying short writes and EINTR); never raises SIGPIPE.
bool WriteAll(int fd, const void* data, size_t len);
/// WriteAll for a string.
bool WriteAll(int fd, const std::string& data);

/// Reads exactly `len` bytes; false on EOF, error or an SO_RCVTIMEO timeout before that.
bool ReadExactly(int fd, void* data, size_t len);

/// Sends `text` on `fd` and expects the same text back (an echo service behind a tunnel).
bool EchoOnce(int fd, const std::string& text);

/// Reads until EOF, an error or `max` bytes, and returns what arrived.
std::string ReadUntilEof(int fd, size_t max);

/// True when `fd` becomes readable (data, EOF or error pending) within `timeout`.
bool WaitReadable(int fd, std::chrono::milliseconds timeout);

/// Sets SO_RCVTIMEO and SO_SNDTIMEO, so blocking reads and writes in a test cannot hang.
bool SetIoTimeout(int fd, std::chrono::milliseconds timeout);

/// Incremental SHA-256 (FIPS 180-4), for checking large transfers without keeping them.
class Sha256 {
 public:
  Sha256();
  /// Adds `len` bytes to the message.
  void Update(const void* data, size_t len);
  /// Finishes the message and returns the digest as 64 lowercase hex digits. Call once.
  std::string HexDigest();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> block_;
  size_t block_used_ = 0;  ///< Bytes of block_ filled, always < 64 between calls.
  uint64_t total_bytes_ = 0;
};

/// SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(const std::string& data);

/// `n` pseudo-random bytes, the same for the same seed (splitmix64): fast test payloads.
std::string RandomBytes(size_t n, uint64_t seed);

}  // namespace tether::testing
