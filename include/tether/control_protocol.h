#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tether {

/// The control-socket protocol between `tether list` / `tether stop` and a running tunnel:
/// one request line, one reply line, then the tunnel closes the connection.
///   request:  "status" | "stop"
///   replies:  "ok state=up connections=N bytes_in=N bytes_out=N up=SECONDS ttl_left=SECONDS|none"
///             "ok stopping"
///             "error MESSAGE"
/// Lines end with '\n' and are at most kMaxControlLine bytes, newline included.
inline constexpr size_t kMaxControlLine = 512;

enum class ControlRequest { kStatus, kStop };

/// Parses one request line (without its newline); on failure *error says why.
std::optional<ControlRequest> ParseControlRequest(std::string_view line, std::string* error);
/// The request as sent, newline included.
std::string FormatControlRequest(ControlRequest request);

/// Live figures of one tunnel, as `tether list` shows them.
struct TunnelStatus {
  std::string state = "up";                  ///< one word: "connecting", "up"
  uint64_t connections = 0;                  ///< open client connections
  uint64_t bytes_in = 0;                     ///< from the server to local clients
  uint64_t bytes_out = 0;                    ///< from local clients to the server
  uint64_t up_seconds = 0;                   ///< since the tunnel started
  std::optional<uint64_t> ttl_left_seconds;  ///< nullopt with --ttl none
  uint64_t sessions = 1;  ///< SSH sessions carrying the channels (0 while reconnecting)
  friend bool operator==(const TunnelStatus&, const TunnelStatus&) = default;
};

std::string FormatStatusReply(const TunnelStatus& status);
/// Parses a status reply line (without its newline). Keys may come in any order; unknown
/// keys are skipped, so that a newer tunnel can add figures; a repeated key is an error.
std::optional<TunnelStatus> ParseStatusReply(std::string_view line, std::string* error);

std::string FormatStopReply();
/// True for "ok stopping"; else *error holds the tunnel's message or why the line is bad.
bool ParseStopReply(std::string_view line, std::string* error);

/// "error MESSAGE\n", with control bytes in MESSAGE escaped so it stays one line.
std::string FormatErrorReply(std::string_view message);

/// What TakeControlLine found in a receive buffer.
enum class LineState {
  kIncomplete,  ///< no newline yet, still within the limit: read more
  kLine,        ///< *line holds the first line (newline removed)
  kTooLong,     ///< no newline within kMaxControlLine bytes: give up on this peer
};

/// Looks for the first complete line in `buffer` (which holds everything received so far).
LineState TakeControlLine(std::string_view buffer, std::string* line);

}  // namespace tether
