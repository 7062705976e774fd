#include "tether/reconnect_backoff.h"

#include <algorithm>

namespace tether {

std::chrono::milliseconds ReconnectBackoff::Next() {
  // Doubling stops at the cap: no shift can overflow however long the server stays away.
  std::chrono::milliseconds base = kFirst;
  for (int i = 0; i < attempts_ && base < kLongest; ++i) base *= 2;
  base = std::min(base, kLongest);
  ++attempts_;
  std::uniform_int_distribution<int64_t> jitter(0, base.count() / 4);
  return base - std::chrono::milliseconds(jitter(random_));
}

}  // namespace tether
