#include "tether/duration.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tether/message_text.h"

namespace tether {
namespace {

using std::chrono::seconds;

struct Unit {
  char letter;
  int64_t seconds;
};

// Largest first: ParseDuration demands this order and FormatDuration emits it.
constexpr std::array<Unit, 4> kUnits = {{{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};
// No tunnel should live a century; the cap also keeps every sum far from overflow.
constexpr int64_t kMaxSeconds = int64_t{100} * 365 * 86400;

constexpr std::string_view kSyntaxHint = "use e.g. 90s, 5m, 1h30m, 2d or plain seconds";
constexpr std::string_view kOrderHint = "units go largest first (d, h, m, s), each at most once";
constexpr std::string_view kRangeHint = "longer than 100 years";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

/// Reads the digits at *pos; the value saturates just above kMaxSeconds.
std::optional<int64_t> TakeNumber(std::string_view text, size_t* pos) {
  const size_t start = *pos;
  int64_t value = 0;
  for (; *pos < text.size() && IsDigit(text[*pos]); ++*pos) {
    value = std::min(value * 10 + (text[*pos] - '0'), kMaxSeconds + 1);
  }
  if (*pos == start) return std::nullopt;
  return value;
}

size_t UnitIndex(char letter) {
  for (size_t i = 0; i < kUnits.size(); ++i) {
    if (kUnits[i].letter == letter) return i;
  }
  return kUnits.size();
}

/// Sums "<number><unit>" components into *total; on failure returns the hint to show.
std::optional<std::string_view> SumComponents(std::string_view text, int64_t* total) {
  size_t pos = 0;
  size_t next_unit = 0;  // index of the largest unit still allowed
  while (pos < text.size()) {
    const std::optional<int64_t> number = TakeNumber(text, &pos);
    // A bare number is only valid on its own: "1h30" could mean 30 seconds or 30 minutes.
    if (!number || pos == text.size()) return kSyntaxHint;
    const size_t unit = UnitIndex(text[pos++]);
    if (unit == kUnits.size()) return kSyntaxHint;
    if (unit < next_unit) return kOrderHint;
    next_unit = unit + 1;
    if (*number > (kMaxSeconds - *total) / kUnits[unit].seconds) return kRangeHint;
    *total += *number * kUnits[unit].seconds;
  }
  return std::nullopt;
}

std::optional<std::string_view> ParseSeconds(std::string_view text, int64_t* total) {
  if (text.empty()) return kSyntaxHint;
  size_t pos = 0;
  const std::optional<int64_t> plain = TakeNumber(text, &pos);
  if (pos < text.size()) return SumComponents(text, total);
  if (*plain > kMaxSeconds) return kRangeHint;
  *total = *plain;
  return std::nullopt;
}

}  // namespace

std::optional<seconds> ParseDuration(std::string_view text, std::string* error) {
  int64_t total = 0;
  const std::optional<std::string_view> problem = ParseSeconds(text, &total);
  if (problem) {
    *error = "bad duration " + QuoteForMessage(text) + ": " + std::string(*problem);
    return std::nullopt;
  }
  return seconds(total);
}

std::string FormatDuration(seconds duration) {
  if (duration < seconds::zero()) return "-" + FormatDuration(-duration);
  if (duration == seconds::zero()) return "0s";
  std::string out;
  int64_t rest = duration.count();
  for (const Unit& unit : kUnits) {
    const int64_t count = rest / unit.seconds;
    if (count == 0) continue;
    out += std::to_string(count) + unit.letter;
    rest -= count * unit.seconds;
  }
  return out;
}

}  // namespace tether
