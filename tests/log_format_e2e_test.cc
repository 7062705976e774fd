// --log-format json end to end: the tether binary against the real sshd, its log read back
// with a strict JSON reader, line by line and field by field, on stderr and in an -E file,
// for a working tunnel and for the failures scripts branch on.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/e2e_fixture.h"
#include "support/echo_server.h"
#include "support/json_reader.h"
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

/// Every line of `text` as a JSON object; a line that is not one fails the test.
std::vector<JsonValue> JsonLines(const std::string& text) {
  std::vector<JsonValue> events;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::string error;
    std::optional<JsonValue> event = ParseJsonObjectLine(line, &error);
    EXPECT_TRUE(event) << error << " in line: " << line;
    if (event) events.push_back(std::move(*event));
  }
  return events;
}

/// The first event named `name` at or after `*from`; moves *from past it. nullptr if none.
const JsonValue* NextEvent(const std::vector<JsonValue>& events, const std::string& name,
                           size_t* from) {
  for (size_t i = *from; i < events.size(); ++i) {
    const JsonValue* event = events[i].Find("event");
    if (event != nullptr && event->text == name) {
      *from = i + 1;
      return &events[i];
    }
  }
  return nullptr;
}

/// The text of member `key`, or "<missing KEY>" so that a comparison fails readably.
std::string Member(const JsonValue& event, const std::string& key) {
  const JsonValue* value = event.Find(key);
  return value != nullptr ? value->text : "<missing " + key + ">";
}

bool IsNumberMember(const JsonValue& event, const std::string& key) {
  const JsonValue* value = event.Find(key);
  return value != nullptr && value->IsNumber();
}

/// The port of the first forward_listening event in `text` whose forward is on 127.0.0.1.
uint16_t ListeningPort(const std::string& text) {
  std::istringstream in(text);
  const std::string prefix = "127.0.0.1:";
  for (std::string line; std::getline(in, line);) {
    std::string error;
    std::optional<JsonValue> event = ParseJsonObjectLine(line, &error);
    if (!event || Member(*event, "event") != "forward_listening") continue;
    const std::string forward = Member(*event, "forward");
    if (forward.rfind(prefix, 0) == 0)
      return static_cast<uint16_t>(std::stoi(forward.substr(prefix.size())));
  }
  return 0;
}

/// E2EFixture, with one tether at a time: tether_.
class LogFormatE2E : public E2EFixture {
 protected:
  /// Starts tether; waits until `log()` shows a listening forward; returns its port or 0.
  uint16_t StartReady(const std::vector<std::string>& args,
                      const std::function<std::string()>& log) {
    tether_ = Launch(args);
    if (!tether_) return 0;
    WaitUntil([&] { return ListeningPort(log()) != 0 || !tether_->Running(); }, kReadyTimeout);
    EXPECT_TRUE(tether_->Running()) << "tether exited " << tether_->exit_code().value_or(-1);
    return ListeningPort(log());
  }

  /// Sends `payload` through the forward on `port`, reads the echo, and closes.
  void EchoThrough(uint16_t port, const std::string& payload) {
    std::string error;
    UniqueFd client = ConnectTcp("127.0.0.1", port, &error);
    ASSERT_TRUE(client) << error;
    ASSERT_TRUE(SetIoTimeout(client.get(), seconds(5)));
    ASSERT_TRUE(WriteAll(client.get(), payload));
    shutdown(client.get(), SHUT_WR);
    EXPECT_EQ(ReadUntilEof(client.get(), payload.size() + 1), payload);
  }

  /// Members every event has: time, level, pid of this tether, event, message.
  void ExpectCommonMembers(const std::vector<JsonValue>& events) {
    static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    for (const JsonValue& event : events) {
      EXPECT_TRUE(std::regex_match(Member(event, "time"), kTime)) << Member(event, "time");
      EXPECT_TRUE(IsNumberMember(event, "pid"));
      EXPECT_EQ(Member(event, "pid"), std::to_string(tether_->pid()));
      EXPECT_FALSE(Member(event, "message").empty());
      const std::string level = Member(event, "level");
      EXPECT_TRUE(level == "debug" || level == "info" || level == "warning" || level == "error")
          << level;
    }
  }

