#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tether {

/// The SOCKS version a client spoke (SOCKS4a counts as 4: its replies are SOCKS4's).
enum class SocksVersion { kSocks4, kSocks5 };

/// How far a client's handshake got.
enum class SocksStatus {
  kNeedMore,  ///< incomplete: read more (after sending `reply`, if any)
  kDone,      ///< a CONNECT request is complete: open the channel, then send SocksOpenReply
  kError,     ///< refused: send `reply` (may be empty), then close
};

/// What the client asked to reach: a name (resolved by the server, as ssh does), or an
/// IPv4 or IPv6 address as text (IPv6 without brackets).
struct SocksTarget {
  std::string host;
  uint16_t port = 0;
  friend bool operator==(const SocksTarget&, const SocksTarget&) = default;
};

/// The result of one Feed.
struct SocksStep {
  SocksStatus status = SocksStatus::kNeedMore;
  /// Bytes to send to the client now, in order: SOCKS5's method choice when the greeting
  /// completed in this chunk (with any status, since the request may follow in the same
  /// chunk), then with kError the error reply (none when the client spoke no SOCKS at all).
  std::string reply;
  /// kError: why, for the log. Never contains a byte the client sent.
  std::string reason;
};

/// An incremental, bounded parser of a client's SOCKS handshake: SOCKS4 and SOCKS4a
/// CONNECT, and SOCKS5 with "no authentication" and CONNECT to an IPv4, IPv6 or domain-name
/// address. Feed it each chunk read from the client; it keeps at most kMaxHandshakeBytes
/// (the SOCKS4 user id included), so a client can never make it grow past that.
class SocksRequestParser {
 public:
  /// Greeting, request and (SOCKS4) user id and name together; the largest SOCKS5 exchange
  /// is 519 bytes.
  static constexpr size_t kMaxHandshakeBytes = 1024;

  /// Adds `bytes` (the next ones the client sent) and parses what has arrived. After kDone
  /// or kError, feeding again changes nothing and returns the same status.
  SocksStep Feed(std::string_view bytes);
  /// How many more bytes Feed will take: read at most this much from the client, so that
  /// what the client pipelines after its request stays in the socket.
  size_t Room() const { return kMaxHandshakeBytes - buffer_.size(); }

  SocksStatus status() const { return status_; }
  SocksVersion version() const { return version_; }
  /// Valid once kDone.
  const SocksTarget& target() const { return target_; }
  /// Bytes the client sent after its request (its first data, pipelined): they belong to
  /// the channel. Valid once kDone.
  std::string_view rest() const { return std::string_view(buffer_).substr(consumed_); }

 private:
  SocksStep Parse();
  SocksStep ParseSocks4();
  SocksStep ParseSocks5Greeting();
  SocksStep ParseSocks5Request();
  SocksStep Fail(std::string reply, std::string reason);
  SocksStep NeedMore(std::string reply = {});

  std::string buffer_;
  size_t consumed_ = 0;   ///< bytes of buffer_ taken by messages parsed so far
  bool greeted_ = false;  ///< SOCKS5: the greeting is answered, the request comes next
  SocksStatus status_ = SocksStatus::kNeedMore;
  SocksVersion version_ = SocksVersion::kSocks5;
  SocksTarget target_;
  std::string last_reason_;
};

/// How the channel open for a SOCKS request ended, in SOCKS terms.
enum class SocksOutcome {
  kSucceeded,
  kGeneralFailure,
  kNotAllowed,         ///< the server refused to forward (administratively prohibited)
  kHostUnreachable,    ///< no answer in time
  kConnectionRefused,  ///< the server could not connect (or resolve) the target
};

/// The SocksOutcome of a failed open, from libssh2's error message ("Channel open failure
/// (connect failed)", "... (administratively prohibited)"; anything else is a general
/// failure).
SocksOutcome SocksOutcomeOfOpenError(std::string_view error);

/// The final reply: SOCKS5's REP code (0x00, 0x01, 0x02, 0x04, 0x05) with an unspecified
/// bound address 0.0.0.0:0; SOCKS4's 0x5A granted or 0x5B rejected.
std::string SocksOpenReply(SocksVersion version, SocksOutcome outcome);

}  // namespace tether
