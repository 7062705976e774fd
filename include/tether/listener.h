#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tether/failure.h"
#include "tether/forward_spec.h"
#include "tether/unique_fd.h"

namespace tether {

/// One listening socket of a forward. A forward may have several (127.0.0.1 and ::1).
struct Listener {
  UniqueFd fd;
  std::string address;     ///< "127.0.0.1:5432", "[::1]:5432" or a socket path
  uint16_t port = 0;       ///< the bound port (the chosen one for port 0)
  size_t forward_index = 0;
};

/// Binds every listening socket of `forward` with ssh's rules: no bind address means
/// loopback (both families) unless `gateway_ports`; "*" or an empty address means all
/// interfaces; "localhost" means loopback; anything else is resolved and bound as given.
/// Port 0 picks a free port, the same one for every address. On failure nothing stays bound
/// and *failure is kCannotListen naming the address.
bool BindForward(const ForwardSpec& forward, size_t forward_index, bool gateway_ports,
                 std::vector<Listener>* listeners, Failure* failure);

}  // namespace tether
