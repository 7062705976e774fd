// End to end: `tether list` and `tether stop` against real tunnels. Each test gets its own
// sshd fixture and with it its own XDG_RUNTIME_DIR, so the registry it sees holds only the
// tunnels it started (and tests can run in parallel). Every tunnel that ends is checked for
// exit code, process gone, port free and registry entry removed.

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <regex>
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
#include "tether/registry.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kArrow[] = "\u2192";
constexpr char kHeader[] = "PID  FORWARDS";

/// The output of one `tether list` / `tether stop` run.
struct AdminRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Names in a directory (without . and ..), sorted.
std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> names;
  std::unique_ptr<DIR, int (*)(DIR*)> listing(opendir(dir.c_str()), closedir);
  while (dirent* entry = listing ? readdir(listing.get()) : nullptr) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// Splits a table line into its cells: columns are separated by two spaces or more.
std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> cells;
  std::regex separator(" {2,}");
  for (std::sregex_token_iterator it(line.begin(), line.end(), separator, -1), end; it != end;
       ++it) {
    cells.push_back(*it);
  }
  return cells;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// The table row whose PID cell is `pid`, as cells; empty if none.
std::vector<std::string> RowOf(const std::string& table, pid_t pid) {
  for (const std::string& line : Lines(table)) {
    std::vector<std::string> cells = Cells(line);
    if (!cells.empty() && cells[0] == std::to_string(pid)) return cells;
  }
  return {};
}

/// E2EFixture, with the environment (XDG_RUNTIME_DIR) tunnels and admin runs share.
class ListStopE2E : public E2EFixture {
 protected:
  std::string MoreDiagnostics() const override {
    std::string names;
    for (const std::string& name : DirNames(RegistryDir())) names += name + " ";
    return "--- registry: " + names + "\n";
  }

  std::string RegistryDir() const { return RuntimeDir() + "/tether"; }
  std::string RuntimeDir() const {
    auto it = env_.find("XDG_RUNTIME_DIR");
    return it != env_.end() ? it->second : sshd_->runtime_dir();
  }

  /// Starts a tunnel with one "-L 0:echo" forward per entry of `forwards` (plus `extra`
  /// options) and waits until it serves; returns it, its ports in *ports.
  Subprocess* StartReady(size_t forwards, const std::vector<std::string>& extra,
                         std::vector<uint16_t>* ports,
                         const std::vector<std::string>& command = {}) {
    std::vector<std::string> args;
    for (size_t i = 0; i < forwards; ++i) args.insert(args.end(), {"-L", ToEcho()});
    args.insert(args.end(), extra.begin(), extra.end());
    if (!command.empty()) {
      args.push_back("--");
      args.insert(args.end(), command.begin(), command.end());
    }
    Subprocess* tether = Launch(args, env_);
    if (tether == nullptr) return nullptr;
    EXPECT_TRUE(WaitForForwarding(*tether, forwards, kReadyTimeout)) << tether->Stderr();
    *ports = ForwardedIpv4Ports(*tether);
    return tether;
  }

  /// Runs `tether ARGS...` (list or stop) in the same environment as the tunnels.
  AdminRun Admin(const std::vector<std::string>& args) {
    std::string error;
    AdminRun run;
    std::unique_ptr<Subprocess> process = StartTetherRaw(*sshd_, args, env_, &error);
    if (!process) {
      ADD_FAILURE() << error;
      return run;
    }
    run.exit_code = process->WaitExit(seconds(30)).value_or(-1);
    run.out = process->Stdout();
    run.err = process->Stderr();
    return run;
  }

  /// The entry and socket names a live tunnel `pid` has in the registry.
  std::vector<std::string> RegistryNamesOf(pid_t pid) const {
    std::vector<std::string> names;
    for (const std::string& name : DirNames(RegistryDir())) {
      if (name.rfind(std::to_string(pid) + "-", 0) == 0) names.push_back(name);
    }
    return names;
  }

