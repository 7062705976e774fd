// End to end: the trust decisions tether makes before it forwards anything. The real tether
// binary runs against a real sshd; each test asserts the exit code, what the user is told,
// and that afterwards no tether process is left and the forward's port is free again.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

constexpr int kExitNotTrusted = 77;
constexpr char kPassphrase[] = "correct horse";

std::string Lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/// The "SHA256:..." fingerprint ssh-keygen prints for a public key line, or "".
std::string Fingerprint(const TempDir& scratch, const std::string& public_line) {
  std::string path = scratch.Join("fingerprint.pub");
  std::string output, error;
  if (!WriteFile(path, public_line + "\n") ||
      !RunCommand({"ssh-keygen", "-l", "-E", "sha256", "-f", path}, {}, seconds(10), &output,
                  &error)) {
    return "";
  }
  size_t begin = output.find("SHA256:");
  if (begin == std::string::npos) return "";
  return output.substr(begin, output.find(' ', begin) - begin);
}

/// Writes an SSH_ASKPASS program that records each call in `log` and prints `answer`.
bool WriteAskpass(const std::string& path, const std::string& log, const std::string& answer) {
  std::string script = "#!/bin/sh\necho called >> '" + log + "'\necho '" + answer + "'\n";
  return WriteFile(path, script) && chmod(path.c_str(), 0755) == 0;
}

/// How many times the askpass program written by WriteAskpass ran.
int AskpassCalls(const std::string& log) {
  std::string text = ReadFile(log);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

/// A single-byte round trip through `port` to the echo service behind it.
bool EchoesThrough(uint16_t port) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  if (!fd || !SetIoTimeout(fd.get(), seconds(10)) || !WriteAll(fd.get(), "t")) return false;
  char back = 0;
  return ReadExactly(fd.get(), &back, 1) && back == 't';
}

