// tether-loadgen: the load generator behind bench/run.
//
//   tether-loadgen target PORT_FILE          serve the target protocol on 127.0.0.1:0 until killed
//   tether-loadgen freeport                  print a free loopback TCP port
//   tether-loadgen stream   PORT BYTES       1 stream, BYTES up then BYTES down
//   tether-loadgen parallel PORT STREAMS SECONDS
//   tether-loadgen short    PORT TOTAL CONCURRENCY SIZE
//   tether-loadgen pingpong PORT CONNS SIZE SECONDS
//   tether-loadgen hold     PORT CONNS SECONDS     RSS and round trips with 10 vs CONNS idle
//   tether-loadgen ready    PORT -- COMMAND...     time from exec to a byte echoed through PORT
//   tether-loadgen burst    PORT CONNS BURSTS GAP  CONNS connections at once, BURSTS times
//   tether-loadgen waitecho PORT             wait (20 s at most) until a byte echoes through PORT
//
// Options before the subcommand: --tunnel-pid PID (RSS and CPU of the tunnel process) and
// --sshd-pid PID (the listening sshd; CPU of its descendants is the tunnel's peer).
// Every client subcommand prints one line of key=value pairs on stdout.
//
// Target protocol (first byte of each connection):
//   'D' u64 n  the target sends n bytes, then closes
//   'U'        the target reads until EOF, then sends the u64 count and closes
//   'E'        the target echoes until EOF
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 256 * 1024;

pid_t g_tunnel_pid = 0;
pid_t g_sshd_pid = 0;

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "tether-loadgen: %s: %s\n", what.c_str(), strerror(errno));
  exit(1);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- sockets -------------------------------------------------------------------------

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int ConnectOrDie(uint16_t port) {
  int fd = Connect(port);
  if (fd < 0) Die("connect to port " + std::to_string(port));
  return fd;
}

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

int ListenLoopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 4096) != 0) {
    Die("bind/listen");
  }
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

void RaiseFdLimit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

