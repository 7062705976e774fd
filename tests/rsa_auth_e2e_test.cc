// End to end: RSA user keys against a real OpenSSH 9 sshd with its default settings, which
// refuse SHA-1 "ssh-rsa" signatures. Keys from files in every format and size ssh-keygen
// writes, from the real ssh-agent, and from an old agent (a fake that signs only with SHA-1);
// servers that take only rsa-sha2-512 or only ssh-rsa. sshd's log counts the attempts.

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/echo_server.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/terminal.h"
#include "support/tether_process.h"
#include "support/timeouts.h"
#include "tether/key_file.h"
#include "tether/rsa_key.h"
#include "tether/ssh_wire.h"
#include "tether/unique_fd.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kExitNotTrusted = 77;
constexpr char kPassphrase[] = "correct horse";

int Count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

bool Keygen(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ssh-keygen", "-q"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string output, error;
  return RunCommand(argv, {}, seconds(120), &output, &error);
}

/// RSA keys of 2048, 3072 and 4096 bits, made once for the whole suite (4096 is slow),
/// and copies of them rewritten by ssh-keygen -p in each format.
class RsaKeys {
 public:
  static RsaKeys& Get() {
    static RsaKeys* keys = new RsaKeys();  // lives until the process ends
    return *keys;
  }

  /// The public line of the `bits` key; "" when ssh-keygen failed.
  std::string PublicLine(int bits) const { return ReadFile(Base(bits) + ".pub"); }

  /// A copy of the `bits` key in `format` ("openssh", "pem", "pkcs8"), under `passphrase`.
  std::string Variant(int bits, const std::string& format, const std::string& passphrase) {
    std::string path = dir_.Join("rsa" + std::to_string(bits) + "-" + format +
                                 (passphrase.empty() ? "" : "-encrypted"));
    if (access(path.c_str(), R_OK) == 0) return path;
    if (!WriteFile(path, ReadFile(Base(bits))) || chmod(path.c_str(), 0600) != 0) return "";
    std::vector<std::string> args = {"-p", "-P", "", "-N", passphrase, "-f", path};
    if (format == "pem") args.insert(args.end(), {"-m", "PEM"});
    if (format == "pkcs8") args.insert(args.end(), {"-m", "PKCS8"});
    if (format == "openssh") args.insert(args.end(), {"-a", "8"});
    return Keygen(args) ? path : "";
  }

 private:
  RsaKeys() {
    for (int bits : {2048, 3072, 4096}) {
      Keygen({"-t", "rsa", "-b", std::to_string(bits), "-N", "", "-f", Base(bits)});
    }
  }
  std::string Base(int bits) const { return dir_.Join("rsa" + std::to_string(bits)); }

  TempDir dir_;
};

/// Writes an SSH_ASKPASS program that records each call in `log` and prints `answer`.
bool WriteAskpass(const std::string& path, const std::string& log, const std::string& answer) {
  std::string script = "#!/bin/sh\necho called >> '" + log + "'\necho '" + answer + "'\n";
  return WriteFile(path, script) && chmod(path.c_str(), 0755) == 0;
}

/// A single-byte round trip through `port` to the echo service behind it.
bool EchoesThrough(uint16_t port) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  if (!fd || !SetIoTimeout(fd.get(), seconds(10)) || !WriteAll(fd.get(), "t")) return false;
  char back = 0;
  return ReadExactly(fd.get(), &back, 1) && back == 't';
}

/// An old ssh-agent: holds one RSA key and signs only with SHA-1 ("ssh-rsa"), either
/// ignoring the rsa-sha2 flags or refusing any request that carries them.
class OldAgent {
 public:
  enum class Mode { kIgnoresFlags, kRefusesFlags };

