#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/sshd_fixture.h"
#include "support/subprocess.h"
#include "support/timeouts.h"

namespace tether::testing {

/// The line tether logs per listener once the session is up and the listeners serve:
/// "tether: forwarding 127.0.0.1:PORT -> ...". Listeners are bound before the SSH
/// connection, so an accepting port alone does not mean the tunnel is ready.
inline constexpr char kForwardingLogPrefix[] = "tether: forwarding ";

/// Runs the tether binary under test (TETHER_BINARY) with exactly `args` after argv[0], in
/// the client environment of `sshd` (HOME with its key and known_hosts, a private
/// XDG_RUNTIME_DIR, no agent) plus `extra_env`. For tests that need full control of the
/// command line. Returns nullptr and sets *error (when given) if it cannot be started.
std::unique_ptr<Subprocess> StartTetherRaw(const SshdServer& sshd,
                                           const std::vector<std::string>& args,
                                           std::map<std::string, std::string> extra_env = {},
                                           std::string* error = nullptr);

/// `-p <sshd port> -i <user key> ARGS... <user>@127.0.0.1`, the destination placed before
/// a "-- COMMAND" in `args` if there is one: everything after argv[0] of StartTether.
std::vector<std::string> TetherArgs(const SshdServer& sshd, const std::vector<std::string>& args);

/// Runs `tether TetherArgs(sshd, args)...`: the ordinary way a test points tether at the
/// fixture, with `args` holding the -L specs and other options (and maybe -- COMMAND).
std::unique_ptr<Subprocess> StartTether(const SshdServer& sshd,
                                        const std::vector<std::string>& args,
                                        std::map<std::string, std::string> extra_env = {},
                                        std::string* error = nullptr);

/// Running processes of the tether binary under test that were started in `sshd`'s client
/// environment (HOME=sshd.home() in /proc/PID/environ), wherever they went since: a -f
/// background, a tether that a shell or `script` started. Tests running beside this one
/// (another sshd, another HOME) never show up; an exited, unreaped tether does not either.
std::vector<pid_t> TetherPidsOf(const SshdServer& sshd);

/// The one "tunnel is gone" check: within `within`, no tether process of `sshd`'s client
/// environment runs but those in `still_running` (a test's other tunnels), a surviving -f
/// background included; then each of `ports` can be bound again at once on 127.0.0.1.
void ExpectTunnelGone(const SshdServer& sshd, const std::vector<uint16_t>& ports,
                      const std::vector<pid_t>& still_running = {},
                      std::chrono::milliseconds within = kGoneWithin);

/// Polls until a TCP connect to 127.0.0.1:`port` succeeds, or `timeout` passes.
bool WaitForPortAccepting(uint16_t port, std::chrono::milliseconds timeout);

/// Polls the process's stderr until it contains `needle`, or `timeout` passes.
bool WaitForLog(const Subprocess& process, const std::string& needle,
                std::chrono::milliseconds timeout);

/// Waits until tether has logged the forwarding line of its first `forwards` IPv4
/// listeners (it then serves them), giving up early when it exits. True when it logged them
/// and still runs.
bool WaitForForwarding(Subprocess& tether, size_t forwards, std::chrono::milliseconds timeout);

/// The local IPv4 ports of tether's forwarding lines, in the order of its -L options:
/// how a test learns which port a "-L 0:..." forward got.
std::vector<uint16_t> ForwardedIpv4Ports(const Subprocess& tether);

/// The server's ports of the "forwarding remote HOST:PORT on ..." lines in `log` (tether's
/// stderr or an -E file), in -R order: how a test learns the port a "-R 0:..." forward got.
std::vector<uint16_t> RemoteForwardPorts(const std::string& log);

/// Waits until tether's stderr shows `forwards` remote forwarding lines, giving up early when
/// it exits; their ports, or {} when it did not get there.
std::vector<uint16_t> WaitForRemoteForwarding(Subprocess& tether, size_t forwards,
                                              std::chrono::milliseconds timeout);

/// tether's log lines other than the forwarding lines: the events a test looks for.
std::vector<std::string> EventLines(const Subprocess& tether);

/// CPU time (user + system) `pid` has used so far, in clock ticks from /proc/PID/stat;
/// nullopt when it cannot be read.
std::optional<uint64_t> CpuTicks(pid_t pid);

/// VmRSS of `pid` in KiB (/proc/PID/status), or -1.
int64_t RssKiB(pid_t pid);

/// Rss of `pid`'s brk heap ([heap] in /proc/PID/smaps) in KiB, or -1: shows whether memory
/// a process keeps sits in malloc's main arena.
int64_t HeapRssKiB(pid_t pid);

/// Open file descriptors of `pid` (entries of /proc/PID/fd), or -1.
int FdCount(pid_t pid);

/// Whether `part` occurs in `text` (a log, a message).
bool Contains(const std::string& text, const std::string& part);

/// How many times `needle` occurs in `text`: e.g. "Accepted publickey" in an sshd log counts
/// authenticated connections.
size_t CountOccurrences(const std::string& text, const std::string& needle);

/// tether's stderr and the sshd log, labelled: the context to print when an e2e test fails.
std::string Diagnostics(const Subprocess* tether, const SshdServer& sshd);

}  // namespace tether::testing
