#pragma once

#include <gtest/gtest.h>
#include <stdint.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/echo_server.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "tether/unique_fd.h"

namespace tether::testing {

/// A blocking client socket to 127.0.0.1:`port` whose reads and writes give up after
/// `io_timeout`, so that a broken tunnel fails the test instead of hanging it. A failed
/// connect is a test failure (and an invalid fd).
UniqueFd ConnectLocal(uint16_t port, std::chrono::milliseconds io_timeout);

/// The shape most end-to-end tests share: a real sshd (default configuration), an echo
/// service and a scratch directory per test, and the tether processes the test starts, which
/// the fixture owns (their destructors kill whatever a test leaves running). When a test
/// fails, TearDown prints every tether's stderr, the sshd log and the -E log. Suites derive
/// from it under their own name.
class E2EFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  /// More context for a failed test, printed after the logs (a registry, another server).
  virtual std::string MoreDiagnostics() const { return ""; }

  /// Starts `tether -p PORT -i KEY ARGS... user@127.0.0.1 [-- COMMAND]` (StartTether) in the
  /// client environment plus `env`; nullptr (after a test failure) if it cannot start.
  Subprocess* Launch(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {});
  /// Starts tether with exactly `args` (no automatic -p, -i or destination).
  Subprocess* LaunchRaw(const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& env = {});
  /// Launch, then wait until its first `forwards` IPv4 forwards serve. Returns their ports
  /// in -L order, or {} (after a test failure) when tether did not get there.
  std::vector<uint16_t> LaunchReady(const std::vector<std::string>& args, size_t forwards,
                                    Subprocess** tether);

  /// Where tethers started with -E LogPath() write their log (in scratch_).
  std::string LogPath() const { return scratch_.Join("tether.log"); }

  /// "LISTEN:127.0.0.1:ECHO_PORT": a forward from `listen` (a port or a socket path) to the
  /// echo service.
  std::string ToEcho(const std::string& listen = "0") const;

  /// Every tunnel's end (ExpectTunnelGone): no tether of this test runs but the other ones it
  /// started and still runs (so a -f background that survived is caught), and each of
  /// `ports` is free on 127.0.0.1. Suites that check more (IPv6 listeners, registry
  /// entries) extend it.
  virtual void ExpectGone(const Subprocess& tether, const std::vector<uint16_t>& ports);
  /// SIGTERM must stop a working tunnel with exit 0, and ExpectGone must hold.
  void ExpectSigtermStops(Subprocess* tether, const std::vector<uint16_t>& ports);
  /// ExpectSigtermStops, and no sshd connection process is left behind.
  void ExpectStopsCleanly(Subprocess* tether, const std::vector<uint16_t>& ports);
  /// True once sshd serves no connection any more (waits a while for that).
  bool SshdIdle() const;

  TempDir scratch_;
  std::unique_ptr<SshdServer> sshd_;
  TcpServer echo_;
  std::vector<std::unique_ptr<Subprocess>> tethers_;  ///< Declared last: killed first.
};

}  // namespace tether::testing