  OldAgent(const std::string& socket_path, EvpPkeyPtr key, Mode mode)
      : path_(socket_path), key_(std::move(key)), mode_(mode) {}
  ~OldAgent() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    unlink(path_.c_str());
  }

  bool Start() {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(address.sun_path)) return false;
    memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    listener_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener_ ||
        bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener_.get(), 8) != 0) {
      return false;
    }
    thread_ = std::thread([this] { Serve(); });
    return true;
  }

  int sign_requests() const { return sign_requests_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd entry{listener_.get(), POLLIN, 0};
      if (poll(&entry, 1, 50) != 1) continue;
      UniqueFd client(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) continue;
      SetIoTimeout(client.get(), seconds(10));
      for (std::string request; ReadMessage(client.get(), &request);) {
        if (!WriteMessage(client.get(), Answer(request))) break;
      }
    }
  }

  static bool ReadMessage(int fd, std::string* out) {
    char length_bytes[4];
    uint32_t length = 0;
    if (!ReadExactly(fd, length_bytes, 4) ||
        !WireReader(std::string_view(length_bytes, 4)).ReadU32(&length) || length > 65536) {
      return false;
    }
    out->assign(length, '\0');
    return ReadExactly(fd, out->data(), length);
  }

  static bool WriteMessage(int fd, const std::string& payload) {
    WireWriter framed;
    framed.PutString(payload);
    return WriteAll(fd, framed.data());
  }

  std::string Answer(const std::string& request) {
    WireReader reader(request);
    uint8_t type = 0;
    reader.ReadByte(&type);
    WireWriter answer;
    if (type == 11) {  // REQUEST_IDENTITIES
      answer.PutByte(12);
      answer.PutU32(1);
      answer.PutString(RsaPublicBlob(key_.get()));
      answer.PutString("old-agent-key");
      return answer.data();
    }
    std::string blob, data;
    uint32_t flags = 0;
    if (type != 13 || !reader.ReadString(&blob) || !reader.ReadString(&data) ||
        !reader.ReadU32(&flags) || (flags != 0 && mode_ == Mode::kRefusesFlags)) {
      return std::string(1, '\x05');  // FAILURE
    }
    ++sign_requests_;
    std::string signature;
    if (!RsaSign(key_.get(), "ssh-rsa", data, &signature)) return std::string(1, '\x05');
    WireWriter inner;
    inner.PutString("ssh-rsa");
    inner.PutString(signature);
    answer.PutByte(14);
    answer.PutString(inner.data());
    return answer.data();
  }

  std::string path_;
  EvpPkeyPtr key_;
  Mode mode_;
  UniqueFd listener_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sign_requests_{0};
};

class RsaAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(scratch_.ok());
    ASSERT_TRUE(service_.ok()) << service_.error();
    for (int bits : {2048, 3072, 4096}) {
      ASSERT_EQ(RsaKeys::Get().PublicLine(bits).rfind("ssh-rsa ", 0), 0u) << bits;
    }
  }

  /// sshd with `extra` config lines, every suite key authorized, and the fixture's own
  /// ed25519 key gone from HOME so that only RSA keys can log in.
  bool StartSshd(const std::vector<std::string>& extra = {}) {
    SshdConfig cfg;
    // DEBUG1: sshd then logs every authentication request with its count of failures.
    cfg.extra_config = {"LogLevel DEBUG1"};
    cfg.extra_config.insert(cfg.extra_config.end(), extra.begin(), extra.end());
    for (int bits : {2048, 3072, 4096}) {
      std::string line = RsaKeys::Get().PublicLine(bits);
      cfg.extra_authorized_keys.push_back(line.substr(0, line.find('\n')));
    }
    std::string error;
    sshd_ = SshdServer::Start(cfg, &error);
    EXPECT_TRUE(sshd_) << error;
    if (!sshd_) return false;
    unlink(sshd_->user_key_path().c_str());
    unlink((sshd_->user_key_path() + ".pub").c_str());
    return true;
  }

  SubprocessOptions ClientOptions() const {
    SubprocessOptions opts = sshd_->ClientProcessOptions();
    opts.new_session = true;
    return opts;
  }

  SubprocessOptions AskpassOptions(const std::string& answer) const {
    EXPECT_TRUE(WriteAskpass(scratch_.Join("askpass"), askpass_log(), answer));
    SubprocessOptions opts = ClientOptions();
    opts.env_set["SSH_ASKPASS"] = scratch_.Join("askpass");
    opts.env_set["SSH_ASKPASS_REQUIRE"] = "force";
    return opts;
  }

  std::string askpass_log() const { return scratch_.Join("askpass.log"); }
  int AskpassCalls() const { return Count(ReadFile(askpass_log()), "called"); }

  std::vector<std::string> Argv(const std::vector<std::string>& extra) {
    local_port_ = FreeTcpPort();
    std::vector<std::string> argv = {TETHER_BINARY, "-v", "-p", std::to_string(sshd_->port())};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(
        argv.end(),
        {"-L", std::to_string(local_port_) + ":127.0.0.1:" + std::to_string(service_.port()),
         sshd_->user() + "@127.0.0.1"});
    return argv;
  }

  std::unique_ptr<Subprocess> StartTether(const std::vector<std::string>& extra,
                                          const SubprocessOptions& opts) {
    log_start_ = sshd_->sshd_log().size();
    std::string error;
    auto tether = Subprocess::Start(Argv(extra), opts, &error);
    EXPECT_TRUE(tether) << error;
    return tether;
  }

  /// What sshd logged since the last StartTether.
  std::string NewSshdLog() const { return sshd_->sshd_log().substr(log_start_); }

  /// Publickey requests sshd refused since the last StartTether, each one of MaxAuthTries:
  /// a key it does not list ("Failed publickey") or an algorithm it does not take.
  int RefusedAttempts() const {
    const std::string log = NewSshdLog();
    return Count(log, "Failed publickey for") + Count(log, "not in PubkeyAcceptedAlgorithms");
  }

  std::string Diagnostics(const Subprocess& tether) const {
    return "--- tether stderr ---\n" + tether.Stderr() + "--- sshd log ---\n" + NewSshdLog();
  }

  bool WaitForwarding(Subprocess& tether) {
    std::string line = "forwarding 127.0.0.1:" + std::to_string(local_port_);
    WaitUntil([&] { return Contains(tether.Stderr(), line) || !tether.Running(); }, kReadyTimeout);
    return Contains(tether.Stderr(), line);
  }

  /// Forwards a byte, stops on SIGTERM with 0; returns tether's stderr.
  std::string ExpectForwardsThenStops(Subprocess& tether) {
    EXPECT_TRUE(WaitForwarding(tether)) << Diagnostics(tether);
    EXPECT_TRUE(EchoesThrough(local_port_)) << Diagnostics(tether);
    tether.Signal(SIGTERM);
    EXPECT_EQ(tether.WaitExit(seconds(5)), 0) << Diagnostics(tether);
    EXPECT_TRUE(WaitUntil([&] { return PortIsFree(local_port_); }, seconds(2)));
    return tether.Stderr();
  }

  /// Connects with `extra`; expects the login with `algorithm` and `failed` refused attempts.
  void ExpectLogsIn(const std::vector<std::string>& extra, const SubprocessOptions& opts,
                    const std::string& algorithm, int failed = 0) {
    auto tether = StartTether(extra, opts);
    ASSERT_TRUE(tether);
    std::string stderr_text = ExpectForwardsThenStops(*tether);
    EXPECT_TRUE(Contains(stderr_text, "with signature algorithm " + algorithm))
        << Diagnostics(*tether);
    EXPECT_EQ(Count(NewSshdLog(), "Accepted publickey for"), 1) << Diagnostics(*tether);
    EXPECT_EQ(RefusedAttempts(), failed) << Diagnostics(*tether);
  }

  /// Expects 77 without forwarding; returns stderr.
  std::string ExpectRefused(const std::vector<std::string>& extra, const SubprocessOptions& opts) {
    auto tether = StartTether(extra, opts);
    if (!tether) return "";
    EXPECT_EQ(tether->WaitExit(kReadyTimeout), kExitNotTrusted) << Diagnostics(*tether);
    EXPECT_FALSE(Contains(tether->Stderr(), "forwarding 127.0.0.1")) << Diagnostics(*tether);
    EXPECT_FALSE(Contains(NewSshdLog(), "Accepted publickey")) << Diagnostics(*tether);
    return tether->Stderr();
  }

  TempDir scratch_;
  TcpServer service_;
  std::unique_ptr<SshdServer> sshd_;
  uint16_t local_port_ = 0;
  size_t log_start_ = 0;
};

