#pragma once

#include <string>

namespace tether {

/// Sends log lines to stderr as "tether: message", or appends them to `log_file` (-E) with
/// a timestamp. Default: lifecycle lines and warnings; -v adds one line per client
/// connection; -vv more detail; -q only errors. Returns false (with *error) if the file
/// cannot be opened.
bool ConfigureLogging(int verbosity, bool quiet, const std::string& log_file, std::string* error);

/// After -f has detached without -E: log to syslog (daemon facility) instead of stderr.
void LogToSyslog();

}  // namespace tether
