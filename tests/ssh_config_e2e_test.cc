// End to end: tether takes the server, port, key, known_hosts and forwards from ssh_config
// files, as ssh would with the same arguments.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>

#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tether_process.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;

class SshConfigE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    sshd_ = SshdServer::Start(&error);
    ASSERT_NE(sshd_, nullptr) << error;
    echo_ = TcpServer::Start(TcpServer::kEcho, "", &error);
    ASSERT_NE(echo_, nullptr) << error;
  }

  // A Host block that names everything tether needs, reached through the alias "db".
  std::string AliasBlock() const {
    return "Host db\n  HostName 127.0.0.1\n  Port " + std::to_string(sshd_->port()) +
           "\n  User " + sshd_->user() + "\n  IdentityFile " + sshd_->user_key_path() +
           "\n  UserKnownHostsFile " + sshd_->known_hosts_path() + "\n";
  }

  // Sends a line through 127.0.0.1:port and checks it comes back.
  static void ExpectEcho(uint16_t port) {
    std::string error;
    UniqueFd client = ConnectTcp("127.0.0.1", port, &error);
    ASSERT_TRUE(client.valid()) << error;
    ASSERT_TRUE(WriteAll(client.get(), std::string("ping\n")));
    char reply[5] = {};
    ASSERT_TRUE(ReadExactly(client.get(), reply, sizeof(reply)));
    EXPECT_EQ(std::string(reply, sizeof(reply)), "ping\n");
  }

  static void ExpectStopsCleanly(Subprocess* tether, uint16_t port) {
    tether->Signal(SIGTERM);
    EXPECT_EQ(tether->WaitExit(milliseconds(3000)), 0) << tether->Stderr();
    EXPECT_TRUE(ProcessGone(tether->pid()));
    EXPECT_TRUE(PortIsFree(port));
  }

  std::unique_ptr<SshdServer> sshd_;
  std::unique_ptr<TcpServer> echo_;
};

TEST_F(SshConfigE2E, UserConfigAliasGivesServerPortUserKeyAndLocalForward) {
  uint16_t cli_port = FreeTcpPort();
  uint16_t config_port = FreeTcpPort();
  std::string config = AliasBlock() + "  LocalForward " + std::to_string(config_port) +
                       " 127.0.0.1:" + std::to_string(echo_->port()) + "\n";
  ASSERT_TRUE(WriteFile(sshd_->home() + "/.ssh/config", config));
  auto tether = StartTetherRaw(
      *sshd_, {"-L", std::to_string(cli_port) + ":127.0.0.1:" + std::to_string(echo_->port()),
               "db"});
  ASSERT_NE(tether, nullptr);
  ASSERT_TRUE(WaitForForwarding(*tether, 2, milliseconds(15000))) << Diagnostics(tether.get(), *sshd_);
  ExpectEcho(cli_port);
  ExpectEcho(config_port);
  ExpectStopsCleanly(tether.get(), cli_port);
  EXPECT_TRUE(PortIsFree(config_port));
}

TEST_F(SshConfigE2E, ExplicitFileReplacesTheUserConfig) {
  // The user file points at a closed port; -F must make tether ignore it.
  ASSERT_TRUE(WriteFile(sshd_->home() + "/.ssh/config",
                        "Host db\n  HostName 127.0.0.1\n  Port " +
                            std::to_string(FreeTcpPort()) + "\n"));
  std::string explicit_file = sshd_->dir() + "/explicit_config";
  ASSERT_TRUE(WriteFile(explicit_file, AliasBlock()));
  uint16_t port = FreeTcpPort();
  auto tether = StartTetherRaw(
      *sshd_, {"-F", explicit_file, "-L",
               std::to_string(port) + ":127.0.0.1:" + std::to_string(echo_->port()), "db"});
  ASSERT_NE(tether, nullptr);
  ASSERT_TRUE(WaitForForwarding(*tether, 1, milliseconds(15000))) << Diagnostics(tether.get(), *sshd_);
  ExpectEcho(port);
  ExpectStopsCleanly(tether.get(), port);
}

TEST_F(SshConfigE2E, CommandLineWinsOverConfig) {
  // Port in the file is wrong; -p on the command line is right.
  ASSERT_TRUE(WriteFile(sshd_->home() + "/.ssh/config",
                        "Host 127.0.0.1\n  Port " + std::to_string(FreeTcpPort()) + "\n"));
  uint16_t port = FreeTcpPort();
  auto tether = StartTether(
      *sshd_, {"-L", std::to_string(port) + ":127.0.0.1:" + std::to_string(echo_->port())});
  ASSERT_NE(tether, nullptr);
  ASSERT_TRUE(WaitForForwarding(*tether, 1, milliseconds(15000))) << Diagnostics(tether.get(), *sshd_);
  ExpectEcho(port);
  ExpectStopsCleanly(tether.get(), port);
}

TEST_F(SshConfigE2E, MalformedConfigExits65NamingFileAndLine) {
  std::string path = sshd_->dir() + "/bad_config";
  ASSERT_TRUE(WriteFile(path, "Host db\n  Port not-a-number\n"));
  uint16_t port = FreeTcpPort();
  auto tether = StartTetherRaw(*sshd_, {"-F", path, "-L", std::to_string(port) + ":x:1", "db"});
  ASSERT_NE(tether, nullptr);
  EXPECT_EQ(tether->WaitExit(milliseconds(5000)), 65);
  EXPECT_NE(tether->Stderr().find(path + ":2"), std::string::npos) << tether->Stderr();
  EXPECT_TRUE(ProcessGone(tether->pid()));
  EXPECT_TRUE(PortIsFree(port));
  EXPECT_TRUE(sshd_->ConnectionPids().empty());
}

}  // namespace
}  // namespace tether::testing
