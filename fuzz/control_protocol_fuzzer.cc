// The control-socket protocol (`tether list` / `tether stop` <-> a running tunnel): the
// bytes a peer sends, cut into lines as the tunnel reads them, and the reply lines a
// client parses. Checks: TakeControlLine returns a line only when one ends within
// kMaxControlLine bytes and never a line holding '\n'; a parsed request formats back to the
// same line; a parsed status reply formats to a line that fits the limit and parses back to
// the same figures; error messages are one printable line.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tether/control_protocol.h"

using tether::fuzz::Check;
using tether::fuzz::IsOneLine;

namespace {

void CheckRequest(std::string_view line) {
  std::string error;
  std::optional<tether::ControlRequest> request = tether::ParseControlRequest(line, &error);
  if (!request) {
    Check(IsOneLine(error), "request error is one line", error);
    return;
  }
  Check(tether::FormatControlRequest(*request) == std::string(line) + "\n",
        "request formats back to its line", line);
}

// The tunnel's side: everything a peer sent, split as TakeControlLine splits it.
void CheckLineSplitting(std::string_view received) {
  std::string line;
  switch (tether::TakeControlLine(received, &line)) {
    case tether::LineState::kLine:
      Check(line.find('\n') == std::string::npos, "line has no newline", line);
      Check(line.size() < tether::kMaxControlLine, "line within the limit", line);
      Check(received.substr(0, line.size() + 1) == line + "\n", "line is the first one", line);
      CheckRequest(line);
      break;
    case tether::LineState::kTooLong:
      Check(received.size() >= tether::kMaxControlLine, "too long only past the limit", received);
      Check(received.substr(0, tether::kMaxControlLine).find('\n') == std::string_view::npos,
            "too long only without a newline in the limit", received);
      break;
    case tether::LineState::kIncomplete:
      Check(received.size() < tether::kMaxControlLine, "incomplete only below the limit", received);
      Check(received.find('\n') == std::string_view::npos, "incomplete only without newline",
            received);
      break;
  }
}

// The client's side: a reply line from whatever answers on the socket.
void CheckReplies(std::string_view line) {
  std::string error;
  std::optional<tether::TunnelStatus> status = tether::ParseStatusReply(line, &error);
  if (status) {
    const std::string formatted = tether::FormatStatusReply(*status);
    Check(formatted.size() <= tether::kMaxControlLine, "status reply fits a line", formatted);
    std::string again_error;
    std::optional<tether::TunnelStatus> again = tether::ParseStatusReply(
        std::string_view(formatted).substr(0, formatted.size() - 1), &again_error);
    Check(again.has_value() && *again == *status, "status reply round trip", formatted);
  } else {
    Check(IsOneLine(error), "status error is one line", error);
  }
  error.clear();
  if (!tether::ParseStopReply(line, &error))
    Check(IsOneLine(error), "stop error is one line", error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckLineSplitting(input);
  const size_t newline = input.find('\n');
  CheckReplies(input.substr(0, newline));
  CheckRequest(input);
  Check(IsOneLine(
            tether::FormatErrorReply(input).substr(0, tether::FormatErrorReply(input).size() - 1)),
        "error reply is one line", input);
  return 0;
}