TEST_F(RsaAuth, DefaultServerRefusesSshRsaSignatures) {
  // The premise of every test here: OpenSSH's own client cannot log in with SHA-1.
  ASSERT_TRUE(StartSshd());
  std::vector<std::string> argv = sshd_->OpenSshClientArgs();
  std::string key = RsaKeys::Get().Variant(2048, "openssh", "");
  argv.insert(argv.end(), {"-o", "PubkeyAcceptedAlgorithms=ssh-rsa", "-i", key, "-o",
                           "BatchMode=yes", sshd_->user() + "@127.0.0.1", "true"});
  std::string output, error;
  SubprocessOptions opts = ClientOptions();
  EXPECT_FALSE(RunCommand(argv, opts, seconds(20), &output, &error)) << error;
}

TEST_F(RsaAuth, KeyFilesOfEverySizeAndFormatLogInWithRsaSha2_512) {
  ASSERT_TRUE(StartSshd());
  for (int bits : {2048, 3072, 4096}) {
    for (const char* format : {"openssh", "pem", "pkcs8"}) {
      for (bool encrypted : {false, true}) {
        SCOPED_TRACE(std::to_string(bits) + " " + format + (encrypted ? " encrypted" : ""));
        std::string key = RsaKeys::Get().Variant(bits, format, encrypted ? kPassphrase : "");
        ASSERT_FALSE(key.empty());
        unlink(askpass_log().c_str());
        ExpectLogsIn({"-i", key}, AskpassOptions(kPassphrase), "rsa-sha2-512");
        EXPECT_EQ(AskpassCalls(), encrypted ? 1 : 0);
      }
    }
  }
}

TEST_F(RsaAuth, EncryptedKeyPassphraseTypedAtTheTerminal) {
  ASSERT_TRUE(StartSshd());
  std::string key = RsaKeys::Get().Variant(2048, "openssh", kPassphrase);
  ASSERT_FALSE(key.empty());
  Terminal terminal;
  ASSERT_TRUE(terminal.Open());
  std::vector<std::string> argv = {"sh", "-c", "exec setsid -c \"$0\" \"$@\" <\"$TEST_TTY\""};
  for (const std::string& arg : Argv({"-i", key})) argv.push_back(arg);
  SubprocessOptions opts = sshd_->ClientProcessOptions();
  opts.env_set["TEST_TTY"] = terminal.SlavePath();
  log_start_ = sshd_->sshd_log().size();
  std::string error;
  auto tether = Subprocess::Start(argv, opts, &error);
  ASSERT_TRUE(tether) << error;
  ASSERT_TRUE(WaitUntil([&] { return Contains(terminal.Text(), "Enter passphrase for key"); },
                        kReadyTimeout))
      << terminal.Text() << tether->Stderr();
  EXPECT_TRUE(Contains(terminal.Text(), key));
  // tether prints the question, then turns echo off (flushing what was typed): type after.
  ASSERT_TRUE(WaitUntil([&] { return !terminal.Echoes(); }, kReadyTimeout)) << "echo never off";
  ASSERT_TRUE(terminal.Type(std::string(kPassphrase) + "\n"));
  std::string stderr_text = ExpectForwardsThenStops(*tether);
  EXPECT_TRUE(Contains(stderr_text, "rsa-sha2-512")) << stderr_text;
  EXPECT_FALSE(Contains(terminal.Text(), "horse")) << "the passphrase was echoed";
}

