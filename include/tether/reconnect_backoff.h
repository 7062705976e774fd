#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace tether {

/// The waits between reconnect attempts (--reconnect): about 1 s before the first, doubling
/// up to 60 s. Each wait has up to a quarter taken off at random, so that tunnels cut off
/// together (a server restart) do not all knock again in the same instant.
class ReconnectBackoff {
 public:
  static constexpr std::chrono::milliseconds kFirst{1000};
  static constexpr std::chrono::milliseconds kLongest{60000};

  /// `seed` fixes the jitter (tests); production seeds from std::random_device.
  explicit ReconnectBackoff(uint64_t seed) : random_(seed) {}
  ReconnectBackoff() : ReconnectBackoff(std::random_device{}()) {}

  /// The wait before the next attempt; each call counts one attempt.
  std::chrono::milliseconds Next();
  /// After a success: the next loss starts again at kFirst.
  void Reset() { attempts_ = 0; }
  /// Attempts counted since the last Reset.
  int attempts() const { return attempts_; }

 private:
  std::mt19937_64 random_;
  int attempts_ = 0;
};

}  // namespace tether
