#include "tether/display_format.h"

#include <cstdio>
#include <iterator>

#include "tether/message_text.h"

namespace tether {

std::string FormatForwards(const std::vector<RegistryForward>& forwards) {
  constexpr char kArrow[] = "\u2192";
  std::string text;
  for (const RegistryForward& forward : forwards) {
    text += (text.empty() ? "" : ", ") +
            std::string(forward.kind == ForwardKind::kRemote ? "remote " : "") +
            EscapeForMessage(forward.listen);
    text += forward.kind == ForwardKind::kDynamic
                ? " (dynamic, SOCKS)"
                : std::string(" ") + kArrow + " " + EscapeForMessage(forward.target);
  }
  return text;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  for (; value >= 1024 && unit + 1 < std::size(kUnits); ++unit) value /= 1024;
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

}  // namespace tether
