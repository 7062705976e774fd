#include "tether/control_protocol.h"

#include <set>
#include <vector>

#include "tether/message_text.h"
#include "tether/text.h"

namespace tether {
namespace {

constexpr std::string_view kOk = "ok";
constexpr std::string_view kError = "error";
constexpr std::string_view kStopping = "stopping";

std::vector<std::string_view> SplitSpaces(std::string_view text) {
  std::vector<std::string_view> words;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

bool IsStateWord(std::string_view text) {
  if (text.empty() || text.size() > 16) return false;
  for (char c : text) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

// "error MESSAGE" becomes *error = MESSAGE; anything else that is not "ok ..." is malformed.
bool CheckOk(std::string_view line, std::string_view* rest, std::string* error) {
  if (line.substr(0, kError.size() + 1) == std::string(kError) + " ") {
    *error = EscapeForMessage(line.substr(kError.size() + 1));
    return false;
  }
  if (line.substr(0, kOk.size() + 1) != std::string(kOk) + " ") {
    *error = "malformed reply " + QuoteForMessage(line.substr(0, 80));
    return false;
  }
  *rest = line.substr(kOk.size() + 1);
  return true;
}

bool ApplyStatusField(std::string_view key, std::string_view value, TunnelStatus* status) {
  if (key == "state") {
    status->state = std::string(value);
    return IsStateWord(value);
  }
  if (key == "ttl_left" && value == "none") {
    status->ttl_left_seconds.reset();
    return true;
  }
  std::optional<uint64_t>* optional_slot = key == "ttl_left" ? &status->ttl_left_seconds : nullptr;
  uint64_t* slot = key == "connections" ? &status->connections
                   : key == "bytes_in"  ? &status->bytes_in
                   : key == "bytes_out" ? &status->bytes_out
                   : key == "up"        ? &status->up_seconds
                   : key == "sessions"  ? &status->sessions
                                        : nullptr;
  if (slot == nullptr && optional_slot == nullptr) return true;  // a newer tunnel's figure
  std::optional<uint64_t> number = ParseDecimal(value);
  if (!number) return false;
  if (slot != nullptr) *slot = *number;
  if (optional_slot != nullptr) *optional_slot = *number;
  return true;
}

}  // namespace

std::optional<ControlRequest> ParseControlRequest(std::string_view line, std::string* error) {
  if (line == "status") return ControlRequest::kStatus;
  if (line == "stop") return ControlRequest::kStop;
  *error = "unknown request " + QuoteForMessage(line.substr(0, 40));
  return std::nullopt;
}

std::string FormatControlRequest(ControlRequest request) {
  return request == ControlRequest::kStop ? "stop\n" : "status\n";
}

std::string FormatStatusReply(const TunnelStatus& status) {
  std::string ttl =
      status.ttl_left_seconds ? std::to_string(*status.ttl_left_seconds) : std::string("none");
  return "ok state=" + status.state + " connections=" + std::to_string(status.connections) +
         " bytes_in=" + std::to_string(status.bytes_in) +
         " bytes_out=" + std::to_string(status.bytes_out) +
         " up=" + std::to_string(status.up_seconds) + " ttl_left=" + ttl +
         " sessions=" + std::to_string(status.sessions) + "\n";
}

std::optional<TunnelStatus> ParseStatusReply(std::string_view line, std::string* error) {
  std::string_view rest;
  if (!CheckOk(line, &rest, error)) return std::nullopt;
  TunnelStatus status;
  std::set<std::string_view> seen;
  for (std::string_view field : SplitSpaces(rest)) {
    const size_t equals = field.find('=');
    const std::string_view key = field.substr(0, equals);
    if (equals == std::string_view::npos || key.empty() || !seen.insert(key).second ||
        !ApplyStatusField(key, field.substr(equals + 1), &status)) {
      *error = "malformed status field " + QuoteForMessage(field.substr(0, 80));
      return std::nullopt;
    }
  }
  for (std::string_view required : {"state", "connections", "bytes_in", "bytes_out", "up"}) {
    if (seen.count(required) == 0) {
      *error = "status reply without " + std::string(required);
      return std::nullopt;
    }
  }
  return status;
}

std::string FormatStopReply() { return std::string(kOk) + " " + std::string(kStopping) + "\n"; }

bool ParseStopReply(std::string_view line, std::string* error) {
  std::string_view rest;
  if (!CheckOk(line, &rest, error)) return false;
  if (rest == kStopping) return true;
  *error = "malformed reply " + QuoteForMessage(line.substr(0, 80));
  return false;
}

std::string FormatErrorReply(std::string_view message) {
  return std::string(kError) + " " + EscapeForMessage(message) + "\n";
}

LineState TakeControlLine(std::string_view buffer, std::string* line) {
  const size_t newline = buffer.substr(0, kMaxControlLine).find('\n');
  if (newline != std::string_view::npos) {
    *line = std::string(buffer.substr(0, newline));
    return LineState::kLine;
  }
  return buffer.size() >= kMaxControlLine ? LineState::kTooLong : LineState::kIncomplete;
}

}  // namespace tether