TEST_F(RsaAuth, WrongPassphraseExits77NamingTheKey) {
  ASSERT_TRUE(StartSshd());
  for (const char* format : {"openssh", "pem", "pkcs8"}) {
    SCOPED_TRACE(format);
    std::string key = RsaKeys::Get().Variant(2048, format, kPassphrase);
    ASSERT_FALSE(key.empty());
    std::string message = ExpectRefused({"-i", key}, AskpassOptions("wrong horse"));
    EXPECT_TRUE(Contains(message, key + " (encrypted: incorrect passphrase)")) << message;
    EXPECT_FALSE(Contains(message, "horse")) << message;
    EXPECT_EQ(RefusedAttempts(), 0) << "a wrong passphrase costs nothing";
  }
}

TEST_F(RsaAuth, ServerAllowingOnlyRsaSha2_512) {
  ASSERT_TRUE(StartSshd({"PubkeyAcceptedAlgorithms rsa-sha2-512"}));
  ExpectLogsIn({"-i", RsaKeys::Get().Variant(3072, "openssh", "")}, ClientOptions(),
               "rsa-sha2-512");
}

TEST_F(RsaAuth, ClientPubkeyAcceptedAlgorithmsPicksRsaSha2_256) {
  ASSERT_TRUE(StartSshd({"PubkeyAcceptedAlgorithms rsa-sha2-256"}));
  ExpectLogsIn({"-o", "PubkeyAcceptedAlgorithms=rsa-sha2-256", "-i",
                RsaKeys::Get().Variant(2048, "pem", "")},
               ClientOptions(), "rsa-sha2-256");
}

TEST_F(RsaAuth, ServerTakingOnlySshRsaWorksThroughOneFallback) {
  ASSERT_TRUE(StartSshd({"PubkeyAcceptedAlgorithms ssh-rsa"}));
  // One refused rsa-sha2-512 attempt, then ssh-rsa: within MaxAuthTries, no more.
  ExpectLogsIn({"-i", RsaKeys::Get().Variant(2048, "openssh", "")}, ClientOptions(), "ssh-rsa", 1);
}

TEST_F(RsaAuth, FallbackCanBeTurnedOffAsInSsh) {
  ASSERT_TRUE(StartSshd({"PubkeyAcceptedAlgorithms ssh-rsa"}));
  std::string key = RsaKeys::Get().Variant(2048, "openssh", "");
  std::string message =
      ExpectRefused({"-o", "PubkeyAcceptedAlgorithms=-ssh-rsa", "-i", key}, ClientOptions());
  EXPECT_TRUE(Contains(message, key + " (RSA key refused by the server with rsa-sha2-512"))
      << message;
  EXPECT_EQ(RefusedAttempts(), 1) << NewSshdLog();
}

TEST_F(RsaAuth, KeyNotAuthorizedNamesTheRealReasonWithinOneFallback) {
  ASSERT_TRUE(StartSshd());
  std::string key = scratch_.Join("stranger_rsa");
  ASSERT_TRUE(Keygen({"-t", "rsa", "-b", "2048", "-N", "", "-f", key}));
  std::string other = scratch_.Join("stranger_rsa2");
  ASSERT_TRUE(Keygen({"-t", "rsa", "-b", "2048", "-N", "", "-f", other}));
  std::string message = ExpectRefused({"-i", key, "-i", other}, ClientOptions());
  EXPECT_TRUE(Contains(message, key + " (RSA key refused by the server with rsa-sha2-512, "
                                      "ssh-rsa (not in its authorized_keys"))
      << message;
  EXPECT_TRUE(Contains(message, other + " (RSA key refused by the server with rsa-sha2-512 ("))
      << "one ssh-rsa retry per connection: " << message;
  EXPECT_FALSE(Contains(message, "libssh2")) << message;
  EXPECT_EQ(RefusedAttempts(), 3) << NewSshdLog();
}