/// One sshd, one echo service behind it, and tether runs with a single forward to it.
class HostKeyAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(scratch_.ok());
    ASSERT_TRUE(service_.ok()) << service_.error();
  }

  /// Starts the fixture's sshd with `cfg`; false (and a test failure) when it cannot.
  bool StartSshd(const SshdConfig& cfg = SshdConfig()) {
    std::string error;
    sshd_ = SshdServer::Start(cfg, &error);
    EXPECT_TRUE(sshd_) << error;
    return sshd_ != nullptr;
  }

  /// The fixture's client environment, in a new session: without a controlling terminal
  /// tether cannot fall back to prompting on /dev/tty, whatever terminal runs the tests.
  SubprocessOptions ClientOptions() const {
    SubprocessOptions opts = sshd_->ClientProcessOptions();
    opts.new_session = true;
    return opts;
  }

  /// Starts `tether -p PORT EXTRA... -L LPORT:127.0.0.1:SERVICE user@127.0.0.1`.
  std::unique_ptr<Subprocess> StartTether(const std::vector<std::string>& extra,
                                          const SubprocessOptions& opts) {
    local_port_ = FreeTcpPort();
    std::vector<std::string> argv = {TETHER_BINARY, "-p", std::to_string(sshd_->port())};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(
        argv.end(),
        {"-L", std::to_string(local_port_) + ":127.0.0.1:" + std::to_string(service_.port()),
         sshd_->user() + "@127.0.0.1"});
    std::string error;
    auto tether = Subprocess::Start(argv, opts, &error);
    EXPECT_TRUE(tether) << error;
    return tether;
  }

  std::string ForwardingLine() const {
    return "tether: forwarding 127.0.0.1:" + std::to_string(local_port_) + " -> ";
  }

  /// Waits until tether logs that it forwards, or exits. True when it forwards.
  bool WaitForwarding(Subprocess& tether) {
    WaitUntil([&] { return Contains(tether.Stderr(), ForwardingLine()) || !tether.Running(); },
              kReadyTimeout);
    return Contains(tether.Stderr(), ForwardingLine());
  }

  std::string Diagnostics(const Subprocess& tether) const {
    return "--- tether stderr ---\n" + tether.Stderr() + "--- sshd log ---\n" + sshd_->sshd_log();
  }

  /// The end of every test: no tether of this test runs, and the forward's port is free.
  void ExpectGoneAndPortFree() const { ExpectTunnelGone(*sshd_, {local_port_}); }

  /// The tunnel is up: a byte goes through it; then SIGTERM ends tether with status 0.
  void ExpectForwardsThenStops(Subprocess& tether) {
    ASSERT_TRUE(WaitForwarding(tether)) << Diagnostics(tether);
    EXPECT_TRUE(EchoesThrough(local_port_)) << Diagnostics(tether);
    tether.Signal(SIGTERM);
    EXPECT_EQ(tether.WaitExit(seconds(5)), 0) << Diagnostics(tether);
    ExpectGoneAndPortFree();
  }

  /// Runs tether to completion and expects it to forward, echo, and stop cleanly.
  void ExpectConnects(const std::vector<std::string>& extra, const SubprocessOptions& opts) {
    auto tether = StartTether(extra, opts);
    ASSERT_TRUE(tether);
    ExpectForwardsThenStops(*tether);
  }

  /// Expects tether to give up with 77 without ever forwarding; returns its stderr.
  std::string ExpectRefused(const std::vector<std::string>& extra, const SubprocessOptions& opts) {
    auto tether = StartTether(extra, opts);
    if (!tether) return "";
    EXPECT_EQ(tether->WaitExit(kReadyTimeout), kExitNotTrusted) << Diagnostics(*tether);
    EXPECT_FALSE(Contains(tether->Stderr(), "forwarding")) << Diagnostics(*tether);
    ExpectGoneAndPortFree();
    return tether->Stderr();
  }

  /// Expects a host key refusal: 77, the presented fingerprint and the host named, and the
  /// server never saw a login attempt succeed.
  std::string ExpectHostKeyRefused(const std::vector<std::string>& extra = {}) {
    std::string message = ExpectRefused(extra, ClientOptions());
    std::string fingerprint = Fingerprint(scratch_, sshd_->host_public_key_line());
    EXPECT_FALSE(fingerprint.empty());
    EXPECT_TRUE(Contains(message, fingerprint)) << message;
    EXPECT_TRUE(Contains(message, HostPattern())) << message;
    EXPECT_FALSE(Contains(sshd_->sshd_log(), "Accepted publickey")) << sshd_->sshd_log();
    return message;
  }

  std::string HostPattern() const { return "[127.0.0.1]:" + std::to_string(sshd_->port()); }

  /// Removes the fixture's default key from HOME, so only what a test adds can log in.
  void RemoveDefaultKey() const {
    ASSERT_EQ(unlink(sshd_->user_key_path().c_str()), 0);
    unlink((sshd_->user_key_path() + ".pub").c_str());
  }

  TempDir scratch_;
  TcpServer service_;
  std::unique_ptr<SshdServer> sshd_;
  uint16_t local_port_ = 0;
};

TEST_F(HostKeyAuth, KnownHostKeyConnectsAndForwards) {
  ASSERT_TRUE(StartSshd());
  ExpectConnects({}, ClientOptions());
}

TEST_F(HostKeyAuth, UnknownHostKeyIsRefusedWithFingerprintUnderStrictChecking) {
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), ""));
  std::string message = ExpectHostKeyRefused();
  EXPECT_TRUE(Contains(message, "SHA256:")) << message;
  EXPECT_EQ(ReadFile(sshd_->known_hosts_path()), "") << "strict checking must not learn keys";
}