  /// `tether list` shows exactly one tunnel, `tether`, with every column filled.
  void ExpectListsOnly(const Subprocess& tether) {
    AdminRun list = Admin({"list"});
    EXPECT_EQ(Lines(list.out).size(), 2u) << list.out;
    EXPECT_EQ(RowOf(list.out, tether.pid()).size(), 10u);
  }

  /// Exit 0 with the stop line in its log, gone, its ports free, out of the registry.
  void ExpectStoppedCleanly(Subprocess* tether, const std::vector<uint16_t>& ports,
                            const std::string& log_line) {
    EXPECT_EQ(tether->WaitExit(kExitTimeout), 0) << tether->Stderr();
    EXPECT_TRUE(Contains(tether->Stderr(), log_line)) << tether->Stderr();
    ExpectGone(*tether, ports);
  }

  /// Gone and its ports free (E2EFixture), and out of the registry.
  void ExpectGone(const Subprocess& tether, const std::vector<uint16_t>& ports) override {
    E2EFixture::ExpectGone(tether, ports);
    EXPECT_EQ(RegistryNamesOf(tether.pid()), std::vector<std::string>{});
  }

  std::map<std::string, std::string> env_;  ///< for tunnels and admin runs alike
};

/// Sends `text` through the tunnel on `port` and reads the echo; keeps the connection.
UniqueFd EchoThrough(uint16_t port, const std::string& text) {
  std::string error;
  UniqueFd fd = ConnectTcp("127.0.0.1", port, &error);
  std::string back(text.size(), '\0');
  if (!fd || !SetIoTimeout(fd.get(), kIoTimeout) || !WriteAll(fd.get(), text) ||
      !ReadExactly(fd.get(), back.data(), back.size()) || back != text) {
    ADD_FAILURE() << "no echo through port " << port << ": " << error;
    return UniqueFd();
  }
  return fd;
}

