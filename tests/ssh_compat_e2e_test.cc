// End to end: the ssh options beyond the basics behave as ssh's do, against a real sshd:
// LocalForward without -L, -c/-m and the algorithm keywords, HashKnownHosts, AddressFamily,
// BindAddress, ConnectionAttempts, and -G compared with what `ssh -G` prints.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/tether_process.h"
#include "support/timeouts.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

/// E2EFixture, whose sshd a test may replace by one with more configuration, and whose
/// forwards get a fresh local port each: local_port_, the last one.
class SshCompatE2E : public E2EFixture {
 protected:
  void StartSshd(std::vector<std::string> extra_config) {
    SshdConfig config;
    config.extra_config = std::move(extra_config);
    std::string error;
    sshd_ = SshdServer::Start(config, &error);
    ASSERT_NE(sshd_, nullptr) << error;
  }

  std::string EchoTarget() const { return "127.0.0.1:" + std::to_string(echo_.port()); }

  /// A forward spec with a fresh local port, remembered for the checks at the end.
  std::string Forward() {
    local_port_ = FreeTcpPort();
    return std::to_string(local_port_) + ":" + EchoTarget();
  }

  /// Runs `tether ARGS` and `ssh ARGS` (ARGS hold -G) in the client environment; their
  /// settings go to *ours and *theirs. False (after a test failure) if either fails.
  bool BothDashG(const std::vector<std::string>& args, std::map<std::string, std::string>* ours,
                 std::map<std::string, std::string>* theirs);

  /// Forwards, echoes a byte, then stops on SIGTERM: exit 0, process gone, port free.
  void ExpectWorksThenStops(Subprocess* tether) {
    ASSERT_TRUE(WaitForForwarding(*tether, 1, kReadyTimeout)) << Diagnostics(tether, *sshd_);
    std::string error;
    UniqueFd client = ConnectTcp("127.0.0.1", local_port_, &error);
    ASSERT_TRUE(client.valid()) << error;
    ASSERT_TRUE(WriteAll(client.get(), std::string("x")));
    char back = 0;
    ASSERT_TRUE(ReadExactly(client.get(), &back, 1));
    EXPECT_EQ(back, 'x');
    ExpectSigtermStops(tether, {local_port_});
  }

  using E2EFixture::ExpectGone;
  /// The process is gone, and the last forward's port free (if there was one).
  void ExpectGone(const Subprocess& tether) {
    E2EFixture::ExpectGone(
        tether, local_port_ != 0 ? std::vector<uint16_t>{local_port_} : std::vector<uint16_t>{});
  }

  /// Runs tether to its end; returns the exit code (-1 if it did not end).
  int RunToEnd(Subprocess* tether) {
    const std::optional<int> code = tether->WaitExit(kExitTimeout);
    return code.value_or(-1);
  }

  uint16_t local_port_ = 0;
};

TEST_F(SshCompatE2E, LocalForwardInTheConfigIsEnoughWithoutDashL) {
  local_port_ = FreeTcpPort();
  const std::string config = sshd_->dir() + "/config";
  ASSERT_TRUE(WriteFile(
      config, "Host *\n  LocalForward " + std::to_string(local_port_) + " " + EchoTarget() + "\n"));
  Subprocess* tether = Launch({"-F", config});
  ASSERT_TRUE(tether);
  ExpectWorksThenStops(tether);
}

TEST_F(SshCompatE2E, NoForwardAnywhereIsAUsageError) {
  Subprocess* tether = Launch({"-F", "/dev/null"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(RunToEnd(tether), 64);
  EXPECT_TRUE(Contains(tether->Stderr(), "tether: no forward given: use -L")) << tether->Stderr();
  EXPECT_TRUE(sshd_->ConnectionPids().empty());
  ExpectGone(*tether);
}

TEST_F(SshCompatE2E, CipherAndMacFlagsAreWhatIsNegotiated) {
  StartSshd({"LogLevel DEBUG1"});
  Subprocess* tether = Launch({"-c", "aes256-ctr", "-m", "hmac-sha2-512", "-L", Forward()});
  ASSERT_TRUE(tether);
  ExpectWorksThenStops(tether);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "cipher: aes256-ctr MAC: hmac-sha2-512"))
      << sshd_->sshd_log();
}