// ---- /proc ---------------------------------------------------------------------------

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Fields after the command name of /proc/PID/stat: [0] is state (field 3).
std::vector<std::string> StatFields(pid_t pid) {
  std::string stat = ReadText("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  std::vector<std::string> out;
  if (paren == std::string::npos) return out;
  std::istringstream in(stat.substr(paren + 1));
  std::string field;
  while (in >> field) out.push_back(field);
  return out;
}

/// user+sys CPU seconds of one process.
double CpuSeconds(pid_t pid) {
  std::vector<std::string> f = StatFields(pid);
  if (f.size() < 13) return 0;
  double ticks = std::stod(f[11]) + std::stod(f[12]);  // utime, stime (fields 14, 15)
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::vector<pid_t> Descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  DIR* proc = opendir("/proc");
  while (const dirent* e = readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    pid_t pid = atoi(e->d_name);
    std::vector<std::string> f = StatFields(pid);
    if (f.size() > 1) children.emplace(std::stoi(f[1]), pid);
  }
  closedir(proc);
  std::vector<pid_t> out, frontier = {root};
  while (!frontier.empty()) {
    std::vector<pid_t> next;
    for (pid_t p : frontier) {
      auto [b, e] = children.equal_range(p);
      for (auto it = b; it != e; ++it) {
        out.push_back(it->second);
        next.push_back(it->second);
      }
    }
    frontier.swap(next);
  }
  return out;
}

struct CpuSample {
  double tunnel = 0;
  double peer = 0;
};

CpuSample SampleCpu() {
  CpuSample s;
  if (g_tunnel_pid > 0) s.tunnel = CpuSeconds(g_tunnel_pid);
  if (g_sshd_pid > 0) {
    for (pid_t p : Descendants(g_sshd_pid)) s.peer += CpuSeconds(p);
  }
  return s;
}

/// A "Name:  123 kB" field of a /proc file, or -1.
long ProcKiB(const std::string& path, const std::string& field) {
  std::istringstream in(ReadText(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

long RssKiB(pid_t pid) { return ProcKiB("/proc/" + std::to_string(pid) + "/status", "VmRSS"); }

// ---- output --------------------------------------------------------------------------

struct Result {
  std::vector<std::pair<std::string, double>> values;
  void Add(const std::string& key, double v) { values.emplace_back(key, v); }
  void Print() const {
    for (size_t i = 0; i < values.size(); ++i) {
      printf("%s%s=%.6g", i ? " " : "", values[i].first.c_str(), values[i].second);
    }
    printf("\n");
    fflush(stdout);
  }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---- target server -------------------------------------------------------------------

void ServeDownload(int fd) {
  uint64_t n;
  if (!ReadAll(fd, &n, sizeof(n))) return;
  std::vector<char> buf(kChunk, 'd');
  while (n > 0) {
    size_t k = std::min<uint64_t>(n, buf.size());
    if (!WriteAll(fd, buf.data(), k)) return;
    n -= k;
  }
}

void ServeUpload(int fd) {
  std::vector<char> buf(kChunk);
  uint64_t total = 0;
  for (;;) {
    ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return;
    if (r == 0) break;
    total += static_cast<uint64_t>(r);
  }
  WriteAll(fd, &total, sizeof(total));
}

void ServeEcho(int fd) {
  std::vector<char> buf(64 * 1024);
  for (;;) {
    ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || !WriteAll(fd, buf.data(), static_cast<size_t>(r))) return;
  }
}

void Serve(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  char command = 0;
  if (ReadAll(fd, &command, 1)) {
    if (command == 'D') ServeDownload(fd);
    if (command == 'U') ServeUpload(fd);
    if (command == 'E') ServeEcho(fd);
  }
  close(fd);
}

int RunTarget(const char* port_file) {
  RaiseFdLimit();
  uint16_t port = 0;
  int listener = ListenLoopback(&port);
  std::ofstream(port_file) << port << "\n";
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      Die("accept");
    }
    // Small stacks: a thousand idle echo connections must not cost gigabytes.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    auto* arg = new int(fd);
    if (pthread_create(
            &thread, &attr,
            [](void* p) -> void* {
              int cfd = *static_cast<int*>(p);
              delete static_cast<int*>(p);
              Serve(cfd);
              return nullptr;
            },
            arg) != 0) {
      delete arg;
      close(fd);
    }
    pthread_attr_destroy(&attr);
  }
}

int RunFreePort() {
  uint16_t port = 0;
  int fd = ListenLoopback(&port);
  close(fd);
  printf("%u\n", port);
  return 0;
}

// ---- scenario 1 and 7: one stream each way, CPU per GiB -------------------------------

double Upload(uint16_t port, uint64_t bytes) {
  int fd = ConnectOrDie(port);
  std::vector<char> buf(kChunk, 'u');
  auto start = Clock::now();
  buf[0] = 'U';
  if (!WriteAll(fd, buf.data(), 1)) Die("upload header");
  for (uint64_t left = bytes; left > 0;) {
    size_t k = std::min<uint64_t>(left, buf.size());
    if (!WriteAll(fd, buf.data(), k)) Die("upload");
    left -= k;
  }
  shutdown(fd, SHUT_WR);
  uint64_t echoed = 0;
  if (!ReadAll(fd, &echoed, sizeof(echoed)) || echoed != bytes) Die("upload count");
  double s = Seconds(Clock::now() - start);
  close(fd);
  return s;
}

double Download(uint16_t port, uint64_t bytes) {
  int fd = ConnectOrDie(port);
  std::vector<char> buf(kChunk);
  auto start = Clock::now();
  char header[9] = {'D'};
  memcpy(header + 1, &bytes, sizeof(bytes));
  if (!WriteAll(fd, header, sizeof(header))) Die("download header");
  uint64_t got = 0;
  for (;;) {
    ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<uint64_t>(r);
  }
  double s = Seconds(Clock::now() - start);
  if (got != bytes) Die("download short: " + std::to_string(got));
  close(fd);
  return s;
}

int RunStream(uint16_t port, uint64_t bytes) {
  CpuSample before = SampleCpu();
  double up = Upload(port, bytes);
  double down = Download(port, bytes);
  CpuSample after = SampleCpu();
  double gib = 2.0 * static_cast<double>(bytes) / (1024.0 * 1024 * 1024);
  Result r;
  r.Add("up_mbps", static_cast<double>(bytes) / up / 1e6);
  r.Add("down_mbps", static_cast<double>(bytes) / down / 1e6);
  r.Add("cpu_tunnel_per_gib", (after.tunnel - before.tunnel) / gib);
  r.Add("cpu_peer_per_gib", (after.peer - before.peer) / gib);
  r.Print();
  return 0;
}

// ---- scenario 2: parallel streams, aggregate and fairness ----------------------------

int RunParallel(uint16_t port, int streams, double seconds) {
  std::vector<int> fds;
  for (int i = 0; i < streams; ++i) {
    int fd = ConnectOrDie(port);
    char header[9] = {'D'};
    uint64_t endless = ~uint64_t{0} >> 1;
    memcpy(header + 1, &endless, sizeof(endless));
    if (!WriteAll(fd, header, sizeof(header))) Die("parallel header");
    fds.push_back(fd);
  }
  std::atomic<bool> counting{false}, stop{false};
  std::vector<std::atomic<uint64_t>> counts(static_cast<size_t>(streams));
  std::vector<std::thread> threads;
  for (int i = 0; i < streams; ++i) {
    threads.emplace_back([&, i] {
      std::vector<char> buf(64 * 1024);
      while (!stop) {
        ssize_t r = recv(fds[static_cast<size_t>(i)], buf.data(), buf.size(), 0);
        if (r <= 0) break;
        if (counting) counts[static_cast<size_t>(i)] += static_cast<uint64_t>(r);
      }
    });
  }
  // Count only once every stream is under way (tunnels open channels one at a time).
  auto warmup_start = Clock::now();
  auto warmup_end = warmup_start + std::chrono::seconds(30);
  counting = true;
  while (Clock::now() < warmup_end &&
         std::any_of(counts.begin(), counts.end(), [](auto& c) { return c == 0; })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  counting = false;
  double warmup = Seconds(Clock::now() - warmup_start);
  for (auto& c : counts) c = 0;
  auto start = Clock::now();
  counting = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  counting = false;
  double elapsed = Seconds(Clock::now() - start);
  stop = true;
  for (int fd : fds) shutdown(fd, SHUT_RDWR);
  for (auto& t : threads) t.join();
  for (int fd : fds) close(fd);
  uint64_t total = 0, lo = ~uint64_t{0}, hi = 0;
  for (auto& c : counts) {
    total += c;
    lo = std::min<uint64_t>(lo, c);
    hi = std::max<uint64_t>(hi, c);
  }
  Result r;
  r.Add("agg_mbps", static_cast<double>(total) / elapsed / 1e6);
  r.Add("fairness", hi == 0 ? 0 : static_cast<double>(lo) / static_cast<double>(hi));
  r.Add("all_flowing_s", warmup);
  r.Add("starved", static_cast<double>(std::count_if(counts.begin(), counts.end(),
                                                     [](auto& c) { return c == 0; })));
  r.Print();
  return 0;
}

// ---- scenario 3: short connections -----------------------------------------------------

int RunShort(uint16_t port, int total, int concurrency, size_t size) {
  std::atomic<int> next{0}, failures{0};
  std::mutex mu;
  std::vector<double> first_byte;
  auto worker = [&] {
    std::vector<char> request(size + 1, 'q'), reply(size);
    request[0] = 'E';  // the target echoes the `size` bytes after it
    std::vector<double> mine;
    while (next.fetch_add(1) < total) {
      auto start = Clock::now();
      int fd = Connect(port);
      if (fd < 0 || !WriteAll(fd, request.data(), request.size()) ||
          !ReadAll(fd, reply.data(), 1)) {
        ++failures;
        if (fd >= 0) close(fd);
        continue;
      }
      mine.push_back(Seconds(Clock::now() - start));
      if (!ReadAll(fd, reply.data() + 1, size - 1)) ++failures;
      close(fd);
    }
    std::lock_guard<std::mutex> lock(mu);
    first_byte.insert(first_byte.end(), mine.begin(), mine.end());
  };
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < concurrency; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  double elapsed = Seconds(Clock::now() - start);
  Result r;
  r.Add("conn_per_s", static_cast<double>(first_byte.size()) / elapsed);
  r.Add("fb_p50_ms", Percentile(first_byte, 0.5) * 1e3);
  r.Add("fb_p99_ms", Percentile(first_byte, 0.99) * 1e3);
  r.Add("failures", failures);
  r.Print();
  return 0;
}

// ---- scenario 4 and idle-cost: ping-pong over epoll --------------------------------------

/// Opens `n` echo connections and checks each carries a byte (so its channel is open).
std::vector<int> OpenEcho(uint16_t port, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = ConnectOrDie(port);
    char probe[2] = {'E', 'x'};
    if (!WriteAll(fd, probe, 2) || !ReadAll(fd, probe, 1))
      Die("echo connection " + std::to_string(i));
    fds.push_back(fd);
  }
  return fds;
}

/// Every fd sends `size` bytes, waits for them to come back, again, until `seconds` pass.
std::vector<double> PingPong(const std::vector<int>& fds, size_t size, double seconds) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Clock::time_point> sent(fds.size());
  std::vector<size_t> got(fds.size(), 0);
  std::vector<char> msg(size, 'p'), buf(size);
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{EPOLLIN, {.u64 = i}};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  std::vector<double> rtts;
  rtts.reserve(1 << 20);
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(seconds));
  for (size_t i = 0; i < fds.size(); ++i) {
    sent[i] = Clock::now();
    if (!WriteAll(fds[i], msg.data(), size)) Die("ping");
  }
  std::vector<epoll_event> events(fds.size());
  size_t outstanding = fds.size();
  while (outstanding > 0) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 5000);
    if (n == 0) Die("ping-pong stalled");
    bool more = Clock::now() < deadline;
    for (int k = 0; k < n; ++k) {
      size_t i = events[static_cast<size_t>(k)].data.u64;
      ssize_t r = recv(fds[i], buf.data(), size - got[i], 0);
      if (r <= 0) Die("pong");
      got[i] += static_cast<size_t>(r);
      if (got[i] < size) continue;
      got[i] = 0;
      auto now = Clock::now();
      rtts.push_back(Seconds(now - sent[i]));
      if (!more) {
        --outstanding;
        epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr);
        continue;
      }
      sent[i] = now;
      if (!WriteAll(fds[i], msg.data(), size)) Die("ping");
    }
  }
  close(ep);
  return rtts;
}

