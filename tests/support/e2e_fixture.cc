#include "support/e2e_fixture.h"

#include <signal.h>

#include <iostream>

#include "support/net_util.h"
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {

UniqueFd ConnectLocal(uint16_t port, std::chrono::milliseconds io_timeout) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  EXPECT_TRUE(fd.valid()) << "connect to 127.0.0.1:" << port << ": " << error;
  if (fd) SetIoTimeout(fd.get(), io_timeout);
  return fd;
}

void E2EFixture::SetUp() {
  ASSERT_TRUE(scratch_.ok());
  std::string error;
  sshd_ = SshdServer::Start(&error);
  ASSERT_TRUE(sshd_) << error;
  ASSERT_TRUE(echo_.ok()) << echo_.error();
}

void E2EFixture::TearDown() {
  if (!HasFailure() || !sshd_) return;
  for (size_t i = 0; i < tethers_.size(); ++i) {
    if (!tethers_[i]) continue;
    std::cerr << "--- tether #" << i << " (pid " << tethers_[i]->pid() << ") stderr ---\n"
              << tethers_[i]->Stderr() << "\n";
  }
  std::cerr << "--- sshd log ---\n" << sshd_->sshd_log() << "\n";
  const std::string log = ReadFile(LogPath());
  if (!log.empty()) std::cerr << "--- tether -E log ---\n" << log << "\n";
  std::cerr << MoreDiagnostics();
}

Subprocess* E2EFixture::Launch(const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env) {
  return LaunchRaw(TetherArgs(*sshd_, args), env);
}

Subprocess* E2EFixture::LaunchRaw(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env) {
  std::string error;
  tethers_.push_back(StartTetherRaw(*sshd_, args, env, &error));
  EXPECT_TRUE(tethers_.back()) << error;
  return tethers_.back().get();
}

std::vector<uint16_t> E2EFixture::LaunchReady(const std::vector<std::string>& args, size_t forwards,
                                              Subprocess** tether) {
  *tether = Launch(args);
  if (*tether == nullptr) return {};
  if (!WaitForForwarding(**tether, forwards, kReadyTimeout)) {
    ADD_FAILURE() << "tether did not start forwarding; exit "
                  << (*tether)->exit_code().value_or(-1);
    return {};
  }
  return ForwardedIpv4Ports(**tether);
}

std::string E2EFixture::ToEcho(const std::string& listen) const {
  return listen + ":127.0.0.1:" + std::to_string(echo_.port());
}

void E2EFixture::ExpectGone(const Subprocess& tether, const std::vector<uint16_t>& ports) {
  // Every tether of this test's environment counts, wherever it went (a -f background), but
  // the other tunnels the test started and still runs.
  std::vector<pid_t> others;
  for (const std::unique_ptr<Subprocess>& other : tethers_) {
    if (other && other.get() != &tether && other->Running()) others.push_back(other->pid());
  }
  ExpectTunnelGone(*sshd_, ports, others);
}

void E2EFixture::ExpectSigtermStops(Subprocess* tether, const std::vector<uint16_t>& ports) {
  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), 0) << tether->Stderr();
  ExpectGone(*tether, ports);
}

void E2EFixture::ExpectStopsCleanly(Subprocess* tether, const std::vector<uint16_t>& ports) {
  ExpectSigtermStops(tether, ports);
  EXPECT_TRUE(SshdIdle()) << "sshd connection processes left behind";
}

bool E2EFixture::SshdIdle() const {
  return WaitUntil([&] { return sshd_->ConnectionPids().empty(); }, kExitTimeout);
}

}  // namespace tether::testing