TEST_F(SshCompatE2E, AlgorithmKeywordsFromTheConfigAreWhatIsNegotiated) {
  StartSshd({"LogLevel DEBUG1"});
  const std::string config = sshd_->dir() + "/config";
  ASSERT_TRUE(WriteFile(config,
                        "Host *\n  Ciphers aes192-ctr\n  MACs hmac-sha1\n"
                        "  KexAlgorithms diffie-hellman-group14-sha256\n"));
  Subprocess* tether = Launch({"-F", config, "-L", Forward()});
  ASSERT_TRUE(tether);
  ExpectWorksThenStops(tether);
  const std::string log = sshd_->sshd_log();
  EXPECT_TRUE(Contains(log, "kex: algorithm: diffie-hellman-group14-sha256")) << log;
  EXPECT_TRUE(Contains(log, "cipher: aes192-ctr MAC: hmac-sha1")) << log;
}

TEST_F(SshCompatE2E, CipherLibssh2LacksIsNamedOnTheCommandLineAndInAFile) {
  Subprocess* tether = Launch({"-c", "chacha20-poly1305@openssh.com", "-L", Forward()});
  ASSERT_TRUE(tether);
  EXPECT_EQ(RunToEnd(tether), 64);
  EXPECT_TRUE(Contains(tether->Stderr(),
                       "tether: Ciphers: 'chacha20-poly1305@openssh.com' is not supported by "
                       "libssh2"))
      << tether->Stderr();
  ExpectGone(*tether);

  const std::string config = sshd_->dir() + "/config";
  ASSERT_TRUE(WriteFile(config, "Host *\n  MACs umac-128-etm@openssh.com\n"));
  Subprocess* from_file = Launch({"-F", config, "-L", Forward()});
  ASSERT_TRUE(from_file);
  EXPECT_EQ(RunToEnd(from_file), 65);
  EXPECT_TRUE(Contains(from_file->Stderr(), "MACs: 'umac-128-etm@openssh.com' is not supported"))
      << from_file->Stderr();
  EXPECT_TRUE(sshd_->ConnectionPids().empty());
  ExpectGone(*from_file);
}

TEST_F(SshCompatE2E, HashKnownHostsStoresANewKeyHashedThatSshFindsAndStrictCheckingAccepts) {
  const std::string known = sshd_->dir() + "/new_known_hosts";
  Subprocess* tether =
      Launch({"-o", "UserKnownHostsFile=" + known, "-o", "StrictHostKeyChecking=accept-new", "-o",
              "HashKnownHosts=yes", "-L", Forward()});
  ASSERT_TRUE(tether);
  ExpectWorksThenStops(tether);
  const std::string stored = ReadFile(known);
  EXPECT_EQ(stored.rfind("|1|", 0), 0u) << stored;
  const std::string host = "[127.0.0.1]:" + std::to_string(sshd_->port());
  EXPECT_FALSE(Contains(stored, "127.0.0.1")) << stored;
  // ssh-keygen -F is OpenSSH's own lookup: it must find the hashed entry.
  std::string output, error;
  EXPECT_TRUE(RunCommand({"ssh-keygen", "-F", host, "-f", known}, {}, seconds(10), &output, &error))
      << error << output;
  EXPECT_TRUE(Contains(output, "found: line 1")) << output;

  Subprocess* strict = Launch({"-o", "UserKnownHostsFile=" + known, "-L", Forward()});
  ASSERT_TRUE(strict);
  ExpectWorksThenStops(strict);
}

TEST_F(SshCompatE2E, AddressFamilyDecidesWhichAddressOfANameIsUsed) {
  // sshd listens on 127.0.0.1 only: "localhost" works over IPv4 and not over IPv6.
  const std::vector<std::string> common = {"-p", std::to_string(sshd_->port()),
                                           "-i", sshd_->user_key_path(),
                                           "-o", "StrictHostKeyChecking=no"};
  std::vector<std::string> v4 = common;
  v4.insert(v4.end(), {"-4", "-L", Forward(), sshd_->user() + "@localhost"});
  Subprocess* over_v4 = LaunchRaw(v4);
  ASSERT_TRUE(over_v4);
  ExpectWorksThenStops(over_v4);

  std::vector<std::string> v6 = common;
  v6.insert(v6.end(), {"-6", "-L", Forward(), sshd_->user() + "@localhost"});
  Subprocess* over_v6 = LaunchRaw(v6);
  ASSERT_TRUE(over_v6);
  EXPECT_EQ(RunToEnd(over_v6), 69) << over_v6->Stderr();
  ExpectGone(*over_v6);
}