TEST_F(HostKeyAuth, ChangedHostKeyIsRefused) {
  ASSERT_TRUE(StartSshd());
  std::string other = MakeUserKey(scratch_.Join("other_host_key"), "ed25519", "");
  ASSERT_EQ(other.rfind("ssh-ed25519 ", 0), 0u) << other;
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), HostPattern() + " " + other + "\n"));
  std::string message = ExpectHostKeyRefused();
  EXPECT_TRUE(Contains(Lowercase(message), "changed")) << message;
}

TEST_F(HostKeyAuth, ChangedHostKeyIsRefusedWhateverTheCheckingPolicy) {
  // ssh lets StrictHostKeyChecking=no through a changed key only with forwarding disabled;
  // tether exists to forward, so it must refuse, and must not overwrite the old key.
  ASSERT_TRUE(StartSshd());
  std::string other = MakeUserKey(scratch_.Join("other_host_key"), "ed25519", "");
  ASSERT_FALSE(other.empty());
  std::string known = HostPattern() + " " + other + "\n";
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), known));
  for (const char* policy : {"StrictHostKeyChecking=no", "StrictHostKeyChecking=accept-new"}) {
    SCOPED_TRACE(policy);
    std::string message = ExpectHostKeyRefused({"-o", policy});
    EXPECT_TRUE(Contains(Lowercase(message), "changed")) << message;
    EXPECT_EQ(ReadFile(sshd_->known_hosts_path()), known);
  }
}

TEST_F(HostKeyAuth, EntryWithoutPortDoesNotVouchForAnotherPort) {
  // OpenSSH stores a non-22 port as "[host]:port" and never falls back to plain "host".
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(
      WriteFile(sshd_->known_hosts_path(), "127.0.0.1 " + sshd_->host_public_key_line() + "\n"));
  ExpectHostKeyRefused();
}

TEST_F(HostKeyAuth, MalformedKnownHostsLineIsSkippedNotFatal) {
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), "this line is not a known_hosts entry\n" +
                                                       sshd_->known_hosts_line() + "\n"));
  ExpectConnects({}, ClientOptions());
}

TEST_F(HostKeyAuth, HostKnownOnlyByAnotherKeyTypeIsTreatedAsChanged) {
  ASSERT_TRUE(StartSshd());
  std::string ecdsa = MakeUserKey(scratch_.Join("ecdsa_host_key"), "ecdsa", "");
  ASSERT_EQ(ecdsa.rfind("ecdsa-sha2-nistp256 ", 0), 0u) << ecdsa;
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), HostPattern() + " " + ecdsa + "\n"));
  std::string message = ExpectHostKeyRefused();
  EXPECT_TRUE(Contains(Lowercase(message), "changed")) << message;
}

TEST_F(HostKeyAuth, KnownEd25519KeyIsPreferredWhenServerAlsoOffersEcdsa) {
  // libssh2 asks for ECDSA before ed25519 by default; a host known by its ed25519 key
  // must not look unknown just because it also has an ECDSA key.
  SshdConfig cfg;
  cfg.extra_host_key_types = {"ecdsa"};
  ASSERT_TRUE(StartSshd(cfg));
  ExpectConnects({}, ClientOptions());
}

TEST_F(HostKeyAuth, AcceptNewLearnsTheKeyThenStrictCheckingConnects) {
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), ""));
  // Debian's /etc/ssh/ssh_config says HashKnownHosts yes; this test reads the plain form.
  ExpectConnects({"-o", "StrictHostKeyChecking=accept-new", "-o", "HashKnownHosts=no"},
                 ClientOptions());
  std::string learned = ReadFile(sshd_->known_hosts_path());
  EXPECT_EQ(learned.rfind(HostPattern() + " ssh-ed25519 ", 0), 0u) << learned;
  EXPECT_EQ(learned, HostPattern() + " " + sshd_->host_public_key_line() + "\n");
  ExpectConnects({}, ClientOptions());
}

