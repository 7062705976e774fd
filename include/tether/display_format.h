#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tether/registry.h"

namespace tether {

// How a tunnel is shown to people, alike in `tether list` and in the status line of a
// running tunnel.

/// "127.0.0.1:5432 \u2192 db:5432, /tmp/x.sock \u2192 /run/y.sock"; each address escaped.
std::string FormatForwards(const std::vector<RegistryForward>& forwards);

/// "512 B", "1.5 KiB", "3.0 MiB", ...
std::string FormatBytes(uint64_t bytes);

}  // namespace tether
