// Proves the test fixtures work with the real parts they stand in front of: a real sshd, the
// OpenSSH client, ssh-agent, loopback TCP. Every other end-to-end test builds on these.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "support/echo_server.h"
#include "support/fault_proxy.h"
#include "support/net_util.h"
#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kMiB = 1 << 20;

/// Sends `payload` in chunks and reads each chunk's echo before sending the next, so one
/// thread can drive a connection without both sides filling their buffers.
bool EchoInLockstep(int fd, const std::string& payload, size_t chunk) {
  std::string back(chunk, '\0');
  for (size_t off = 0; off < payload.size(); off += chunk) {
    size_t n = std::min(chunk, payload.size() - off);
    if (!WriteAll(fd, payload.data() + off, n) || !ReadExactly(fd, back.data(), n)) return false;
    if (back.compare(0, n, payload, off, n) != 0) return false;
  }
  return true;
}

UniqueFd MustConnect(uint16_t port) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  EXPECT_TRUE(fd.valid()) << error;
  if (fd) SetIoTimeout(fd.get(), seconds(10));
  return fd;
}

TEST(SupportSha256, MatchesFips180Vectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(SupportSha256, IncrementalEqualsOneShot) {
  const std::string data = RandomBytes(100000, 7);
  Sha256 hash;
  for (size_t off = 0, step = 1; off < data.size(); off += step, step = step * 3 % 1000 + 1) {
    hash.Update(data.data() + off, std::min(step, data.size() - off));
  }
  EXPECT_EQ(hash.HexDigest(), Sha256Hex(data));
}

TEST(SupportRandomBytes, DeterministicPerSeed) {
  EXPECT_EQ(RandomBytes(1001, 1), RandomBytes(1001, 1));
  EXPECT_NE(RandomBytes(64, 1), RandomBytes(64, 2));
  EXPECT_EQ(RandomBytes(13, 5).size(), 13u);
}

TEST(SupportTempDir, IsRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    path = dir.path();
    EXPECT_NE(path.find("tether-test-"), std::string::npos);
    ASSERT_EQ(mkdir(dir.Join("sub").c_str(), 0700), 0);
    ASSERT_TRUE(WriteFile(dir.Join("sub/file"), "content"));
    EXPECT_EQ(ReadFile(dir.Join("sub/file")), "content");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SupportSubprocess, ReportsExitCodeAndOutput) {
  std::string error;
  auto proc = Subprocess::Start({"sh", "-c", "echo out; echo err >&2; exit 3"}, {}, &error);
  ASSERT_TRUE(proc) << error;
  EXPECT_EQ(proc->WaitExit(seconds(5)), 3);
  EXPECT_EQ(proc->Stdout(), "out\n");
  EXPECT_EQ(proc->Stderr(), "err\n");
  EXPECT_FALSE(proc->Running());
}

TEST(SupportSubprocess, ReportsSignalAs128PlusN) {
  std::string error;
  auto proc = Subprocess::Start({"sleep", "30"}, {}, &error);
  ASSERT_TRUE(proc) << error;
  EXPECT_EQ(proc->WaitExit(milliseconds(50)), std::nullopt);
  proc->Signal(SIGTERM);
  EXPECT_EQ(proc->WaitExit(seconds(5)), 128 + SIGTERM);
  EXPECT_TRUE(WIFSIGNALED(proc->ExitStatusRaw()));
}

TEST(SupportSubprocess, SetsUnsetsAndClearsEnvironment) {
  SubprocessOptions opts;
  opts.env_set = {{"TETHER_FOO", "bar"}};
  opts.env_unset = {"HOME"};
  std::string error;
  auto proc = Subprocess::Start({"sh", "-c", "echo \"$TETHER_FOO:${HOME-unset}\""}, opts, &error);
  ASSERT_TRUE(proc) << error;
  EXPECT_EQ(proc->WaitExit(seconds(5)), 0);
  EXPECT_EQ(proc->Stdout(), "bar:unset\n");

  opts.clear_env = true;
  opts.env_set = {{"ONLY", "1"}};
  std::string out;
  ASSERT_TRUE(RunCommand({"/usr/bin/env"}, opts, seconds(5), &out, &error)) << error;
  EXPECT_EQ(out, "ONLY=1\n");
}

TEST(SupportSubprocess, ChildStartsWithDefaultSignalsAndOnlyStdFds) {
  // Block and ignore signals here, and leak an fd, as a careless test binary might.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  auto old_pipe = signal(SIGPIPE, SIG_IGN);
  int leaked = dup(1);  // No CLOEXEC.

  std::string error;
  auto status = Subprocess::Start({"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}, {}, &error);
  auto fds = Subprocess::Start({"ls", "/proc/self/fd"}, {}, &error);

  close(leaked);
  signal(SIGPIPE, old_pipe);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_TRUE(status && fds) << error;
  ASSERT_EQ(status->WaitExit(seconds(5)), 0);
  EXPECT_EQ(status->Stdout(), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  ASSERT_EQ(fds->WaitExit(seconds(5)), 0);
  EXPECT_EQ(fds->Stdout(), "0\n1\n2\n3\n");  // 3 is ls's own handle on /proc/self/fd.
}

TEST(SupportSubprocess, MissingProgramOrDirectoryIsAnError) {
  std::string error;
  EXPECT_FALSE(Subprocess::Start({"tether-no-such-program"}, {}, &error));
  EXPECT_NE(error.find("not found"), std::string::npos) << error;
  SubprocessOptions opts;
  opts.cwd = "/nonexistent-tether-dir";
  EXPECT_FALSE(Subprocess::Start({"true"}, opts, &error));
  EXPECT_NE(error.find("chdir"), std::string::npos) << error;
}

TEST(SupportSubprocess, DestructorKillsAndReapsItsGroup) {
  TempDir dir;
  SubprocessOptions opts;
  opts.new_session = true;
  opts.cwd = dir.path();
  std::string error;
  auto proc = Subprocess::Start({"sh", "-c", "sleep 30 & echo $! > bg; wait"}, opts, &error);
  ASSERT_TRUE(proc) << error;
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(dir.Join("bg")).size() > 1; }, seconds(5)));
  pid_t leader = proc->pid();
  pid_t background = std::stoi(ReadFile(dir.Join("bg")));
  EXPECT_FALSE(ProcessGone(background));
  proc.reset();
  EXPECT_TRUE(ProcessGone(leader));
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(background); }, seconds(5)));
}

