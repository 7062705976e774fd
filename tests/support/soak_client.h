#pragma once

#include <stddef.h>
#include <stdint.h>

#include <chrono>
#include <string>
#include <vector>

namespace tether::testing {

/// How a soak connection ends.
enum class SoakEnding {
  /// Sends everything, shuts its writing side at once and reads the echo to EOF: the EOF
  /// must travel to the echo service and back.
  kHalfClose,
  /// Sends everything, reads the whole echo back, then close()s without a half-close.
  kReadAllThenClose,
  /// Sends `reset_after` bytes, then aborts with a TCP RST (SO_LINGER 0); never verified.
  kReset,
};

/// One connection of a soak: what it sends and how it ends.
struct SoakConnectionPlan {
  uint64_t bytes = 0;        ///< Bytes to send and expect back (kReset: see reset_after).
  uint64_t reset_after = 0;  ///< kReset only: bytes sent before the RST, <= bytes.
  uint64_t pool_offset = 0;  ///< Where in the shared random pool this stream starts.
  SoakEnding ending = SoakEnding::kHalfClose;
};

/// What a soak run did.
struct SoakReport {
  uint64_t connections = 0;           ///< Connections opened.
  uint64_t verified = 0;              ///< Echo streams whose length and SHA-256 matched.
  uint64_t reset = 0;                 ///< Connections aborted on purpose.
  uint64_t bytes_sent = 0;            ///< Payload written, over all connections.
  uint64_t bytes_echoed = 0;          ///< Payload read back, over all connections.
  int peak_concurrent = 0;            ///< Most connections open at the same moment.
  bool timed_out = false;             ///< The deadline passed before every plan ran.
  std::vector<std::string> failures;  ///< One line per failed connection (the first 20).
  std::chrono::duration<double> elapsed{0};
};

/// Drives many echo connections to 127.0.0.1:`port` at once with non-blocking sockets,
/// `threads` poll loops sharing `concurrency` slots: as a connection ends, the next plan
/// takes its slot. The payload of plan i is the shared pool read cyclically from
/// pool_offset; what comes back is checked by length and SHA-256.
class SoakClient {
 public:
  /// `pool_bytes` of seeded random data are made once and shared by all connections.
  SoakClient(uint16_t port, size_t pool_bytes, uint64_t seed);

  /// Runs every plan (unless `deadline` passes first) and reports. A connection that moves
  /// no byte for `stall_limit` fails as stalled.
  SoakReport Run(const std::vector<SoakConnectionPlan>& plans, int concurrency, int threads,
                 std::chrono::seconds deadline, std::chrono::seconds stall_limit);

  /// Size of the shared pool.
  size_t pool_size() const { return pool_.size(); }

 private:
  const uint16_t port_;
  const std::string pool_;
};

}  // namespace tether::testing
