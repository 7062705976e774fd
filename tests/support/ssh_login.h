#pragma once

#include <chrono>
#include <string>

#include "support/sshd_fixture.h"
#include "tether/ssh_handles.h"

namespace tether::testing {

/// A plain libssh2 session over `socket_fd` (connected to `sshd`), handshaken and logged in
/// with the fixture's user key, blocking, each call bounded by `io_timeout`: for tests of
/// libssh2's own calls. The host key is not checked (the fixture's loopback server is not
/// what such tests are about). nullptr with *error on failure.
SessionPtr LogInPlainly(const SshdServer& sshd, int socket_fd, std::chrono::milliseconds io_timeout,
                        std::string* error);

}  // namespace tether::testing