TEST(SupportNet, PortStatesFollowListeners) {
  uint16_t port = FreeTcpPort();
  ASSERT_NE(port, 0);
  EXPECT_TRUE(PortIsFree(port));
  EXPECT_FALSE(PortAccepts(port));
  std::string error;
  UniqueFd listener = ListenTcp("127.0.0.1", port, &error);
  ASSERT_TRUE(listener) << error;
  EXPECT_FALSE(PortIsFree(port));
  EXPECT_TRUE(PortAccepts(port));
  listener.Reset();
  EXPECT_TRUE(PortIsFree(port));
}

TEST(SupportTcpServer, EchoesOneMebibyteAndPreservesHalfClose) {
  TcpServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  UniqueFd fd = MustConnect(server.port());
  ASSERT_TRUE(fd);
  const std::string payload = RandomBytes(kMiB, 1);
  std::thread writer([&] {
    WriteAll(fd.get(), payload);
    shutdown(fd.get(), SHUT_WR);
  });
  std::string echoed = ReadUntilEof(fd.get(), 2 * kMiB);
  writer.join();
  EXPECT_EQ(echoed.size(), payload.size());
  EXPECT_EQ(Sha256Hex(echoed), Sha256Hex(payload));
  EXPECT_EQ(server.connections_accepted(), 1);
}

