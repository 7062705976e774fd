#include "support/tether_process.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <utility>

#include "support/net_util.h"
#include "support/temp_dir.h"

namespace tether::testing {
namespace {

using std::chrono::milliseconds;

// Fields 14 and 15 of /proc/PID/stat, counted from 1; the command name (field 2) may hold
// spaces and parentheses, so counting starts after its closing ')'.
constexpr int kFirstFieldAfterComm = 3;
constexpr int kUtimeField = 14;

/// The NUL-separated strings of a /proc/PID file (cmdline, environ); empty once it is gone.
std::vector<std::string> ProcStrings(pid_t pid, const char* file) {
  const std::string raw = ReadFile("/proc/" + std::to_string(pid) + "/" + file);
  std::vector<std::string> strings;
  std::istringstream in(raw);
  for (std::string item; std::getline(in, item, '\0');) strings.push_back(item);
  return strings;
}

std::string Describe(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t pid : pids) {
    text += "\n  " + std::to_string(pid) + ":";
    for (const std::string& arg : ProcStrings(pid, "cmdline")) text += " " + arg;
  }
  return text;
}

}  // namespace

std::vector<pid_t> TetherPidsOf(const SshdServer& sshd) {
  const std::string home = "HOME=" + sshd.home();
  std::vector<pid_t> found;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  while (dirent* entry = proc ? readdir(proc.get()) : nullptr) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    const std::vector<std::string> args = ProcStrings(pid, "cmdline");
    if (args.empty() || args[0] != TETHER_BINARY) continue;
    const std::vector<std::string> env = ProcStrings(pid, "environ");
    if (std::find(env.begin(), env.end(), home) != env.end()) found.push_back(pid);
  }
  return found;
}

void ExpectTunnelGone(const SshdServer& sshd, const std::vector<uint16_t>& ports,
                      const std::vector<pid_t>& still_running, milliseconds within) {
  std::vector<pid_t> left;
  auto nothing_left = [&] {
    left.clear();
    for (pid_t pid : TetherPidsOf(sshd)) {
      const bool expected =
          std::find(still_running.begin(), still_running.end(), pid) != still_running.end();
      if (!expected) left.push_back(pid);
    }
    return left.empty();
  };
  EXPECT_TRUE(WaitUntil(nothing_left, within)) << "tether processes left behind:" << Describe(left);
  for (uint16_t port : ports) {
    EXPECT_NE(port, 0) << "a forward that never got a port";
    if (port != 0) {
      EXPECT_TRUE(PortIsFree(port)) << "127.0.0.1:" << port << " still in use";
    }
  }
}

std::unique_ptr<Subprocess> StartTetherRaw(const SshdServer& sshd,
                                           const std::vector<std::string>& args,
                                           std::map<std::string, std::string> extra_env,
                                           std::string* error) {
  std::vector<std::string> argv = {TETHER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions opts = sshd.ClientProcessOptions();
  for (auto& [name, value] : extra_env) opts.env_set[name] = std::move(value);
  std::string ignored;
  return Subprocess::Start(argv, opts, error != nullptr ? error : &ignored);
}

std::vector<std::string> TetherArgs(const SshdServer& sshd, const std::vector<std::string>& args) {
  std::vector<std::string> full = {"-p", std::to_string(sshd.port()), "-i", sshd.user_key_path()};
  // The destination goes before "-- COMMAND", if there is one.
  auto command = std::find(args.begin(), args.end(), "--");
  full.insert(full.end(), args.begin(), command);
  full.push_back(sshd.user() + "@127.0.0.1");
  full.insert(full.end(), command, args.end());
  return full;
}

std::unique_ptr<Subprocess> StartTether(const SshdServer& sshd,
                                        const std::vector<std::string>& args,
                                        std::map<std::string, std::string> extra_env,
                                        std::string* error) {
  return StartTetherRaw(sshd, TetherArgs(sshd, args), std::move(extra_env), error);
}

bool WaitForPortAccepting(uint16_t port, milliseconds timeout) {
  return WaitUntil([port] { return PortAccepts(port); }, timeout);
}

bool WaitForLog(const Subprocess& process, const std::string& needle, milliseconds timeout) {
  return WaitUntil([&] { return process.Stderr().find(needle) != std::string::npos; }, timeout);
}

bool WaitForForwarding(Subprocess& tether, size_t forwards, milliseconds timeout) {
  auto ready = [&] { return ForwardedIpv4Ports(tether).size() >= forwards; };
  WaitUntil([&] { return ready() || !tether.Running(); }, timeout);
  return ready() && tether.Running();
}

std::vector<uint16_t> ForwardedIpv4Ports(const Subprocess& tether) {
  const std::string marker = std::string(kForwardingLogPrefix) + "127.0.0.1:";
  std::vector<uint16_t> ports;
  std::istringstream lines(tether.Stderr());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(marker, 0) != 0) continue;
    ports.push_back(static_cast<uint16_t>(std::atoi(line.c_str() + marker.size())));
  }
  return ports;
}

std::vector<uint16_t> RemoteForwardPorts(const std::string& log) {
  const std::string marker = "forwarding remote ";
  std::vector<uint16_t> ports;
  for (size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
    const size_t on = log.find(" on ", at);
    const size_t colon = on == std::string::npos ? on : log.rfind(':', on);
    if (colon == std::string::npos || colon < at) continue;
    ports.push_back(static_cast<uint16_t>(std::atoi(log.c_str() + colon + 1)));
  }
  return ports;
}

std::vector<uint16_t> WaitForRemoteForwarding(Subprocess& tether, size_t forwards,
                                              milliseconds timeout) {
  auto ready = [&] { return RemoteForwardPorts(tether.Stderr()).size() >= forwards; };
  WaitUntil([&] { return ready() || !tether.Running(); }, timeout);
  if (!ready() || !tether.Running()) return {};
  return RemoteForwardPorts(tether.Stderr());
}

std::vector<std::string> EventLines(const Subprocess& tether) {
  std::vector<std::string> lines;
  std::istringstream in(tether.Stderr());
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(kForwardingLogPrefix, 0) != 0) lines.push_back(line);
  }
  return lines;
}

std::optional<uint64_t> CpuTicks(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t comm_end = stat.rfind(')');
  if (comm_end == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(comm_end + 1));
  std::string field;
  for (int i = kFirstFieldAfterComm; i < kUtimeField; ++i) fields >> field;
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (!(fields >> utime >> stime)) return std::nullopt;
  return utime + stime;
}

int64_t RssKiB(pid_t pid) {
  std::istringstream status(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

int64_t HeapRssKiB(pid_t pid) {
  std::istringstream smaps(ReadFile("/proc/" + std::to_string(pid) + "/smaps"));
  bool in_heap = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.find(" [heap]") != std::string::npos) in_heap = true;
    if (in_heap && line.rfind("Rss:", 0) == 0) return std::strtoll(line.c_str() + 4, nullptr, 10);
  }
  return -1;
}

int FdCount(pid_t pid) {
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) count += entry->d_name[0] != '.' ? 1 : 0;
  closedir(dir);
  return count;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t CountOccurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

std::string Diagnostics(const Subprocess* tether, const SshdServer& sshd) {
  std::string out = "\n--- tether stderr ---\n";
  out += tether != nullptr ? tether->Stderr() : "(not started)";
  out += "\n--- sshd log ---\n" + sshd.sshd_log();
  return out;
}

}  // namespace tether::testing
