#pragma once

namespace tether {

/// Process exit codes; scripts branch on these (see tether(1), EXIT STATUS).
/// The values follow sysexits.h where one fits.
enum class ExitCode : int {
  kOk = 0,               ///< stopped on request, parent gone, idle timeout, TTL reached
  kUsage = 64,           ///< bad option, bad -L, bad duration
  kConfig = 65,          ///< bad configuration file
  kUnreachable = 69,     ///< name lookup, connection refused, connect timeout
  kInternal = 70,        ///< a bug or an unexpected system failure
  kCannotWrite = 71,     ///< standard output could not be written (list, stop, -f's addresses)
  kCannotListen = 73,    ///< port or socket path in use, permission; the -E file cannot be opened
  kConnectionLost = 74,  ///< keepalive timeout, server closed, reconnect gave up
  kNotTrusted = 77,      ///< host key unknown or changed, authentication failed
};

constexpr int ToInt(ExitCode code) { return static_cast<int>(code); }

}  // namespace tether