TEST(SupportTcpServer, GreetingComesFirst) {
  TcpServer server(TcpServer::kGreeting, "hello from service\n");
  ASSERT_TRUE(server.ok()) << server.error();
  UniqueFd fd = MustConnect(server.port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(WriteAll(fd.get(), "ping"));
  shutdown(fd.get(), SHUT_WR);
  EXPECT_EQ(ReadUntilEof(fd.get(), 1000), "hello from service\nping");
}

TEST(SupportTcpServer, HundredConcurrentConnectionsMoveOneMebibyteEach) {
  TcpServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  constexpr int kConnections = 100;
  std::vector<UniqueFd> fds;
  for (int i = 0; i < kConnections; ++i) fds.push_back(MustConnect(server.port()));
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back([&, i] {
      if (EchoInLockstep(fds[i].get(), RandomBytes(kMiB, i), 64 * 1024)) ++good;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), kConnections);
  EXPECT_EQ(server.connections_accepted(), kConnections);
  EXPECT_TRUE(server.ok());
}

TEST(SupportTcpServer, ListensOnIpv6LoopbackWhenAvailable) {
  TcpServer server(TcpServer::kEcho, "", "::1");
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback: " << server.error();
  std::string error;
  UniqueFd fd = ConnectTcp("[::1]", server.port(), &error);
  ASSERT_TRUE(fd) << error;
  ASSERT_TRUE(EchoInLockstep(fd.get(), "six", 3));
}

TEST(SupportFaultProxy, ForwardsPausesAndResumes) {
  TcpServer server;
  ASSERT_TRUE(server.ok());
  FaultProxy proxy(server.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  UniqueFd fd = MustConnect(proxy.port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(EchoInLockstep(fd.get(), RandomBytes(256 * 1024, 3), 16 * 1024));

  proxy.Pause();
  ASSERT_TRUE(WriteAll(fd.get(), "held"));
  EXPECT_FALSE(WaitReadable(fd.get(), milliseconds(300)));  // Blackhole: no echo, no EOF.
  proxy.Resume();
  char buf[4];
  ASSERT_TRUE(ReadExactly(fd.get(), buf, sizeof buf));
  EXPECT_EQ(std::string(buf, 4), "held");

  shutdown(fd.get(), SHUT_WR);  // Half-close passes through the proxy and back.
  EXPECT_EQ(ReadUntilEof(fd.get(), 10), "");
}

TEST(SupportFaultProxy, ResetAllAbortsWithRst) {
  TcpServer server;
  ASSERT_TRUE(server.ok());
  FaultProxy proxy(server.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  UniqueFd fd = MustConnect(proxy.port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(EchoInLockstep(fd.get(), "x", 1));
  proxy.ResetAll();
  char c;
  errno = 0;
  EXPECT_EQ(read(fd.get(), &c, 1), -1);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_TRUE(WaitUntil([&] { return server.active_connections() == 0; }, seconds(5)));

  UniqueFd again = MustConnect(proxy.port());  // Later connections work.
  ASSERT_TRUE(again);
  EXPECT_TRUE(EchoInLockstep(again.get(), "y", 1));
}

/// Starts `ssh -N -L local:127.0.0.1:target` against the fixture and waits until the local
/// port accepts. Returns nullptr (and *error with both logs) on failure.
std::unique_ptr<Subprocess> StartOpenSshForward(const SshdServer& sshd, uint16_t local,
                                                uint16_t target, std::string* error) {
  std::vector<std::string> argv = sshd.OpenSshClientArgs();
  argv.insert(argv.end(),
              {"-N", "-L", std::to_string(local) + ":127.0.0.1:" + std::to_string(target),
               sshd.user() + "@127.0.0.1"});
  auto ssh = Subprocess::Start(argv, sshd.ClientProcessOptions(), error);
  if (!ssh) return nullptr;
  WaitUntil([&] { return !ssh->Running() || PortAccepts(local); }, seconds(10));
  if (!ssh->Running() || !PortAccepts(local)) {
    *error = "ssh -L did not come up:\n" + ssh->Stderr() + "\n--- sshd ---\n" + sshd.sshd_log();
    return nullptr;
  }
  return ssh;
}

TEST(SupportSshd, OpenSshClientForwardsThroughFixture) {
  std::string error;
  auto sshd = SshdServer::Start(SshdConfig(), &error);
  ASSERT_TRUE(sshd) << error;
  TcpServer service(TcpServer::kGreeting, "hello from service\n");
  ASSERT_TRUE(service.ok());
  EXPECT_TRUE(sshd->ConnectionPids().empty());
  uint16_t local = FreeTcpPort();
  auto ssh = StartOpenSshForward(*sshd, local, service.port(), &error);
  ASSERT_TRUE(ssh) << error;

  UniqueFd fd = MustConnect(local);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(WriteAll(fd.get(), "p"));
  shutdown(fd.get(), SHUT_WR);
  EXPECT_EQ(ReadUntilEof(fd.get(), 100), "hello from service\np") << sshd->sshd_log();
  std::vector<pid_t> pids = sshd->ConnectionPids();
  EXPECT_FALSE(pids.empty());

  ssh->Signal(SIGKILL);
  EXPECT_EQ(ssh->WaitExit(seconds(5)), 128 + SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return sshd->ConnectionPids().empty(); }, seconds(5)));
  pid_t listener = sshd->sshd_pid();
  sshd.reset();
  EXPECT_TRUE(ProcessGone(listener));
  for (pid_t pid : pids) EXPECT_TRUE(ProcessGone(pid)) << pid;
}

TEST(SupportSshd, StoppedConnectionProcessesHangTheLink) {
  std::string error;
  auto sshd = SshdServer::Start(SshdConfig(), &error);
  ASSERT_TRUE(sshd) << error;
  TcpServer service;
  ASSERT_TRUE(service.ok());
  uint16_t local = FreeTcpPort();
  auto ssh = StartOpenSshForward(*sshd, local, service.port(), &error);
  ASSERT_TRUE(ssh) << error;
  UniqueFd fd = MustConnect(local);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(EchoInLockstep(fd.get(), "before", 6));

  EXPECT_GT(sshd->SignalConnections(SIGSTOP), 0);
  ASSERT_TRUE(WriteAll(fd.get(), "during"));
  EXPECT_FALSE(WaitReadable(fd.get(), milliseconds(300)));
  sshd->SignalConnections(SIGCONT);
  char buf[6];
  ASSERT_TRUE(ReadExactly(fd.get(), buf, sizeof buf));
  EXPECT_EQ(std::string(buf, sizeof buf), "during");
}

TEST(SupportSshd, StopKillsConnectionProcessesAndExtraConfigOverrides) {
  SshdConfig cfg;
  cfg.extra_config = {"MaxStartups 5", "ClientAliveInterval 1"};
  std::string error;
  auto sshd = SshdServer::Start(cfg, &error);
  ASSERT_TRUE(sshd) << error;
  std::string config = ReadFile(sshd->config_path());
  EXPECT_NE(config.find("MaxStartups 5\n"), std::string::npos) << config;
  EXPECT_EQ(config.find("MaxStartups 200"), std::string::npos) << config;

  UniqueFd idle = MustConnect(sshd->port());  // A pre-auth connection process.
  ASSERT_TRUE(idle);
  ASSERT_TRUE(WaitUntil([&] { return !sshd->ConnectionPids().empty(); }, seconds(5)));
  std::vector<pid_t> pids = sshd->ConnectionPids();
  sshd->Stop();
  for (pid_t pid : pids) EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, seconds(2)));
  EXPECT_EQ(sshd->sshd_pid(), -1);
}

TEST(SupportSshAgent, AddedKeyIsListed) {
  std::string error;
  auto agent = SshAgent::Start(&error);
  ASSERT_TRUE(agent) << error;
  EXPECT_EQ(agent->KeyCount(), 0);
  TempDir keys;
  std::string pub = MakeUserKey(keys.Join("id_ecdsa"), "ecdsa", "");
  ASSERT_EQ(pub.rfind("ecdsa-sha2-nistp256 AAAA", 0), 0u) << pub;
  ASSERT_TRUE(agent->Add(keys.Join("id_ecdsa"), &error)) << error;
  EXPECT_EQ(agent->KeyCount(), 1);
  pid_t pid = agent->pid();
  agent.reset();
  EXPECT_TRUE(ProcessGone(pid));
}

}  // namespace
}  // namespace tether::testing