TEST_F(RsaAuth, AgentSignsWithRsaSha2_512ThenRsaSha2_256) {
  ASSERT_TRUE(StartSshd());
  std::string error;
  auto agent = SshAgent::Start(&error);
  ASSERT_TRUE(agent) << error;
  ASSERT_TRUE(agent->Add(RsaKeys::Get().Variant(4096, "openssh", ""), &error)) << error;
  SubprocessOptions opts = ClientOptions();
  opts.env_set["SSH_AUTH_SOCK"] = agent->socket_path();
  ExpectLogsIn({}, opts, "rsa-sha2-512");
  ExpectLogsIn({"-o", "PubkeyAcceptedAlgorithms=rsa-sha2-256"}, opts, "rsa-sha2-256");
}

TEST_F(RsaAuth, AgentKeysComeFirstAndTheirFilesAreNotOfferedAgain) {
  ASSERT_TRUE(StartSshd());
  std::string stranger = scratch_.Join("stranger_rsa");
  ASSERT_TRUE(Keygen({"-t", "rsa", "-b", "2048", "-N", "", "-f", stranger}));
  std::string error;
  auto agent = SshAgent::Start(&error);
  ASSERT_TRUE(agent) << error;
  ASSERT_TRUE(agent->Add(stranger, &error)) << error;
  SubprocessOptions opts = ClientOptions();
  opts.env_set["SSH_AUTH_SOCK"] = agent->socket_path();
  // The agent's key is refused (rsa-sha2-512, then the connection's one ssh-rsa retry); the
  // same key as a file is skipped; the next file logs in, as ssh orders them.
  ExpectLogsIn({"-i", stranger, "-i", RsaKeys::Get().Variant(2048, "openssh", "")}, opts,
               "rsa-sha2-512", 2);
}

TEST_F(RsaAuth, AgentEcdsaAndEd25519KeysSignThroughTheSameClient) {
  // Every agent key now goes through tether's own agent client, not only RSA ones.
  ASSERT_TRUE(StartSshd());
  for (const char* type : {"ecdsa", "ed25519"}) {
    SCOPED_TRACE(type);
    std::string key = scratch_.Join(std::string("agent_") + type);
    std::string public_line = MakeUserKey(key, type, "");
    ASSERT_FALSE(public_line.empty());
    ASSERT_TRUE(sshd_->AddAuthorizedKey(public_line));
    std::string error;
    auto agent = SshAgent::Start(&error);
    ASSERT_TRUE(agent) << error;
    ASSERT_TRUE(agent->Add(key, &error)) << error;
    SubprocessOptions opts = ClientOptions();
    opts.env_set["SSH_AUTH_SOCK"] = agent->socket_path();
    ExpectLogsIn({}, opts, public_line.substr(0, public_line.find(' ')));
  }
}

TEST_F(RsaAuth, StopSignalEndsTheWaitForASilentAgent) {
  ASSERT_TRUE(StartSshd());
  // An agent socket that takes the connection and never answers.
  std::string path = scratch_.Join("silent-agent.sock");
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  SubprocessOptions opts = ClientOptions();
  opts.env_set["SSH_AUTH_SOCK"] = path;
  auto tether = StartTether({}, opts);
  ASSERT_TRUE(tether);
  ASSERT_TRUE(WaitUntil([&] { return Contains(tether->Stderr(), "connected to"); }, kReadyTimeout))
      << Diagnostics(*tether);
  std::this_thread::sleep_for(milliseconds(300));  // now waiting for the agent's answer
  tether->Signal(SIGTERM);
  EXPECT_EQ(tether->WaitExit(seconds(5)), 0) << Diagnostics(*tether);
  EXPECT_TRUE(Contains(tether->Stderr(), "stopped by a signal before the tunnel was up"))
      << Diagnostics(*tether);
}