  Subprocess* tether_ = nullptr;  ///< The last one started; owned by the fixture.
};

TEST_F(LogFormatE2E, JsonOnStderrDescribesTheWholeRun) {
  const uint16_t port = StartReady({"--log-format", "json", "-v", "-L", ToEcho()},
                                   [&] { return tether_ ? tether_->Stderr() : ""; });
  ASSERT_NE(port, 0);
  const std::string payload = "hello through json\n";
  EchoThrough(port, payload);
  ASSERT_TRUE(WaitForLog(*tether_, "\"event\":\"client_closed\"", kReadyTimeout));
  ExpectSigtermStops(tether_, {port});

  const std::vector<JsonValue> events = JsonLines(tether_->Stderr());
  ExpectCommonMembers(events);
  size_t at = 0;
  const JsonValue* connected = NextEvent(events, "connected", &at);
  const JsonValue* authenticated = NextEvent(events, "authenticated", &at);
  const JsonValue* listening = NextEvent(events, "forward_listening", &at);
  const JsonValue* accepted = NextEvent(events, "client_accepted", &at);
  const JsonValue* closed = NextEvent(events, "client_closed", &at);
  const JsonValue* stopping = NextEvent(events, "stopping", &at);
  ASSERT_TRUE(connected && authenticated && listening && accepted && closed && stopping)
      << "events missing or out of order:\n"
      << tether_->Stderr();
  const std::string server = sshd_->user() + "@127.0.0.1:" + std::to_string(sshd_->port());
  const std::string forward = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(Member(*connected, "host"), "127.0.0.1");
  EXPECT_EQ(Member(*connected, "port"), std::to_string(sshd_->port()));
  EXPECT_EQ(Member(*authenticated, "server"), server);
  EXPECT_EQ(Member(*listening, "level"), "info");
  EXPECT_EQ(Member(*listening, "forward"), forward);
  EXPECT_EQ(Member(*listening, "target"), "127.0.0.1:" + std::to_string(echo_.port()));
  EXPECT_EQ(Member(*listening, "server"), server);
  EXPECT_EQ(Member(*listening, "message"), "forwarding " + forward + " -> 127.0.0.1:" +
                                               std::to_string(echo_.port()) + " via " + server);
  EXPECT_EQ(Member(*accepted, "level"), "debug");
  EXPECT_EQ(Member(*accepted, "forward"), forward);
  EXPECT_EQ(Member(*accepted, "peer").rfind("127.0.0.1:", 0), 0u);
  EXPECT_TRUE(IsNumberMember(*accepted, "connection"));
  EXPECT_EQ(Member(*closed, "connection"), Member(*accepted, "connection"));
  EXPECT_EQ(Member(*closed, "peer"), Member(*accepted, "peer"));
  EXPECT_EQ(Member(*closed, "forward"), forward);
  EXPECT_EQ(Member(*closed, "bytes_out"), std::to_string(payload.size()));
  EXPECT_EQ(Member(*closed, "bytes_in"), std::to_string(payload.size()));
  EXPECT_TRUE(IsNumberMember(*closed, "bytes_out") && IsNumberMember(*closed, "bytes_in"));
  EXPECT_EQ(Member(*stopping, "level"), "info");
  EXPECT_EQ(Member(*stopping, "message"), "stopped by SIGTERM");
  EXPECT_EQ(Member(*stopping, "exit_code"), "0");
  EXPECT_EQ(&events.back(), stopping) << "the reason to stop is the last event";
}