TEST_F(SshCompatE2E, ServerAtAnIpv6AddressIsReachedAndKnownUnderItsBracketedName) {
  std::string no_ipv6;
  if (!ListenTcp("::1", 0, &no_ipv6)) GTEST_SKIP() << "no IPv6 loopback here: " << no_ipv6;
  StartSshd({"ListenAddress ::1"});
  const std::string known = sshd_->dir() + "/v6_known_hosts";
  const std::vector<std::string> args = {"-p",
                                         std::to_string(sshd_->port()),
                                         "-i",
                                         sshd_->user_key_path(),
                                         "-o",
                                         "UserKnownHostsFile=" + known,
                                         "-o",
                                         "StrictHostKeyChecking=accept-new",
                                         "-o",
                                         "HashKnownHosts=no",
                                         "-L",
                                         Forward(),
                                         sshd_->user() + "@::1"};
  Subprocess* tether = LaunchRaw(args);
  ASSERT_TRUE(tether);
  ExpectWorksThenStops(tether);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Connection from ::1 port")) << sshd_->sshd_log();
  const std::string stored = ReadFile(known);
  EXPECT_EQ(stored.rfind("[::1]:" + std::to_string(sshd_->port()) + " ssh-ed25519 ", 0), 0u)
      << stored;
}

TEST_F(SshCompatE2E, NameWithSeveralAddressesFallsBackToTheOneThatAnswers) {
  std::string why;
  if (!SshdServer::PrivateMountsUsable(&why)) GTEST_SKIP() << why;
  if (!ListenTcp("::1", 0, &why)) GTEST_SKIP() << "no IPv6 loopback here: " << why;
  // tether sees an /etc/hosts of its own in which "multi" has two addresses. getaddrinfo
  // puts ::1 first (RFC 6724 precedence), where nothing listens: tether must go on to
  // 127.0.0.1, where the sshd is.
  const std::string hosts = sshd_->dir() + "/hosts";
  ASSERT_TRUE(WriteFile(hosts, "::1 multi\n127.0.0.1 multi\n"));
  const std::vector<std::string> command = {TETHER_BINARY,
                                            "-v",
                                            "-p",
                                            std::to_string(sshd_->port()),
                                            "-i",
                                            sshd_->user_key_path(),
                                            "-o",
                                            "StrictHostKeyChecking=no",
                                            "-L",
                                            Forward(),
                                            sshd_->user() + "@multi"};
  std::string error;
  auto tether = Subprocess::Start(SshdServer::WithFileReplaced(hosts, "/etc/hosts", command),
                                  sshd_->ClientProcessOptions(), &error);
  ASSERT_TRUE(tether) << error;
  ExpectWorksThenStops(tether.get());
  EXPECT_TRUE(Contains(tether->Stderr(), "connect to ::1: Connection refused")) << tether->Stderr();
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Connection from 127.0.0.1 port")) << sshd_->sshd_log();
}

TEST_F(SshCompatE2E, BindAddressIsTheSourceTheServerSees) {
  Subprocess* tether = Launch({"-b", "127.0.0.2", "-L", Forward()});
  ASSERT_TRUE(tether);
  ExpectWorksThenStops(tether);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Connection from 127.0.0.2 port")) << sshd_->sshd_log();
}

TEST_F(SshCompatE2E, ConnectionAttemptsTriesAgainBeforeGivingUp) {
  const uint16_t closed = FreeTcpPort();
  Subprocess* tether = LaunchRaw(
      {"-p", std::to_string(closed), "-o", "ConnectionAttempts=2", "-L", Forward(), "127.0.0.1"});
  ASSERT_TRUE(tether);
  EXPECT_EQ(RunToEnd(tether), 69);
  EXPECT_TRUE(Contains(tether->Stderr(), "trying again (2 attempts)")) << tether->Stderr();
  EXPECT_EQ(CountOccurrences(tether->Stderr(), "Connection refused"), 2u) << tether->Stderr();
  ExpectGone(*tether);
}

/// "key value" lines as ssh -G prints them, by key (first value of each).
std::map<std::string, std::string> Settings(const std::string& text) {
  std::map<std::string, std::string> settings;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.find(' ');
    if (space != std::string::npos) settings.emplace(line.substr(0, space), line.substr(space + 1));
  }
  return settings;
}

