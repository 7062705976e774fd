// End to end: tether takes the server, port, key, known_hosts and forwards from ssh_config
// files, as ssh would with the same arguments.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tether_process.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;

/// E2EFixture, plus ssh_config text that reaches its sshd.
class SshConfigE2E : public E2EFixture {
 protected:
  // A Host block that names everything tether needs, reached through the alias "db".
  std::string AliasBlock() const {
    return "Host db\n  HostName 127.0.0.1\n  Port " + std::to_string(sshd_->port()) + "\n  User " +
           sshd_->user() + "\n  IdentityFile " + sshd_->user_key_path() +
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
};

TEST_F(SshConfigE2E, UserConfigAliasGivesServerPortUserKeyAndLocalForward) {
  uint16_t cli_port = FreeTcpPort();
  uint16_t config_port = FreeTcpPort();
  std::string config = AliasBlock() + "  LocalForward " + std::to_string(config_port) +
                       " 127.0.0.1:" + std::to_string(echo_.port()) + "\n";
  ASSERT_TRUE(WriteFile(sshd_->home() + "/.ssh/config", config));
  Subprocess* tether = LaunchRaw({"-L", ToEcho(std::to_string(cli_port)), "db"});
  ASSERT_NE(tether, nullptr);
  ASSERT_TRUE(WaitForForwarding(*tether, 2, milliseconds(15000))) << Diagnostics(tether, *sshd_);
  ExpectEcho(cli_port);
  ExpectEcho(config_port);
  ExpectSigtermStops(tether, {cli_port});
  EXPECT_TRUE(PortIsFree(config_port));
}

TEST_F(SshConfigE2E, ExplicitFileReplacesTheUserConfig) {
  // The user file points at a closed port; -F must make tether ignore it.
  ASSERT_TRUE(WriteFile(sshd_->home() + "/.ssh/config", "Host db\n  HostName 127.0.0.1\n  Port " +
                                                            std::to_string(FreeTcpPort()) + "\n"));
  std::string explicit_file = sshd_->dir() + "/explicit_config";
  ASSERT_TRUE(WriteFile(explicit_file, AliasBlock()));
  uint16_t port = FreeTcpPort();
  Subprocess* tether = LaunchRaw({"-F", explicit_file, "-L", ToEcho(std::to_string(port)), "db"});
  ASSERT_NE(tether, nullptr);
  ASSERT_TRUE(WaitForForwarding(*tether, 1, milliseconds(15000))) << Diagnostics(tether, *sshd_);
  ExpectEcho(port);
  ExpectSigtermStops(tether, {port});
}

TEST_F(SshConfigE2E, CommandLineWinsOverConfig) {
  // Port in the file is wrong; -p on the command line is right.
  ASSERT_TRUE(WriteFile(sshd_->home() + "/.ssh/config",
                        "Host 127.0.0.1\n  Port " + std::to_string(FreeTcpPort()) + "\n"));
  uint16_t port = FreeTcpPort();
  Subprocess* tether = Launch({"-L", ToEcho(std::to_string(port))});
  ASSERT_NE(tether, nullptr);
  ASSERT_TRUE(WaitForForwarding(*tether, 1, milliseconds(15000))) << Diagnostics(tether, *sshd_);
  ExpectEcho(port);
  ExpectSigtermStops(tether, {port});
}

TEST_F(SshConfigE2E, MalformedConfigExits65NamingFileAndLine) {
  std::string path = sshd_->dir() + "/bad_config";
  ASSERT_TRUE(WriteFile(path, "Host db\n  Port not-a-number\n"));
  uint16_t port = FreeTcpPort();
  Subprocess* tether = LaunchRaw({"-F", path, "-L", std::to_string(port) + ":x:1", "db"});
  ASSERT_NE(tether, nullptr);
  EXPECT_EQ(tether->WaitExit(milliseconds(5000)), 65);
  EXPECT_NE(tether->Stderr().find(path + ":2"), std::string::npos) << tether->Stderr();
  ExpectGone(*tether, {port});
  EXPECT_TRUE(sshd_->ConnectionPids().empty());
}

}  // namespace
}  // namespace tether::testing