TEST_F(HostKeyAuth, HashedKnownHostsEntryMatches) {
  ASSERT_TRUE(StartSshd());
  std::string output, error;
  ASSERT_TRUE(RunCommand({"ssh-keygen", "-H", "-f", sshd_->known_hosts_path()}, {}, seconds(10),
                         &output, &error))
      << error << output;
  std::string hashed = ReadFile(sshd_->known_hosts_path());
  ASSERT_EQ(hashed.rfind("|1|", 0), 0u) << hashed;
  ASSERT_FALSE(Contains(hashed, "127.0.0.1")) << hashed;
  ExpectConnects({"-o", "StrictHostKeyChecking=yes"}, ClientOptions());
}

TEST_F(HostKeyAuth, RevokedHostKeyIsRefusedEvenWhenAlsoListedAsKnown) {
  ASSERT_TRUE(StartSshd());
  // The key is both known for the host and revoked (as ssh-keygen -R would not undo): the
  // revocation wins, under every checking policy.
  const std::string known = ReadFile(sshd_->known_hosts_path());
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(),
                        known + "@revoked * " + sshd_->host_public_key_line() + "\n"));
  for (const char* policy : {"yes", "accept-new", "no"}) {
    std::string message =
        ExpectRefused({"-o", std::string("StrictHostKeyChecking=") + policy}, ClientOptions());
    EXPECT_TRUE(Contains(message, "is marked as revoked")) << policy << ": " << message;
    EXPECT_TRUE(Contains(message, Fingerprint(scratch_, sshd_->host_public_key_line()))) << message;
  }
  EXPECT_FALSE(Contains(sshd_->sshd_log(), "Accepted publickey")) << sshd_->sshd_log();
}

TEST_F(HostKeyAuth, StrictCheckingOffConnectsToUnknownHost) {
  ASSERT_TRUE(StartSshd());
  ASSERT_TRUE(WriteFile(sshd_->known_hosts_path(), ""));
  ExpectConnects({"-o", "StrictHostKeyChecking=no"}, ClientOptions());
}

TEST_F(HostKeyAuth, AgentKeyLogsIn) {
  ASSERT_TRUE(StartSshd());
  std::string error;
  auto agent = SshAgent::Start(&error);
  ASSERT_TRUE(agent) << error;
  std::string key = scratch_.Join("agent_only_key");
  std::string public_line = MakeUserKey(key, "ed25519", "");
  ASSERT_FALSE(public_line.empty());
  ASSERT_TRUE(agent->Add(key, &error)) << error;
  ASSERT_TRUE(sshd_->AddAuthorizedKey(public_line));
  ASSERT_EQ(unlink(key.c_str()), 0);
  RemoveDefaultKey();

  SubprocessOptions opts = ClientOptions();
  opts.env_set["SSH_AUTH_SOCK"] = agent->socket_path();
  ExpectConnects({}, opts);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), Fingerprint(scratch_, public_line))) << sshd_->sshd_log();
}

TEST_F(HostKeyAuth, EncryptedKeyPassphraseComesFromAskpassAndStaysSecret) {
  ASSERT_TRUE(StartSshd());
  std::string key = scratch_.Join("id_encrypted");
  std::string public_line = MakeUserKey(key, "ed25519", kPassphrase);
  ASSERT_FALSE(public_line.empty());
  ASSERT_TRUE(sshd_->AddAuthorizedKey(public_line));
  std::string askpass_log = scratch_.Join("askpass.log");
  ASSERT_TRUE(WriteAskpass(scratch_.Join("askpass"), askpass_log, kPassphrase));

  SubprocessOptions opts = ClientOptions();
  opts.env_set["SSH_ASKPASS"] = scratch_.Join("askpass");
  opts.env_set["SSH_ASKPASS_REQUIRE"] = "force";
  auto tether = StartTether({"-i", key}, opts);
  ASSERT_TRUE(tether);
  ASSERT_TRUE(WaitForwarding(*tether)) << Diagnostics(*tether);
  EXPECT_EQ(AskpassCalls(askpass_log), 1);
  std::string proc = "/proc/" + std::to_string(tether->pid());
  std::string cmdline = ReadFile(proc + "/cmdline");
  ASSERT_TRUE(Contains(cmdline, key)) << "cannot read " << proc << "/cmdline";
  EXPECT_FALSE(Contains(cmdline, "horse"));
  EXPECT_FALSE(Contains(ReadFile(proc + "/environ"), "horse"));
  ExpectForwardsThenStops(*tether);
  EXPECT_FALSE(Contains(tether->Stderr(), "horse")) << tether->Stderr();
}