int RunPingPong(uint16_t port, int conns, size_t size, double seconds) {
  std::vector<int> fds = OpenEcho(port, conns);
  std::vector<double> rtts = PingPong(fds, size, seconds);
  for (int fd : fds) close(fd);
  Result r;
  r.Add("rtt_p50_ms", Percentile(rtts, 0.5) * 1e3);
  r.Add("rtt_p99_ms", Percentile(rtts, 0.99) * 1e3);
  r.Add("round_trips", static_cast<double>(rtts.size()));
  r.Print();
  return 0;
}

// ---- link scenario: a burst of connections at the same moment ----------------------------

/// Opens `n` echo connections at once, each sends one byte; the seconds from the start until
/// each got its echo, sorted (a connection that failed or took over 30 s counts as 1e9).
std::vector<double> Burst(uint16_t port, int n) {
  auto start = Clock::now();
  std::vector<pollfd> fds;
  for (int i = 0; i < n; ++i) {
    // A loopback connect to the tunnel's listener completes at once (its accept queue).
    int fd = Connect(port);
    char probe[2] = {'E', 'b'};
    if (fd >= 0 && !WriteAll(fd, probe, 2)) {
      close(fd);
      fd = -1;
    }
    fds.push_back({fd, POLLIN, 0});
  }
  std::vector<double> times(fds.size(), 1e9);
  auto deadline = start + std::chrono::seconds(30);
  for (size_t waiting = fds.size(); waiting > 0 && Clock::now() < deadline;) {
    if (poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) Die("poll");
    waiting = 0;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0) continue;
      if (fds[i].revents != 0) {
        char c = 0;
        if (recv(fds[i].fd, &c, 1, MSG_DONTWAIT) == 1) times[i] = Seconds(Clock::now() - start);
        close(fds[i].fd);
        fds[i].fd = -1;
        continue;
      }
      ++waiting;
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  std::sort(times.begin(), times.end());
  return times;
}