TEST_F(LogFormatE2E, JsonAppendsToTheLogFile) {
  ASSERT_TRUE(WriteFile(LogPath(), "an earlier line\n"));
  const uint16_t port = StartReady({"--log-format=json", "-E", LogPath(), "-L", ToEcho()},
                                   [&] { return ReadFile(LogPath()); });
  ASSERT_NE(port, 0);
  ExpectSigtermStops(tether_, {port});
  EXPECT_EQ(tether_->Stderr(), "") << "with -E nothing goes to stderr";
  std::string log = ReadFile(LogPath());
  const std::string earlier = "an earlier line\n";
  ASSERT_EQ(log.rfind(earlier, 0), 0u) << "-E must append:\n" << log;
  const std::vector<JsonValue> events = JsonLines(log.substr(earlier.size()));
  ExpectCommonMembers(events);
  // Without -v: one line per listener (127.0.0.1, and [::1] where it exists), then the stop.
  ASSERT_GE(events.size(), 2u) << log;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(Member(events[i], "event"), "forward_listening");
  }
  EXPECT_EQ(Member(events.back(), "event"), "stopping");
}

TEST_F(LogFormatE2E, FailuresAreOneJsonEvent) {
  std::string error;
  UniqueFd holder = ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(holder) << error;
  const uint16_t busy = LocalPort(holder.get());
  tether_ = Launch({"--log-format", "json", "-L", ToEcho(std::to_string(busy))});
  ASSERT_TRUE(tether_);
  EXPECT_EQ(tether_->WaitExit(kExitTimeout), 73);
  std::vector<JsonValue> events = JsonLines(tether_->Stderr());
  ExpectCommonMembers(events);
  ASSERT_EQ(events.size(), 1u) << tether_->Stderr();
  EXPECT_EQ(Member(events[0], "event"), "listen_failed");
  EXPECT_EQ(Member(events[0], "level"), "error");
  EXPECT_EQ(Member(events[0], "exit_code"), "73");
  EXPECT_NE(Member(events[0], "message").find("127.0.0.1:" + std::to_string(busy)),
            std::string::npos);

  // A bad configuration file is reported before the tunnel starts, in JSON as well.
  const std::string config = scratch_.Join("ssh_config");
  ASSERT_TRUE(WriteFile(config, "Port notaport\n"));
  tether_ = Launch({"--log-format", "json", "-F", config, "-L", "0:a:1"});
  ASSERT_TRUE(tether_);
  EXPECT_EQ(tether_->WaitExit(kExitTimeout), 65);
  events = JsonLines(tether_->Stderr());
  ExpectCommonMembers(events);
  ASSERT_EQ(events.size(), 1u) << tether_->Stderr();
  EXPECT_EQ(Member(events[0], "event"), "config_error");
  EXPECT_EQ(Member(events[0], "exit_code"), "65");
}

TEST_F(LogFormatE2E, BadFormatIsAUsageError) {
  tether_ = Launch({"--log-format", "yaml", "-L", ToEcho()});
  ASSERT_TRUE(tether_);
  EXPECT_EQ(tether_->WaitExit(kExitTimeout), 64);
  EXPECT_EQ(tether_->Stderr(), "tether: --log-format: bad value 'yaml' (expected text or json)\n");
}

/// A datagram socket bound at `path`: a syslog of the test's own (what /dev/log is).
UniqueFd BindSyslogSocket(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (!fd || path.size() >= sizeof(address.sun_path)) return UniqueFd();
  path.copy(address.sun_path, path.size());
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return UniqueFd();
  }
  return fd;
}

