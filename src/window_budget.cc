#include "tether/window_budget.h"

#include <algorithm>

namespace tether {

uint32_t WindowBudget::OpenWindow(size_t channels) {
  const uint64_t share = kTotalWindow / std::max<size_t>(channels, 1) / 8;
  return static_cast<uint32_t>(std::clamp<uint64_t>(share, kMinWindow, kOpenWindow));
}

uint32_t WindowBudget::FairShare(size_t channels) {
  const uint64_t share = kTotalWindow / std::max<size_t>(channels, 1);
  return static_cast<uint32_t>(std::clamp<uint64_t>(share, kMinWindow, kMaxWindow));
}

uint32_t WindowBudget::NextTarget(uint32_t target, bool starved, bool client_keeps_up,
                                  size_t channels) {
  uint64_t next = target;
  // A slow client needs no smaller window: its channel is not read, so no adjust goes out
  // and the server stops at what was granted. The fair share alone shrinks it.
  if (starved && client_keeps_up) next = uint64_t{target} * 2;
  return static_cast<uint32_t>(
      std::clamp<uint64_t>(next, kMinWindow, FairShare(channels)));
}

}  // namespace tether
