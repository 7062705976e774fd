#pragma once

#include <netdb.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "tether/failure.h"
#include "tether/session_waiter.h"
#include "tether/unique_fd.h"

namespace tether {

/// Owns a getaddrinfo() result.
struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

/// Where the SSH connection goes and how long to try.
struct ConnectTarget {
  std::string host;  ///< name or address literal (no brackets)
  uint16_t port = 22;
  std::chrono::milliseconds timeout{30000};
  int family = 0;            ///< AF_UNSPEC, AF_INET or AF_INET6
  std::string bind_address;  ///< BindAddress / -b: local address to connect from; empty = any
  int attempts = 1;          ///< ConnectionAttempts: rounds over all addresses, 1 s apart
};

/// What else a connect attempt watches while it waits.
struct ConnectWait {
  int signal_fd = -1;  ///< readable = a stop signal: the attempt is abandoned (may be -1)
  WaitBackground* background = nullptr;  ///< served during every wait (may be nullptr)
};

/// Resolves `target.host` and connects to each address in turn until one answers, all within
/// `target.timeout`; when none does, tries again up to `target.attempts` rounds. Returns a
/// connected, non-blocking, close-on-exec socket, or an invalid fd with *failure set
/// (ExitCode::kUnreachable: lookup failure, refusal, timeout). `wait.signal_fd` is watched too: if
/// it becomes readable the attempt is abandoned, so Ctrl-C works while a connect hangs; so it is
/// when `wait.background` breaks. Then *interrupted is set and *failure says why (code kOk for a
/// signal).
UniqueFd ConnectTcp(const ConnectTarget& target, const ConnectWait& wait, bool* interrupted,
                    Failure* failure);

}  // namespace tether