/// argv that runs `command` in a private mount namespace whose /dev is a tmpfs holding the
/// usual devices and, as /dev/log, the socket at `syslog_socket`: the machine's /dev (and
/// its syslog) is never touched. `scratch` holds the namespace's view of the real /dev.
std::vector<std::string> WithOwnSyslog(const std::string& scratch, const std::string& syslog_socket,
                                       const std::vector<std::string>& command) {
  std::vector<std::string> argv = {
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      "set -e; old=\"$0/dev\"; mkdir -p \"$old\"; mount --bind /dev \"$old\"; "
      "mount -t tmpfs -o mode=0755 tmpfs /dev; "
      "for n in null zero full random urandom; do touch \"/dev/$n\"; "
      "mount --bind \"$old/$n\" \"/dev/$n\"; done; "
      "touch /dev/log; mount --bind \"$1\" /dev/log; shift; exec \"$@\"",
      scratch,
      syslog_socket};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

/// The JSON after "tether[PID]: " in a syslog datagram ("<30>Nov 25 22:40:01 tether[PID]:
/// {...}"), with PID in *pid.
std::optional<JsonValue> SyslogJson(const std::string& datagram, std::string* pid) {
  static const std::regex kHeader(R"(^<[0-9]+>.*? tether\[([0-9]+)\]: )");
  std::smatch match;
  if (!std::regex_search(datagram, match, kHeader)) return std::nullopt;
  *pid = match[1];
  std::string error;
  return ParseJsonObjectLine(datagram.substr(static_cast<size_t>(match.length(0))), &error);
}

// After -f has detached, with no -E, the log goes to syslog: still one JSON object per
// event, tagged with the background process's pid.
TEST_F(LogFormatE2E, AfterDashFJsonEventsGoToSyslog) {
  std::string why;
  if (!SshdServer::PrivateMountsUsable(&why)) GTEST_SKIP() << why;
  const std::string socket_path = scratch_.Join("syslog.sock");
  UniqueFd syslog = BindSyslogSocket(socket_path);
  ASSERT_TRUE(syslog) << socket_path;
  ASSERT_TRUE(SetIoTimeout(syslog.get(), seconds(10)));
  const uint16_t port = FreeTcpPort();
  std::vector<std::string> tether_argv = {TETHER_BINARY,
                                          "-f",
                                          "-v",
                                          "--log-format",
                                          "json",
                                          "-p",
                                          std::to_string(sshd_->port()),
                                          "-i",
                                          sshd_->user_key_path(),
                                          "-L",
                                          ToEcho(std::to_string(port)),
                                          sshd_->user() + "@127.0.0.1"};
  std::string error;
  std::unique_ptr<Subprocess> foreground =
      Subprocess::Start(WithOwnSyslog(scratch_.path(), socket_path, tether_argv),
                        sshd_->ClientProcessOptions(), &error);
  ASSERT_TRUE(foreground) << error;
  ASSERT_EQ(foreground->WaitExit(kReadyTimeout), 0) << foreground->Stderr();
  EchoThrough(port, "to the background");
  std::string output;
  ASSERT_TRUE(RunCommand({TETHER_BINARY, "stop", ":" + std::to_string(port)},
                         sshd_->ClientProcessOptions(), seconds(30), &output, &error))
      << error << output;

  std::vector<std::string> events;
  std::string daemon_pid;
  for (char buffer[8192];;) {
    const ssize_t n = recv(syslog.get(), buffer, sizeof(buffer), 0);
    ASSERT_GT(n, 0) << "syslog ended before the stopping event; got " << events.size();
    const std::string datagram(buffer, static_cast<size_t>(n));
    std::string pid;
    std::optional<JsonValue> event = SyslogJson(datagram, &pid);
    ASSERT_TRUE(event) << "not a tether JSON syslog line: " << datagram;
    EXPECT_EQ(Member(*event, "pid"), pid) << datagram;
    daemon_pid = pid;
    events.push_back(Member(*event, "event"));
    if (events.back() == "stopping") break;
  }
  EXPECT_NE(std::find(events.begin(), events.end(), "client_accepted"), events.end());
  EXPECT_EQ(std::find(events.begin(), events.end(), "forward_listening"), events.end())
      << "logged before -f let go of the terminal, so on stderr";
  EXPECT_NE(foreground->Stderr().find("\"forward_listening\""), std::string::npos)
      << foreground->Stderr();
  EXPECT_NE(daemon_pid, std::to_string(foreground->pid())) << "the background process logs";
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(std::stoi(daemon_pid)); }, kExitTimeout));
  EXPECT_TRUE(PortIsFree(port));
}

}  // namespace
}  // namespace tether::testing