TEST_F(ListStopE2E, NothingRunningListsHeaderOnlyAndStopFindsNothing) {
  AdminRun list = Admin({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "PID  FORWARDS  DESTINATION  UP  TTL LEFT  TIED TO  CONNS  IN  OUT  STATE\n");
  AdminRun json = Admin({"list", "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, "[]\n");
  AdminRun stop = Admin({"stop", "all"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_EQ(stop.err, "tether: no running tunnel matches 'all'\n");
  EXPECT_EQ(stop.out, "");
}

TEST_F(ListStopE2E, ListShowsEachTunnelWithLiveFigures) {
  std::vector<uint16_t> ports_a, ports_b;
  Subprocess* a = StartReady(1, {}, &ports_a);
  Subprocess* b = StartReady(2, {"--ttl", "none"}, &ports_b);
  ASSERT_TRUE(a && b && ports_a.size() == 1 && ports_b.size() == 2);
  UniqueFd open = EchoThrough(ports_a[0], "hello, tunnel");  // 13 bytes each way, kept open
  ASSERT_TRUE(open);

  AdminRun list = Admin({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.err, "");
  std::vector<std::string> lines = Lines(list.out);
  ASSERT_EQ(lines.size(), 3u) << list.out;
  EXPECT_EQ(Cells(lines[0]),
            (std::vector<std::string>{"PID", "FORWARDS", "DESTINATION", "UP", "TTL LEFT", "TIED TO",
                                      "CONNS", "IN", "OUT", "STATE"}));
  const std::string target = "127.0.0.1:" + std::to_string(echo_.port());
  const std::string tied = std::to_string(getpid()) + " (tether_tests)";
  const std::string destination = sshd_->user() + "@127.0.0.1";

  std::vector<std::string> row_a = RowOf(list.out, a->pid());
  ASSERT_EQ(row_a.size(), 10u) << list.out;
  EXPECT_EQ(row_a[1], "127.0.0.1:" + std::to_string(ports_a[0]) + " " + kArrow + " " + target);
  EXPECT_EQ(row_a[2], destination);
  EXPECT_TRUE(std::regex_match(row_a[3], std::regex("[0-9]+s|1m[0-9]*s?"))) << row_a[3];
  EXPECT_TRUE(std::regex_match(row_a[4], std::regex("8h|7h5[89]m[0-9]*s?"))) << row_a[4];
  EXPECT_EQ(row_a[5], tied);
  EXPECT_EQ(row_a[6], "1");
  EXPECT_EQ(row_a[7], "13 B");
  EXPECT_EQ(row_a[8], "13 B");
  EXPECT_EQ(row_a[9], "up");

  std::vector<std::string> row_b = RowOf(list.out, b->pid());
  ASSERT_EQ(row_b.size(), 10u) << list.out;
  EXPECT_EQ(row_b[1], "127.0.0.1:" + std::to_string(ports_b[0]) + " " + kArrow + " " + target +
                          ", 127.0.0.1:" + std::to_string(ports_b[1]) + " " + kArrow + " " +
                          target);
  EXPECT_EQ(row_b[2], destination);
  EXPECT_EQ(row_b[4], "none");
  EXPECT_EQ(row_b[5], tied);
  EXPECT_EQ(row_b[6], "0");
  EXPECT_EQ(row_b[7], "0 B");
  EXPECT_EQ(row_b[8], "0 B");

  // The connection closes: the count drops, the bytes stay.
  open.Reset();
  ASSERT_TRUE(
      WaitUntil([&] { return RowOf(Admin({"list"}).out, a->pid()).at(6) == "0"; }, kExitTimeout));
  EXPECT_EQ(RowOf(Admin({"list"}).out, a->pid()).at(7), "13 B");

  a->Signal(SIGTERM);
  b->Signal(SIGTERM);
  ExpectStoppedCleanly(a, ports_a, "stopped by SIGTERM");
  ExpectStoppedCleanly(b, ports_b, "stopped by SIGTERM");
  // stderr is a file here, not a terminal: plain log lines, no status line.
  EXPECT_EQ(a->Stderr().find_first_of("\r\x1b"), std::string::npos) << a->Stderr();
}

TEST_F(ListStopE2E, JsonListHasTheSameFieldsForScripts) {
  std::vector<uint16_t> ports_a, ports_b;
  Subprocess* a = StartReady(1, {"--ttl", "2h"}, &ports_a);
  Subprocess* b = StartReady(1, {"--ttl", "none"}, &ports_b);
  ASSERT_TRUE(a && b && ports_a.size() == 1 && ports_b.size() == 1);
  UniqueFd open = EchoThrough(ports_a[0], "12345");
  ASSERT_TRUE(open);

  AdminRun json = Admin({"list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  std::vector<std::string> lines = Lines(json.out);
  ASSERT_EQ(lines.size(), 4u) << json.out;
  EXPECT_EQ(lines.front(), "[");
  EXPECT_EQ(lines.back(), "]");
  const std::regex object(
      R"x(  \{"pid": ([0-9]+), "forwards": \[\{"listen": "127\.0\.0\.1:([0-9]+)", "target": "127\.0\.0\.1:([0-9]+)", "port": ([0-9]+), "kind": "local"\}\], )x"
      R"x("destination": "127\.0\.0\.1", "user": "([^"]*)", "state": "up", "started": ([0-9]+), )x"
      R"x("up_seconds": ([0-9]+), "ttl_left_seconds": ([0-9]+|null), )x"
      R"x("tied_to": \{"pid": ([0-9]+), "command": "tether_tests"\}, )x"
      R"x("connections": ([0-9]+), "bytes_in": ([0-9]+), "bytes_out": ([0-9]+), "sessions": 1\},?)x");
  std::map<pid_t, std::smatch> by_pid;
  std::vector<std::smatch> matches(2);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(std::regex_match(lines[i + 1], matches[i], object)) << lines[i + 1];
    EXPECT_EQ(lines[i + 1].back() == ',', i == 0);
    by_pid[std::stoi(matches[i][1])] = matches[i];
  }
  ASSERT_EQ(by_pid.count(a->pid()), 1u);
  ASSERT_EQ(by_pid.count(b->pid()), 1u);
  const std::smatch& ja = by_pid[a->pid()];
  EXPECT_EQ(ja[2], std::to_string(ports_a[0]));
  EXPECT_EQ(ja[3], std::to_string(echo_.port()));
  EXPECT_EQ(ja[4], std::to_string(ports_a[0]));
  EXPECT_EQ(ja[5], sshd_->user());
  EXPECT_NEAR(std::stoll(ja[6]), static_cast<long long>(time(nullptr)), 60);
  EXPECT_LT(std::stoll(ja[7]), 60);
  EXPECT_GT(std::stoll(ja[8]), 7200 - 60);
  EXPECT_LE(std::stoll(ja[8]), 7200);
  EXPECT_EQ(ja[9], std::to_string(getpid()));
  EXPECT_EQ(ja[10], "1");
  EXPECT_EQ(ja[11], "5");
  EXPECT_EQ(ja[12], "5");
  const std::smatch& jb = by_pid[b->pid()];
  EXPECT_EQ(jb[2], std::to_string(ports_b[0]));
  EXPECT_EQ(jb[8], "null");
  EXPECT_EQ(jb[10], "0");
  EXPECT_EQ(jb[11], "0");
  EXPECT_EQ(jb[12], "0");

  a->Signal(SIGTERM);
  b->Signal(SIGTERM);
  ExpectStoppedCleanly(a, ports_a, "stopped by SIGTERM");
  ExpectStoppedCleanly(b, ports_b, "stopped by SIGTERM");
}

TEST_F(ListStopE2E, StopByPortThenByPidStopsOnlyTheMatchingTunnel) {
  std::vector<uint16_t> ports_a, ports_b, ports_c;
  Subprocess* a = StartReady(1, {}, &ports_a);
  Subprocess* b = StartReady(2, {}, &ports_b);
  Subprocess* c = StartReady(1, {}, &ports_c);
  ASSERT_TRUE(a && b && c && ports_a.size() == 1 && ports_b.size() == 2 && ports_c.size() == 1);

  // The second forward's port names its tunnel as well as the first one's.
  AdminRun stop = Admin({"stop", ":" + std::to_string(ports_b[1])});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_TRUE(Contains(stop.out, "stopped " + std::to_string(b->pid()) +
                                     " (127.0.0.1:" + std::to_string(ports_b[0])))
      << stop.out;
  EXPECT_EQ(stop.err, "");
  // `tether stop` returns once the tunnel has ended.
  EXPECT_TRUE(ProcessGone(b->pid()));
  ExpectStoppedCleanly(b, ports_b, "stopped by tether stop (pid ");
  EXPECT_TRUE(a->Running());
  EXPECT_TRUE(c->Running());

  stop = Admin({"stop", std::to_string(a->pid())});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_TRUE(Contains(stop.out, "stopped " + std::to_string(a->pid()))) << stop.out;
  ExpectStoppedCleanly(a, ports_a, "stopped by tether stop (pid ");
  EXPECT_TRUE(c->Running());
  EXPECT_TRUE(EchoThrough(ports_c[0], "still here"));

  AdminRun again = Admin({"stop", ":" + std::to_string(ports_a[0])});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "tether: no running tunnel matches ':" + std::to_string(ports_a[0]) + "'\n");
  ExpectListsOnly(*c);

  c->Signal(SIGTERM);
  ExpectStoppedCleanly(c, ports_c, "stopped by SIGTERM");
}

TEST_F(ListStopE2E, StopAllStopsEveryTunnelCommandModeIncluded) {
  std::vector<uint16_t> ports_a, ports_b, ports_c;
  Subprocess* a = StartReady(1, {}, &ports_a);
  Subprocess* b = StartReady(1, {"--ttl", "none"}, &ports_b);
  Subprocess* c = StartReady(1, {}, &ports_c, {"sleep", "60"});
  ASSERT_TRUE(a && b && c);

  AdminRun stop = Admin({"stop", "all"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(Lines(stop.out).size(), 3u) << stop.out;
  ExpectStoppedCleanly(a, ports_a, "stopped by tether stop (pid ");
  ExpectStoppedCleanly(b, ports_b, "stopped by tether stop (pid ");
  ExpectStoppedCleanly(c, ports_c, "stopped by tether stop (pid ");
  EXPECT_EQ(DirNames(RegistryDir()), std::vector<std::string>{});
  EXPECT_EQ(Admin({"list", "--json"}).out, "[]\n");
}

TEST_F(ListStopE2E, EntryOfSigkilledTunnelIsPrunedByTheNextTether) {
  std::vector<uint16_t> ports_a, ports_b;
  Subprocess* a = StartReady(1, {}, &ports_a);
  ASSERT_TRUE(a);
  const std::vector<std::string> stale = RegistryNamesOf(a->pid());
  ASSERT_EQ(stale.size(), 2u);  // entry and control socket
  a->Signal(SIGKILL);
  ASSERT_TRUE(a->WaitExit(kExitTimeout));
  EXPECT_EQ(RegistryNamesOf(a->pid()), stale);  // nobody could remove them

  Subprocess* b = StartReady(1, {}, &ports_b);
  ASSERT_TRUE(b);
  EXPECT_EQ(RegistryNamesOf(a->pid()), std::vector<std::string>{});
  ExpectListsOnly(*b);
  b->Signal(SIGTERM);
  ExpectStoppedCleanly(b, ports_b, "stopped by SIGTERM");
}

TEST_F(ListStopE2E, StaleEntryIsPrunedByListToo) {
  std::vector<uint16_t> ports;
  Subprocess* a = StartReady(1, {}, &ports);
  ASSERT_TRUE(a);
  a->Signal(SIGKILL);
  ASSERT_TRUE(a->WaitExit(kExitTimeout));
  ASSERT_EQ(RegistryNamesOf(a->pid()).size(), 2u);
  AdminRun list = Admin({"list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(Lines(list.out).size(), 1u) << list.out;
  EXPECT_EQ(RegistryNamesOf(a->pid()), std::vector<std::string>{});
  EXPECT_TRUE(PortIsFree(ports[0]));
}

bool SomeoneConnected(int listen_fd) {
  UniqueFd peer(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
  return peer.valid();
}

TEST_F(ListStopE2E, ReusedPidIsNeverContactedNorSignalledAndItsEntryIsPruned) {
  // A live process of this user that is not the tunnel the entry speaks of: same pid,
  // another start time, as when a dead tunnel's pid has been handed out again.
  std::string error;
  std::unique_ptr<Subprocess> sleeper = Subprocess::Start({"sleep", "60"}, {}, &error);
  ASSERT_TRUE(sleeper) << error;
  std::optional<uint64_t> ticks = ProcessStartTicks(sleeper->pid());
  ASSERT_TRUE(ticks);
  ASSERT_EQ(mkdir(RegistryDir().c_str(), 0700), 0);
  RegistryEntry entry;
  entry.pid = sleeper->pid();
  entry.start_ticks = *ticks + 1;
  entry.started_unix = time(nullptr);
  entry.forwards = {{"127.0.0.1:1", "x:1", 1}};
  entry.destination = "old";
  const std::string entry_path = EntryPath(RegistryDir(), entry.pid, entry.start_ticks);
  const std::string socket_path = ControlSocketPath(RegistryDir(), entry.pid, entry.start_ticks);
  ASSERT_TRUE(WriteFile(entry_path, FormatRegistryEntry(entry)));
  UniqueFd listener = ListenUnix(socket_path);
  ASSERT_TRUE(listener);

  AdminRun stop = Admin({"stop", std::to_string(sleeper->pid())});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_EQ(stop.err,
            "tether: no running tunnel matches '" + std::to_string(sleeper->pid()) + "'\n");
  EXPECT_FALSE(SomeoneConnected(listener.get()));
  EXPECT_TRUE(sleeper->Running());
  EXPECT_EQ(DirNames(RegistryDir()), std::vector<std::string>{});

  ASSERT_TRUE(WriteFile(entry_path, FormatRegistryEntry(entry)));
  AdminRun list = Admin({"list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(Lines(list.out).size(), 1u) << list.out;
  EXPECT_FALSE(SomeoneConnected(listener.get()));
  EXPECT_TRUE(sleeper->Running());
  EXPECT_EQ(DirNames(RegistryDir()), std::vector<std::string>{});
}

TEST_F(ListStopE2E, ControlSocketServedByAnotherProcessGetsNoRequest) {
  // The entry's pid and start time are right, but the socket is someone else's: SO_PEERCRED
  // names the test, not the entry's process, so nothing is sent.
  std::string error;
  std::unique_ptr<Subprocess> sleeper = Subprocess::Start({"sleep", "60"}, {}, &error);
  ASSERT_TRUE(sleeper) << error;
  ASSERT_EQ(mkdir(RegistryDir().c_str(), 0700), 0);
  RegistryEntry entry;
  entry.pid = sleeper->pid();
  entry.start_ticks = *ProcessStartTicks(sleeper->pid());
  entry.forwards = {{"127.0.0.1:1", "x:1", 1}};
  ASSERT_TRUE(WriteFile(EntryPath(RegistryDir(), entry.pid, entry.start_ticks),
                        FormatRegistryEntry(entry)));
  UniqueFd listener = ListenUnix(ControlSocketPath(RegistryDir(), entry.pid, entry.start_ticks));
  ASSERT_TRUE(listener);

  AdminRun stop = Admin({"stop", "all"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_TRUE(Contains(stop.err, "belongs to pid " + std::to_string(getpid()))) << stop.err;
  UniqueFd peer(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer);
  ASSERT_TRUE(SetIoTimeout(peer.get(), kIoTimeout));
  EXPECT_EQ(ReadUntilEof(peer.get(), 100), "");  // not a byte of request
  EXPECT_TRUE(sleeper->Running());
}

TEST_F(ListStopE2E, GroupWritableRegistryDirIsRefusedAndTheTunnelStillWorks) {
  TempDir runtime;
  env_["XDG_RUNTIME_DIR"] = runtime.path();
  ASSERT_EQ(mkdir(RegistryDir().c_str(), 0700), 0);
  ASSERT_EQ(chmod(RegistryDir().c_str(), 0777), 0);
  std::vector<uint16_t> ports;
  Subprocess* tether = StartReady(1, {}, &ports);
  ASSERT_TRUE(tether && ports.size() == 1);
  EXPECT_TRUE(Contains(tether->Stderr(),
                       "tether: registry directory " + RegistryDir() +
                           " refused: writable by others (mode 0777); this tunnel will not be "
                           "listed by tether list\n"))
      << tether->Stderr();
  EXPECT_TRUE(EchoThrough(ports[0], "works anyway"));
  EXPECT_EQ(DirNames(RegistryDir()), std::vector<std::string>{});

  AdminRun list = Admin({"list"});
  EXPECT_EQ(list.exit_code, 1);
  EXPECT_EQ(list.err, "tether: registry directory " + RegistryDir() +
                          " refused: writable by others (mode 0777)\n");
  tether->Signal(SIGTERM);
  ExpectStoppedCleanly(tether, ports, "stopped by SIGTERM");
}

TEST_F(ListStopE2E, AnotherUsersRegistryDirIsRefused) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to hand a directory to another uid (nobody); running as uid "
                 << geteuid();
  }
  TempDir runtime;
  env_["XDG_RUNTIME_DIR"] = runtime.path();
  ASSERT_EQ(mkdir(RegistryDir().c_str(), 0700), 0);
  ASSERT_EQ(chown(RegistryDir().c_str(), 65534, 65534), 0);
  std::vector<uint16_t> ports;
  Subprocess* tether = StartReady(1, {}, &ports);
  ASSERT_TRUE(tether && ports.size() == 1);
  EXPECT_TRUE(Contains(tether->Stderr(), "refused: owned by uid 65534, not by this user"))
      << tether->Stderr();
  EXPECT_TRUE(EchoThrough(ports[0], "works anyway"));
  EXPECT_EQ(DirNames(RegistryDir()), std::vector<std::string>{});
  EXPECT_EQ(Admin({"list"}).exit_code, 1);
  tether->Signal(SIGTERM);
  ExpectStoppedCleanly(tether, ports, "stopped by SIGTERM");
}

TEST_F(ListStopE2E, RegistryDirIsCreated0700AndControlSocket0600) {
  TempDir runtime;
  env_["XDG_RUNTIME_DIR"] = runtime.path();
  std::vector<uint16_t> ports;
  Subprocess* tether = StartReady(1, {}, &ports);
  ASSERT_TRUE(tether);
  struct stat st {};
  ASSERT_EQ(stat(RegistryDir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  std::vector<std::string> names = RegistryNamesOf(tether->pid());
  ASSERT_EQ(names.size(), 2u);
  for (const std::string& name : names) {
    ASSERT_EQ(lstat((RegistryDir() + "/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << name;
    EXPECT_EQ(S_ISSOCK(st.st_mode), name.size() > 5 && name.substr(name.size() - 5) == ".sock");
  }
  tether->Signal(SIGTERM);
  ExpectStoppedCleanly(tether, ports, "stopped by SIGTERM");
}

/// Every way a tunnel ends removes its registry entry and socket.
struct ExitPathCase {
  std::string name;
  std::vector<std::string> extra;    ///< options
  std::vector<std::string> command;  ///< -- COMMAND
  int signal = 0;                    ///< sent once it serves; 0 = none
  bool kill_server = false;
  int exit_code = 0;
  std::string log_line;
};

class ListStopExitPathE2E : public ListStopE2E,
                            public ::testing::WithParamInterface<ExitPathCase> {};

TEST_P(ListStopExitPathE2E, RemovesTheEntry) {
  const ExitPathCase& c = GetParam();
  std::vector<uint16_t> ports;
  Subprocess* tether = StartReady(1, c.extra, &ports, c.command);
  ASSERT_TRUE(tether);
  EXPECT_EQ(RegistryNamesOf(tether->pid()).size(), 2u);
  if (c.signal != 0) tether->Signal(c.signal);
  if (c.kill_server) sshd_->SignalConnections(SIGKILL);
  EXPECT_EQ(tether->WaitExit(kExitTimeout), c.exit_code) << tether->Stderr();
  EXPECT_TRUE(Contains(tether->Stderr(), c.log_line)) << tether->Stderr();
  ExpectGone(*tether, ports);
  EXPECT_EQ(DirNames(RegistryDir()), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(
    ListStop, ListStopExitPathE2E,
    ::testing::Values(
        ExitPathCase{"Sigterm", {}, {}, SIGTERM, false, 0, "stopped by SIGTERM"},
        ExitPathCase{"Sigint", {}, {}, SIGINT, false, 0, "stopped by SIGINT"},
        ExitPathCase{"Sighup", {}, {}, SIGHUP, false, 0, "stopped by SIGHUP"},
        ExitPathCase{"Ttl", {"--ttl", "3s"}, {}, 0, false, 0, "TTL of 3s reached"},
        ExitPathCase{"Idle", {"--idle-timeout", "3s"}, {}, 0, false, 0, "idle for 3s"},
        ExitPathCase{"CommandExit", {}, {"sh", "-c", "sleep 3; exit 3"}, 0, false, 3, ""},
        ExitPathCase{"ServerLost", {}, {}, 0, true, 74, "lost"}),
    [](const ::testing::TestParamInfo<ExitPathCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace tether::testing