TEST_F(HostKeyAuth, WrongPassphraseFailsNamingTheKey) {
  ASSERT_TRUE(StartSshd());
  std::string key = scratch_.Join("id_encrypted");
  std::string public_line = MakeUserKey(key, "ed25519", kPassphrase);
  ASSERT_FALSE(public_line.empty());
  ASSERT_TRUE(sshd_->AddAuthorizedKey(public_line));
  std::string askpass_log = scratch_.Join("askpass.log");
  ASSERT_TRUE(WriteAskpass(scratch_.Join("askpass"), askpass_log, "wrong horse"));

  SubprocessOptions opts = ClientOptions();
  opts.env_set["SSH_ASKPASS"] = scratch_.Join("askpass");
  opts.env_set["SSH_ASKPASS_REQUIRE"] = "force";
  std::string message = ExpectRefused({"-i", key}, opts);
  EXPECT_TRUE(Contains(message, "authentication failed")) << message;
  EXPECT_TRUE(Contains(message, key)) << message;
  EXPECT_GE(AskpassCalls(askpass_log), 1);
  EXPECT_FALSE(Contains(message, "horse")) << message;
}

TEST_F(HostKeyAuth, UnauthorizedKeyFailsNamingWhatWasTried) {
  ASSERT_TRUE(StartSshd());
  std::string key = scratch_.Join("id_stranger");
  ASSERT_FALSE(MakeUserKey(key, "ed25519", "").empty());
  std::string message = ExpectRefused({"-i", key}, ClientOptions());
  EXPECT_TRUE(Contains(message, "authentication failed")) << message;
  EXPECT_TRUE(Contains(message, key)) << message;
  EXPECT_FALSE(Contains(message, "ssh-agent")) << "no agent was given: " << message;
}

TEST_F(HostKeyAuth, RsaUserKeyConnectsOrExplainsRsaSha2) {
  // OpenSSH 9 refuses SHA-1 "ssh-rsa" signatures by default: the login must use rsa-sha2.
  ASSERT_TRUE(StartSshd());
  std::string key = scratch_.Join("id_rsa");
  std::string public_line = MakeUserKey(key, "rsa", "");
  ASSERT_EQ(public_line.rfind("ssh-rsa ", 0), 0u) << public_line;
  ASSERT_TRUE(sshd_->AddAuthorizedKey(public_line));
  RemoveDefaultKey();
  ExpectConnects({"-i", key}, ClientOptions());
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Accepted publickey for")) << sshd_->sshd_log();
  EXPECT_TRUE(Contains(sshd_->sshd_log(), Fingerprint(scratch_, public_line))) << sshd_->sshd_log();
}

/// A server that would take a password, a client with no usable key, and an askpass that
/// records whether anyone asked.
class HostKeyAuthNoKey : public HostKeyAuth {
 protected:
  void SetUp() override {
    HostKeyAuth::SetUp();
    SshdConfig cfg;
    cfg.extra_config = {"PasswordAuthentication yes", "KbdInteractiveAuthentication yes"};
    ASSERT_TRUE(StartSshd(cfg));
    RemoveDefaultKey();
    ASSERT_TRUE(WriteAskpass(scratch_.Join("askpass"), askpass_log(), "not-the-password"));
  }