/// The first burst goes out at once (run it right after the tunnel is ready); the others
/// `gap` seconds apart. Reports the median and the last client of the first burst, and the
/// medians of the same two figures over the later bursts.
int RunBurst(uint16_t port, int conns, int bursts, double gap) {
  std::vector<double> p50, last;
  int failures = 0;
  for (int b = 0; b < bursts; ++b) {
    if (b > 0) std::this_thread::sleep_for(std::chrono::duration<double>(gap));
    std::vector<double> t = Burst(port, conns);
    failures += static_cast<int>(std::count(t.begin(), t.end(), 1e9));
    p50.push_back(Percentile(t, 0.5));
    last.push_back(t.back());
  }
  Result r;
  r.Add("first_p50_ms", p50[0] * 1e3);
  r.Add("first_last_ms", last[0] * 1e3);
  if (bursts > 1) {
    r.Add("later_p50_ms", Percentile({p50.begin() + 1, p50.end()}, 0.5) * 1e3);
    r.Add("later_last_ms", Percentile({last.begin() + 1, last.end()}, 0.5) * 1e3);
  }
  r.Add("failures", failures);
  r.Print();
  return 0;
}

// ---- scenario 6 and idle cost: RSS idle / at N connections, RTT with 10 vs N idle ------

int RunHold(uint16_t port, int conns, double seconds) {
  Result r;
  if (g_tunnel_pid > 0) {
    // VmRSS counts shared library pages (libcrypto alone is ~3.6 MB) that other processes
    // share; PSS and the process's own anonymous memory say what it adds.
    const std::string rollup = "/proc/" + std::to_string(g_tunnel_pid) + "/smaps_rollup";
    r.Add("rss_idle_kib", static_cast<double>(RssKiB(g_tunnel_pid)));
    r.Add("pss_idle_kib", static_cast<double>(ProcKiB(rollup, "Pss")));
    r.Add("anon_idle_kib", static_cast<double>(ProcKiB(rollup, "Anonymous")));
  }
  std::vector<int> active = OpenEcho(port, 1);
  std::vector<int> idle = OpenEcho(port, 10);
  // CPU per round trip of the tunnel process: unlike latency, hardly moved by other load.
  CpuSample cpu0 = SampleCpu();
  std::vector<double> few = PingPong(active, 64, seconds);
  CpuSample cpu1 = SampleCpu();
  std::vector<int> more = OpenEcho(port, conns - 10);
  idle.insert(idle.end(), more.begin(), more.end());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  if (g_tunnel_pid > 0) {
    r.Add("rss_conns_kib", static_cast<double>(RssKiB(g_tunnel_pid)));
    r.Add("anon_conns_kib",
          static_cast<double>(
              ProcKiB("/proc/" + std::to_string(g_tunnel_pid) + "/smaps_rollup", "Anonymous")));
  }
  CpuSample cpu2 = SampleCpu();
  std::vector<double> many = PingPong(active, 64, seconds);
  CpuSample cpu3 = SampleCpu();
  r.Add("rtt_idle10_p50_ms", Percentile(few, 0.5) * 1e3);
  r.Add("rtt_idle10_p99_ms", Percentile(few, 0.99) * 1e3);
  r.Add("rtt_idle_many_p50_ms", Percentile(many, 0.5) * 1e3);
  r.Add("rtt_idle_many_p99_ms", Percentile(many, 0.99) * 1e3);
  if (g_tunnel_pid > 0) {
    r.Add("cpu_us_per_rt_idle10",
          (cpu1.tunnel - cpu0.tunnel) / static_cast<double>(few.size()) * 1e6);
    r.Add("cpu_us_per_rt_idle_many",
          (cpu3.tunnel - cpu2.tunnel) / static_cast<double>(many.size()) * 1e6);
  }
  // Every one of the connections must still work.
  int broken = 0;
  for (int fd : idle) {
    char probe = 'y';
    if (!WriteAll(fd, &probe, 1) || !ReadAll(fd, &probe, 1)) ++broken;
  }
  r.Add("held", static_cast<double>(idle.size() + 1 - static_cast<size_t>(broken)));
  for (int fd : idle) close(fd);
  for (int fd : active) close(fd);
  r.Print();
  return 0;
}

