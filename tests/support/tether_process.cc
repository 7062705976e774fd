#include "support/tether_process.h"

#include <dirent.h>

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

}  // namespace

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
