#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "support/sshd_fixture.h"
#include "tether/ssh_handles.h"
#include "tether/unique_fd.h"

namespace tether::testing {

/// A plain libssh2 session over `socket_fd` (connected to `sshd`), handshaken and logged in
/// with the fixture's user key, blocking, each call bounded by `io_timeout`: for tests of
/// libssh2's own calls. The host key is not checked (the fixture's loopback server is not
/// what such tests are about). nullptr with *error on failure.
SessionPtr LogInPlainly(const SshdServer& sshd, int socket_fd, std::chrono::milliseconds io_timeout,
                        std::string* error);

/// A real sshd and one plain session to it (LogInPlainly), set up before each test and
/// said goodbye to after it.
class PlainSessionTest : public ::testing::Test {
 protected:
  static constexpr std::chrono::milliseconds kIoTimeout{5000};

  void SetUp() override;
  void TearDown() override;

  std::unique_ptr<SshdServer> sshd_;
  UniqueFd socket_;
  SessionPtr session_;
};

}  // namespace tether::testing