bool SshCompatE2E::BothDashG(const std::vector<std::string>& args,
                             std::map<std::string, std::string>* ours,
                             std::map<std::string, std::string>* theirs) {
  Subprocess* tether = LaunchRaw(args);
  if (tether == nullptr) return false;
  const int exit_code = RunToEnd(tether);
  EXPECT_EQ(exit_code, 0) << tether->Stderr();
  std::vector<std::string> ssh_argv = {"ssh"};
  ssh_argv.insert(ssh_argv.end(), args.begin(), args.end());
  std::string ssh_output, ssh_error;
  const bool ssh_ok =
      RunCommand(ssh_argv, sshd_->ClientProcessOptions(), seconds(10), &ssh_output, &ssh_error);
  EXPECT_TRUE(ssh_ok) << ssh_error;
  *ours = Settings(tether->Stdout());
  *theirs = Settings(ssh_output);
  return exit_code == 0 && ssh_ok;
}

TEST_F(SshCompatE2E, DashGPrintsWhatSshDashGPrintsForEveryKeyBothResolve) {
  const std::string config = sshd_->dir() + "/config";
  ASSERT_TRUE(WriteFile(
      config,
      "Host db !nothing\n  HostName 127.0.0.1\n  Port 2222\n  User bob\n"
      "  LocalForward 5432 db.internal:5432\n  DynamicForward 1080\n"
      "  Ciphers aes256-ctr,aes128-ctr\n"
      "  MACs hmac-sha2-512\n  HashKnownHosts yes\n  StrictHostKeyChecking accept-new\n"
      "  ConnectionAttempts 2\n  ConnectTimeout 7\n  AddressFamily inet\n"
      "  ServerAliveInterval 9\n  ServerAliveCountMax 4\n  BindAddress 127.0.0.2\n"
      "  KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha256\n"
      // Absolute: ssh expands ~ from the passwd entry, tether from $HOME (a documented
      // difference that lets the tests give tether a home of its own).
      "  UserKnownHostsFile " +
          sshd_->dir() + "/kh1 " + sshd_->dir() +
          "/kh2\n"
          "Host *\n  User nobody\n  Port 1\n  NumberOfPasswordPrompts 2\n  BatchMode yes\n"));
  std::map<std::string, std::string> ours, theirs;
  ASSERT_TRUE(BothDashG({"-G", "-F", config, "-o", "GatewayPorts=yes", "db"}, &ours, &theirs));
  for (const char* key : {"user",
                          "hostname",
                          "port",
                          "localforward",
                          "dynamicforward",
                          "ciphers",
                          "macs",
                          "hashknownhosts",
                          "stricthostkeychecking",
                          "connectionattempts",
                          "connecttimeout",
                          "addressfamily",
                          "serveraliveinterval",
                          "serveralivecountmax",
                          "bindaddress",
                          "kexalgorithms",
                          "numberofpasswordprompts",
                          "batchmode",
                          "gatewayports",
                          "userknownhostsfile",
                          "globalknownhostsfile"}) {
    ASSERT_TRUE(theirs.count(key)) << key << " missing from ssh -G";
    ASSERT_TRUE(ours.count(key)) << key << " missing from tether -G";
    EXPECT_EQ(ours.at(key), theirs.at(key)) << key;
  }
  EXPECT_TRUE(sshd_->ConnectionPids().empty()) << "-G must not connect";
}

// ProxyJump from the file, replaced by -J, and dropped by -J none: as ssh -G shows it.
TEST_F(SshCompatE2E, DashGShowsTheJumpHostsAsSshDashGDoes) {
  const std::string config = sshd_->dir() + "/config";
  ASSERT_TRUE(WriteFile(config, "Host db\n  ProxyJump bastion\n  LocalForward 5432 db:5432\n"));
  const std::vector<std::vector<std::string>> jump_args = {
      {}, {"-J", "alice@hop1:2222,hop2"}, {"-J", "none"}};
  for (const std::vector<std::string>& jump : jump_args) {
    std::vector<std::string> args = {"-G", "-F", config};
    args.insert(args.end(), jump.begin(), jump.end());
    args.push_back("db");
    std::map<std::string, std::string> ours, theirs;
    ASSERT_TRUE(BothDashG(args, &ours, &theirs));
    const std::string label = jump.empty() ? "(file)" : jump.back();
    ASSERT_EQ(ours.count("proxyjump"), theirs.count("proxyjump")) << label;
    if (theirs.count("proxyjump")) {
      EXPECT_EQ(ours.at("proxyjump"), theirs.at("proxyjump")) << label;
    }
  }
  EXPECT_EQ(Settings(tethers_.front()->Stdout()).at("proxyjump"), "bastion");
  EXPECT_EQ(Settings(tethers_.back()->Stdout()).count("proxyjump"), 0u);
}

}  // namespace
}  // namespace tether::testing