TEST_F(RsaAuth, OldAgentThatSignsOnlyWithSha1) {
  EvpPkeyPtr key;
  std::string detail;
  ASSERT_EQ(LoadRsaKeyFile(RsaKeys::Get().Variant(2048, "openssh", ""), "", &key, &detail),
            KeyLoadError::kNone)
      << detail;
  std::string blob = RsaPublicBlob(key.get());
  for (OldAgent::Mode mode : {OldAgent::Mode::kIgnoresFlags, OldAgent::Mode::kRefusesFlags}) {
    SCOPED_TRACE(mode == OldAgent::Mode::kIgnoresFlags ? "ignores flags" : "refuses flags");
    EvpPkeyPtr copy(EVP_PKEY_dup(key.get()));
    OldAgent agent(scratch_.Join("old-agent.sock"), std::move(copy), mode);
    ASSERT_TRUE(agent.Start());
    auto agent_options = [&] {
      SubprocessOptions opts = ClientOptions();
      opts.env_set["SSH_AUTH_SOCK"] = scratch_.Join("old-agent.sock");
      return opts;
    };

    // OpenSSH 9's defaults: no signature the agent can make is accepted; the message says why.
    ASSERT_TRUE(StartSshd());
    std::string message = ExpectRefused({}, agent_options());
    EXPECT_TRUE(Contains(message, "agent key old-agent-key")) << message;
    EXPECT_TRUE(Contains(message, mode == OldAgent::Mode::kIgnoresFlags
                                      ? "signed with ssh-rsa when asked for rsa-sha2-512"
                                      : "the agent refused to sign with rsa-sha2-512"))
        << message;

    // A server that still takes ssh-rsa: the fallback logs in, one refused attempt at most.
    ASSERT_TRUE(StartSshd({"PubkeyAcceptedAlgorithms +ssh-rsa"}));
    ExpectLogsIn({}, agent_options(), "ssh-rsa", 0);
  }
}

TEST_F(RsaAuth, KeyFileReadableByOthersIsIgnoredAsBySsh) {
  ASSERT_TRUE(StartSshd());
  std::string key = RsaKeys::Get().Variant(2048, "pem", "");
  std::string open_key = scratch_.Join("id_rsa_open");
  ASSERT_TRUE(WriteFile(open_key, ReadFile(key)));
  for (mode_t mode : {0644, 0640}) {
    ASSERT_EQ(chmod(open_key.c_str(), mode), 0);
    std::string message = ExpectRefused({"-i", open_key}, ClientOptions());
    EXPECT_TRUE(Contains(message, "UNPROTECTED PRIVATE KEY FILE!")) << message;
    EXPECT_TRUE(Contains(message, "Permissions 0" + std::string(mode == 0644 ? "644" : "640") +
                                      " for '" + open_key + "' are too open"))
        << message;
    EXPECT_EQ(Count(NewSshdLog(), "method publickey"), 0) << "the key was offered";
  }
  ASSERT_EQ(chmod(open_key.c_str(), 0600), 0);
  ExpectLogsIn({"-i", open_key}, ClientOptions(), "rsa-sha2-512");
}

TEST_F(RsaAuth, RsaLeftOutOfPubkeyAcceptedAlgorithmsIsNotOffered) {
  ASSERT_TRUE(StartSshd());
  std::string key = RsaKeys::Get().Variant(2048, "openssh", "");
  std::string message =
      ExpectRefused({"-o", "PubkeyAcceptedAlgorithms=ssh-ed25519", "-i", key}, ClientOptions());
  EXPECT_TRUE(Contains(message, "no RSA signature algorithm left in PubkeyAcceptedAlgorithms"))
      << message;
  EXPECT_EQ(Count(NewSshdLog(), "method publickey"), 0) << "the key was offered";
}

}  // namespace
}  // namespace tether::testing
