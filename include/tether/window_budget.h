#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tether {

/// What the channels of one tunnel may hold, shared by every session of it: how big a
/// receive window each channel gets, and how many bytes the client buffers may hold in all.
///
/// A channel's window bounds what the server may send before tether reads it, so a download
/// runs at most window / round trip. New channels start with a share of kTotalWindow
/// (everything the server may have in flight sits in front of the next channel-open
/// confirmation, since libssh2 opens one channel at a time per session: 100 busy 2 MiB
/// windows made each open wait for ~200 MiB of data). They open with kMinWindow, as libssh2
/// tops a window up to what it opened with before every read whatever tether's target, and
/// are granted their start at once. While connections wait for a channel, the channels share
/// 1.25 times what they delivered in a round trip instead of twice it (set_opens_waiting). A
/// channel grows its window while the window is what limits it, up to its fair share of the total
/// target, which follows the tunnel's delivery: twice what all channels brought in the last round
/// trip (so a flow held up by the windows can still double), between kMinTotalWindow and
/// kTotalWindow, shared by the channels that brought something in that round trip (an idle one,
/// such as a download tool's control connection, neither needs a share nor halves the busy one's).
/// Sized so, no channel runs much faster than twice the average one: the sessions of a pool are
/// separate TCP connections that share the link per connection, not per channel, and a
/// session carrying few channels would otherwise give each of them many times the share of
/// one carrying many.
///
/// Bytes read from channels but not yet taken by slow clients count against kTotalBuffered:
/// past it, only channels whose client took everything are read, kOverBudgetRead at a time,
/// and the others' windows close until clients catch up, so no number of clients that never
/// read grows memory much past the cap.
class WindowBudget {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr uint32_t kMinWindow = 64 * 1024;
  /// The least window of a channel whose client keeps up while no open waits. Held to
  /// kMinWindow, 100 streams on a short link shared it unevenly (slowest/fastest 0.35-0.48 at
  /// a 2 ms round trip, against 0.82 with this); while opens wait, kMinWindow holds again.
  static constexpr uint32_t kSettledWindow = 256 * 1024;
  static constexpr uint32_t kOpenWindow = 2 * 1024 * 1024;  ///< a lone channel's first window
  static constexpr uint32_t kMaxWindow = 16 * 1024 * 1024;
  static constexpr uint64_t kMinTotalWindow = uint64_t{2} * kOpenWindow;
  static constexpr uint64_t kTotalWindow = uint64_t{64} * 1024 * 1024;
  static constexpr uint64_t kTotalBuffered = uint64_t{64} * 1024 * 1024;
  /// Past kTotalBuffered, a channel whose client took everything still reads this much.
  static constexpr size_t kOverBudgetRead = size_t{16} * 1024;

  /// The window a new channel starts with when `channels` are open (itself included); it
  /// opens with kMinWindow and is granted the rest, within its fair share.
  static uint32_t OpenWindow(size_t channels);
  /// One of `channels` channels' share of `total`, within kMinWindow..kMaxWindow.
  static uint32_t ShareOf(uint64_t total, size_t channels);

  /// The most one of the open channels may have now: its share among those that delivered in
  /// the last round trip.
  uint32_t FairShare() const;
  /// The next target of a channel whose window is `target`: doubled when a round trip brought
  /// at least a quarter of it (`starved`) and the client keeps up, never above the fair share;
  /// at least kSettledWindow for a client that keeps up while no open waits, else kMinWindow.
  uint32_t NextTarget(uint32_t target, bool starved, bool client_keeps_up) const;

  /// Channels open now, for the shares above.
  void set_channels(size_t channels) { channels_ = channels; }
  /// Connections wait for a channel (opens queued behind the ones in flight). Each open's
  /// answer comes behind whatever data is queued on its session's connection, so meanwhile
  /// the channels share a total that lets little queue: 1.25 times what they delivered in
  /// the last round trip instead of twice it, never below kMinTotalWindow.
  void set_opens_waiting(bool waiting) { opens_waiting_ = waiting; }
  size_t channels() const { return channels_; }

  /// How long a round trip on the link takes: the least time an open took within about the
  /// last kRoundTripMemory (not the latest: while channels carry data, an open also waits
  /// behind what is queued ahead of its answer, and a period measured from that grows the
  /// windows, which grows the queue, which slows the next open). The period over which
  /// delivery is measured, at least a millisecond.
  static constexpr std::chrono::seconds kRoundTripMemory{10};
  Clock::duration round_trip() const { return round_trip_; }

  /// A channel took `open_time` to open, which ended at `now`.
  void NoteRoundTrip(Clock::duration open_time, Clock::time_point now);
  /// The link may be another one now (a reconnect): the next open sets the round trip.
  void ForgetRoundTrip() { round_trip_known_ = false; }
  /// `bytes` were read at `now` from the channel whose delivery mark is `*channel_mark` (kept
  /// by the channel, starting at 0; the budget updates it to count each channel once per
  /// round trip). Once per round trip the total target and the busy channels follow.
  void NoteDelivered(uint64_t bytes, Clock::time_point now, uint64_t* channel_mark);
  uint64_t total_target() const { return total_target_; }

  void AddBuffered(int64_t delta) {
    buffered_ = static_cast<uint64_t>(static_cast<int64_t>(buffered_) + delta);
  }
  uint64_t buffered() const { return buffered_; }
  bool HasBufferRoom() const { return buffered_ < kTotalBuffered; }

 private:
  bool opens_waiting_ = false;
  uint64_t buffered_ = 0;
  size_t channels_ = 0;
  uint64_t total_target_ = kTotalWindow;
  Clock::duration round_trip_ = std::chrono::milliseconds(1);
  Clock::time_point round_trip_noted_{};  ///< when the open of round_trip_ ended
  bool round_trip_known_ = false;         ///< an open has been timed
  /// The least open time since round_trip_ was noted, which takes over when that one ages
  /// out (so a minimum gives way to the next best, not to whatever open comes next).
  Clock::duration runner_up_{};
  Clock::time_point runner_up_noted_{};
  bool runner_up_known_ = false;
  Clock::time_point period_start_{};
  uint64_t period_bytes_ = 0;
  uint64_t period_index_ = 1;       ///< the current period's mark
  size_t period_channels_ = 0;      ///< channels that delivered in the current period
  size_t delivering_channels_ = 0;  ///< ... in the last one; 0 before any was measured
};

}  // namespace tether