  SubprocessOptions AskpassOptions() const {
    SubprocessOptions opts = ClientOptions();
    opts.env_set["SSH_ASKPASS"] = scratch_.Join("askpass");
    opts.env_set["SSH_ASKPASS_REQUIRE"] = "force";
    return opts;
  }

  std::string askpass_log() const { return scratch_.Join("askpass.log"); }
};

TEST_F(HostKeyAuthNoKey, BatchModeFailsFastWithoutPrompting) {
  auto start = std::chrono::steady_clock::now();
  std::string message = ExpectRefused({"-o", "BatchMode=yes"}, AskpassOptions());
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  EXPECT_TRUE(Contains(message, "authentication failed")) << message;
  EXPECT_EQ(AskpassCalls(askpass_log()), 0) << "BatchMode must never prompt";
}

TEST_F(HostKeyAuthNoKey, WithoutBatchModePasswordIsAskedThroughAskpass) {
  // The control for the test above: the same setup does reach the prompt.
  std::string message = ExpectRefused({}, AskpassOptions());
  EXPECT_TRUE(Contains(message, "authentication failed")) << message;
  EXPECT_GE(AskpassCalls(askpass_log()), 1);
  EXPECT_FALSE(Contains(message, "not-the-password")) << message;
}

/// An sshd that wants two factors (AuthenticationMethods): a key first, then a password.
/// libssh2 1.10 reports the key's partial success as a failure; tether must go on.
class TwoFactorAuth : public HostKeyAuth {
 protected:
  static constexpr char kPassword[] = "tether-two-factor";

  void SetUp() override {
    HostKeyAuth::SetUp();
    std::string why;
    if (!SshdServer::PasswordsUsable(&why)) GTEST_SKIP() << why;
    SshdConfig cfg;
    cfg.password = kPassword;
    cfg.extra_config = {"PasswordAuthentication yes", "PermitRootLogin yes",
                        "AuthenticationMethods publickey,password"};
    ASSERT_TRUE(StartSshd(cfg));
  }

  SubprocessOptions AskpassAnswering(const std::string& answer) const {
    EXPECT_TRUE(WriteAskpass(scratch_.Join("askpass"), askpass_log(), answer));
    SubprocessOptions opts = ClientOptions();
    opts.env_set["SSH_ASKPASS"] = scratch_.Join("askpass");
    opts.env_set["SSH_ASKPASS_REQUIRE"] = "force";
    return opts;
  }

  std::string askpass_log() const { return scratch_.Join("askpass.log"); }
};

// The session pool logs in again without asking anyone: after a login that needed a
// password, tether stays at one session however many clients wait (-v says why).
TEST_F(TwoFactorAuth, LoginThatNeededAPasswordKeepsOneSession) {
  auto tether = StartTether({"-v"}, AskpassAnswering(kPassword));
  ASSERT_TRUE(tether);
  ASSERT_TRUE(WaitForwarding(*tether)) << Diagnostics(*tether);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 30; ++i) {
    std::string error;
    clients.push_back(ConnectTcp("127.0.0.1", local_port_, &error));
    ASSERT_TRUE(clients.back().valid()) << error;
  }
  for (UniqueFd& client : clients) {
    SetIoTimeout(client.get(), seconds(10));
    EXPECT_TRUE(EchoOnce(client.get(), "x")) << Diagnostics(*tether);
  }
  EXPECT_TRUE(Contains(tether->Stderr(), "one SSH session only: the login needed an answer"))
      << tether->Stderr();
  EXPECT_FALSE(Contains(tether->Stderr(), "could not open another session")) << tether->Stderr();
  EXPECT_EQ(CountOccurrences(sshd_->sshd_log(), "Accepted password for"), 1u);
  EXPECT_EQ(AskpassCalls(askpass_log()), 1);
  clients.clear();
  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(seconds(5)), 0) << Diagnostics(*tether);
  ExpectGoneAndPortFree();
}

