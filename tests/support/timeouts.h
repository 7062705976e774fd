#pragma once

#include <chrono>

namespace tether::testing {

// The waits end-to-end tests share. Every wait ends as soon as its condition holds, so these
// are generous (other test runs share the machine's cores) and only a failing test waits
// them out. A suite keeps a constant of its own only for a wait of its own kind.

/// A tether comes up: connects (through jump hosts too), logs in, forwards; or gives up.
inline constexpr std::chrono::milliseconds kReadyTimeout{20000};
/// A tether that was stopped, or failed, exits.
inline constexpr std::chrono::milliseconds kExitTimeout{15000};
/// A read or write through a tunnel gives up: a broken tunnel fails the test, never hangs it.
inline constexpr std::chrono::milliseconds kIoTimeout{10000};
/// The contract, measured: a tunnel is gone this soon after its reason to stop.
inline constexpr std::chrono::milliseconds kGoneWithin{2000};

}  // namespace tether::testing
