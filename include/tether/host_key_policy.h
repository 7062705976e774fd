#pragma once

namespace tether {

/// StrictHostKeyChecking, as in ssh_config(5): what to do with a server whose key is not in
/// known_hosts. Its own header: the command line sets it and the known_hosts check obeys it,
/// and neither should need the other.
enum class HostKeyPolicy { kStrict, kAcceptNew, kOff };

}  // namespace tether