TEST_F(TwoFactorAuth, KeyThenPasswordLogsIn) {
  auto tether = StartTether({}, AskpassAnswering(kPassword));
  ASSERT_TRUE(tether);
  ExpectForwardsThenStops(*tether);
  EXPECT_EQ(AskpassCalls(askpass_log()), 1);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Partial publickey for")) << sshd_->sshd_log();
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Accepted password for")) << sshd_->sshd_log();
  EXPECT_FALSE(Contains(tether->Stderr(), kPassword)) << tether->Stderr();
}

TEST_F(TwoFactorAuth, KeyThenWrongPasswordFailsSayingTheKeyWasAPartialSuccess) {
  std::string message = ExpectRefused({}, AskpassAnswering("not-the-password"));
  EXPECT_TRUE(Contains(message, "authentication failed")) << message;
  EXPECT_TRUE(Contains(message, "partial success after " + sshd_->user_key_path() +
                                    ", then the server asked for password"))
      << message;
  EXPECT_GE(AskpassCalls(askpass_log()), 1);
  EXPECT_FALSE(Contains(message, "not-the-password")) << message;
}

TEST_F(TwoFactorAuth, WithoutAWayToAskForThePasswordFailsAfterTheKey) {
  // BatchMode: the key is accepted as a first factor, and nothing may prompt for the second.
  std::string message = ExpectRefused({"-o", "BatchMode=yes"}, AskpassAnswering(kPassword));
  EXPECT_TRUE(Contains(message, "authentication failed")) << message;
  EXPECT_EQ(AskpassCalls(askpass_log()), 0);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Partial publickey for")) << sshd_->sshd_log();
}

// The second factor asked through PAM's conversation (keyboard-interactive), as servers
// with one-time codes do; the password prompt is PAM's own.
TEST_F(TwoFactorAuth, KeyThenKeyboardInteractiveThroughPamLogsIn) {
  sshd_.reset();
  SshdConfig cfg;
  cfg.password = kPassword;
  cfg.extra_config = {"UsePAM yes", "KbdInteractiveAuthentication yes", "PasswordAuthentication no",
                      "PermitRootLogin yes",
                      "AuthenticationMethods publickey,keyboard-interactive"};
  ASSERT_TRUE(StartSshd(cfg));
  auto tether = StartTether({}, AskpassAnswering(kPassword));
  ASSERT_TRUE(tether);
  ExpectForwardsThenStops(*tether);
  EXPECT_EQ(AskpassCalls(askpass_log()), 1);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Partial publickey for")) << sshd_->sshd_log();
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Accepted keyboard-interactive/pam for"))
      << sshd_->sshd_log();
  EXPECT_FALSE(Contains(tether->Stderr(), kPassword)) << tether->Stderr();
}

TEST_F(HostKeyAuth, TwoKeysRequiredAgentKeyThenFileKeyLogsIn) {
  SshdConfig cfg;
  cfg.extra_config = {"AuthenticationMethods publickey,publickey"};
  ASSERT_TRUE(StartSshd(cfg));
  std::string error;
  auto agent = SshAgent::Start(&error);
  ASSERT_TRUE(agent) << error;
  std::string key = scratch_.Join("agent_key");
  std::string public_line = MakeUserKey(key, "ed25519", "");
  ASSERT_FALSE(public_line.empty());
  ASSERT_TRUE(agent->Add(key, &error)) << error;
  ASSERT_TRUE(sshd_->AddAuthorizedKey(public_line));

  SubprocessOptions opts = ClientOptions();
  opts.env_set["SSH_AUTH_SOCK"] = agent->socket_path();
  ExpectConnects({}, opts);
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Partial publickey for")) << sshd_->sshd_log();
  EXPECT_TRUE(Contains(sshd_->sshd_log(), "Accepted publickey for")) << sshd_->sshd_log();
}

}  // namespace
}  // namespace tether::testing
