#include "tether/window_budget.h"

#include <algorithm>

namespace tether {

uint32_t WindowBudget::OpenWindow(size_t channels) {
  const uint64_t share = kTotalWindow / std::max<size_t>(channels, 1) / 8;
  return static_cast<uint32_t>(std::clamp<uint64_t>(share, kMinWindow, kOpenWindow));
}

uint32_t WindowBudget::ShareOf(uint64_t total, size_t channels) {
  const uint64_t share = total / std::max<size_t>(channels, 1);
  return static_cast<uint32_t>(std::clamp<uint64_t>(share, kMinWindow, kMaxWindow));
}

uint32_t WindowBudget::FairShare() const {
  // Before the first measured round trip every open channel counts.
  const size_t sharing = delivering_channels_ == 0
                             ? channels_
                             : std::min(delivering_channels_, std::max<size_t>(channels_, 1));
  // total_target_ is twice the delivery of a round trip: five eighths of it is 1.25 times.
  // Not below the least total, or a flow held up by its window would shrink the total round
  // trip after round trip for as long as opens wait.
  const uint64_t total =
      opens_waiting_ ? std::max(kMinTotalWindow, total_target_ / 8 * 5) : total_target_;
  return ShareOf(total, sharing);
}

uint32_t WindowBudget::NextTarget(uint32_t target, bool starved, bool client_keeps_up) const {
  uint64_t next = target;
  // A slow client needs no smaller window: its channel is not read, so no adjust goes out
  // and the server stops at what was granted. The fair share alone shrinks it.
  if (starved && client_keeps_up) next = uint64_t{target} * 2;
  const uint32_t floor = opens_waiting_ || !client_keeps_up ? kMinWindow : kSettledWindow;
  return static_cast<uint32_t>(
      std::clamp<uint64_t>(next, floor, std::max<uint64_t>(floor, FairShare())));
}

void WindowBudget::NoteRoundTrip(Clock::duration open_time, Clock::time_point now) {
  // Never below a millisecond, so that loopback measures over whole bursts of reads rather
  // than single ones.
  const Clock::duration round_trip =
      std::max<Clock::duration>(open_time, std::chrono::milliseconds(1));
  if (round_trip_known_ && now - round_trip_noted_ >= kRoundTripMemory) {
    // The minimum aged out: the best open seen since then takes its place, if any is recent.
    round_trip_known_ = runner_up_known_ && now - runner_up_noted_ < kRoundTripMemory;
    round_trip_ = runner_up_;
    round_trip_noted_ = runner_up_noted_;
    runner_up_known_ = false;
  }
  if (!round_trip_known_ || round_trip <= round_trip_) {
    round_trip_ = round_trip;
    round_trip_noted_ = now;
    round_trip_known_ = true;
    runner_up_known_ = false;
  } else if (!runner_up_known_ || round_trip <= runner_up_) {
    runner_up_ = round_trip;
    runner_up_noted_ = now;
    runner_up_known_ = true;
  }
}

void WindowBudget::NoteDelivered(uint64_t bytes, Clock::time_point now, uint64_t* channel_mark) {
  period_bytes_ += bytes;
  if (bytes > 0 && *channel_mark != period_index_) {
    *channel_mark = period_index_;
    ++period_channels_;
  }
  const Clock::duration elapsed = now - period_start_;
  if (elapsed < round_trip_) return;
  // Per round trip, as the period may have run longer (nothing was read for a while).
  const auto per_round_trip = static_cast<uint64_t>(static_cast<double>(period_bytes_) *
                                                    static_cast<double>(round_trip_.count()) /
                                                    static_cast<double>(elapsed.count()));
  total_target_ = std::clamp<uint64_t>(2 * per_round_trip, kMinTotalWindow, kTotalWindow);
  delivering_channels_ = std::max<size_t>(period_channels_, 1);
  period_start_ = now;
  period_bytes_ = 0;
  period_channels_ = 0;
  ++period_index_;
}

}  // namespace tether
