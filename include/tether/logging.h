#pragma once

namespace tether {

/// Sends log lines to stderr as "tether: message". Default: lifecycle lines and warnings;
/// -v adds one line per client connection; -vv adds libssh2-level detail; -q only errors.
void ConfigureLogging(int verbosity, bool quiet);

}  // namespace tether