// ---- scenario 5: time to ready -----------------------------------------------------------

bool EchoesByte(uint16_t port) {
  int fd = Connect(port);
  if (fd < 0) return false;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char probe[2] = {'E', 'r'};
  bool ok = WriteAll(fd, probe, 2) && ReadAll(fd, probe, 1) && probe[0] == 'r';
  close(fd);
  return ok;
}

int RunReady(uint16_t port, char** argv) {
  auto start = Clock::now();
  pid_t child = fork();
  if (child == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execvp(argv[0], argv);
    _exit(127);
  }
  auto deadline = start + std::chrono::seconds(10);
  while (!EchoesByte(port)) {
    if (Clock::now() > deadline) {
      fprintf(stderr, "tether-loadgen: %s not ready on port %u\n", argv[0], port);
      kill(child, SIGTERM);
      return 1;
    }
    usleep(500);
  }
  double s = Seconds(Clock::now() - start);
  int status = 0;
  waitpid(child, &status, 0);  // -f: the foreground process has returned by now
  Result r;
  r.Add("ready_s", s);
  r.Print();
  return 0;
}

/// Waits until a byte is echoed through `port` (the tunnel is up).
int RunWaitEcho(uint16_t port) {
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!EchoesByte(port)) {
    if (Clock::now() > deadline) return 1;
    usleep(2000);
  }
  return 0;
}

