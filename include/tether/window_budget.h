#pragma once

#include <cstddef>
#include <cstdint>

namespace tether {

/// What the channels of one tunnel may hold, shared by every session of it: how big a
/// receive window each channel gets, and how many bytes the client buffers may hold in all.
///
/// A channel's window bounds what the server may send before tether reads it, so a download
/// runs at most window / round trip. New channels open with a share of the total (everything
/// the server may have in flight sits in front of the next channel-open confirmation, since
/// libssh2 opens one channel at a time per session: 100 busy 2 MiB windows made each open wait
/// for ~200 MiB of data). A lone channel grows its window while it is the window
/// that limits it, up to kMaxWindow; many channels share kTotalWindow fairly (none above its
/// share, none below kMinWindow). Bytes read from channels but not yet taken by slow clients
/// count against kTotalBuffered: past it, only channels whose client took everything are read,
/// kOverBudgetRead at a time, and the others' windows close until clients catch up, so no
/// number of clients that never read grows memory much past the cap.
class WindowBudget {
 public:
  static constexpr uint32_t kMinWindow = 64 * 1024;
  static constexpr uint32_t kOpenWindow = 2 * 1024 * 1024;  ///< a lone channel's first window
  static constexpr uint32_t kMaxWindow = 16 * 1024 * 1024;
  static constexpr uint64_t kTotalWindow = uint64_t{64} * 1024 * 1024;
  static constexpr uint64_t kTotalBuffered = uint64_t{64} * 1024 * 1024;
  /// Past kTotalBuffered, a channel whose client took everything still reads this much.
  static constexpr size_t kOverBudgetRead = size_t{16} * 1024;

  /// The window a new channel opens with when `channels` are open (itself included).
  static uint32_t OpenWindow(size_t channels);
  /// The most one of `channels` flowing channels may have.
  static uint32_t FairShare(size_t channels);
  /// The next target of a channel whose window is `target`: doubled when a round trip brought
  /// nearly all of it (`starved`) and the client keeps up, never above the fair share.
  static uint32_t NextTarget(uint32_t target, bool starved, bool client_keeps_up,
                             size_t channels);

  /// Channels open now, for the shares above.
  void set_channels(size_t channels) { channels_ = channels; }
  size_t channels() const { return channels_; }

  void AddBuffered(int64_t delta) { buffered_ = static_cast<uint64_t>(static_cast<int64_t>(buffered_) + delta); }
  uint64_t buffered() const { return buffered_; }
  bool HasBufferRoom() const { return buffered_ < kTotalBuffered; }

 private:
  uint64_t buffered_ = 0;
  size_t channels_ = 0;
};

}  // namespace tether