uint16_t Port(const char* text) { return static_cast<uint16_t>(atoi(text)); }

int Usage() {
  fprintf(stderr, "usage: see the comment at the top of bench/loadgen.cc\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  RaiseFdLimit();
  int i = 1;
  for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0'; i += 2) {
    if (strcmp(argv[i], "--tunnel-pid") == 0) g_tunnel_pid = atoi(argv[i + 1]);
    if (strcmp(argv[i], "--sshd-pid") == 0) g_sshd_pid = atoi(argv[i + 1]);
  }
  if (i >= argc) return Usage();
  std::string cmd = argv[i];
  char** a = argv + i + 1;
  int n = argc - i - 1;
  if (cmd == "target" && n == 1) return RunTarget(a[0]);
  if (cmd == "freeport") return RunFreePort();
  if (cmd == "waitecho" && n == 1) return RunWaitEcho(Port(a[0]));
  if (cmd == "stream" && n == 2) return RunStream(Port(a[0]), strtoull(a[1], nullptr, 10));
  if (cmd == "parallel" && n == 3) return RunParallel(Port(a[0]), atoi(a[1]), atof(a[2]));
  if (cmd == "short" && n == 4) {
    return RunShort(Port(a[0]), atoi(a[1]), atoi(a[2]), static_cast<size_t>(atoi(a[3])));
  }
  if (cmd == "pingpong" && n == 4) {
    return RunPingPong(Port(a[0]), atoi(a[1]), static_cast<size_t>(atoi(a[2])), atof(a[3]));
  }
  if (cmd == "hold" && n == 3) return RunHold(Port(a[0]), atoi(a[1]), atof(a[2]));
  if (cmd == "burst" && n == 4 && atoi(a[1]) > 0 && atoi(a[2]) > 0) {
    return RunBurst(Port(a[0]), atoi(a[1]), atoi(a[2]), atof(a[3]));
  }
  if (cmd == "ready" && n >= 3 && strcmp(a[1], "--") == 0) return RunReady(Port(a[0]), a + 2);
  return Usage();
}
