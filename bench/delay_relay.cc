// tether-delay-relay: a wide-area link between two loopback endpoints, for bench/run --link.
//
//   tether-delay-relay --to PORT --rtt RTT [--rate RATE] [--queue BYTES] [--window BYTES]
//                      [--port-file FILE] [--stats FILE]
//
// Listens on 127.0.0.1 (a free port, written to --port-file), and for every accepted
// connection connects to 127.0.0.1:PORT and carries the bytes both ways as a link would
// (`tc netem` is not available on the bench machines). One thread, one epoll.
//
// The model (see bench/README.md, "The link model"):
// - handshake: the client's first bytes leave 1 RTT after the accept (when SYN-ACK would
//   be back), the server's 1.5 RTT after (when the ACK would arrive), so a new connection
//   costs what it would on the link;
// - one bottleneck per direction, shared by all connections as a link is: it serializes at
//   RATE (tc units: 1gbit, 100mbit, 500kbit; unset = unpaced), counting 90 bytes of
//   Ethernet, IP and TCP framing per 1448 bytes of payload; a chunk read at t leaves it at
//   max(t, when it frees) + its size / RATE;
// - the bottleneck buffer: at most --queue bytes wait for the bottleneck (default 1000 full
//   frames, Linux's txqueuelen). When it is full the relay stops reading the senders'
//   sockets, so their TCP sees backpressure: nothing is dropped. Blocked senders take turns
//   as room appears, oldest first;
// - propagation: every chunk is written to the far side RTT/2 after it left the bottleneck;
//   FIN travels the same way (half-close is kept), a reset closes both sides at once;
// - --window BYTES (off by default): an end-to-end TCP window. Bytes count against it from
//   the read until RTT/2 after the relay wrote them out (the ACK's trip back), so one
//   connection moves at most BYTES per round trip, as a real TCP with that window would.
//   Without it the sender's TCP ends at the relay, on loopback, and only the rate limits it;
//   a receiver that does not keep up (the relay's write would block) still stops the relay
//   reading from its sender, as its closed receive window would;
// - the relay holds at most 64 MiB per connection and direction (a memory guard; at
//   1 Gbit/s and 150 ms the link itself holds 9.4 MB).
// Socket receive buffers of the relay are kept small (256 KiB) so that data waiting in
// front of a full bottleneck waits in the sender's buffers, not in a hidden relay one.
//
// On SIGTERM or SIGINT it closes everything, writes one line of counters to --stats (or
// stderr) and exits 0. The counters tell whether the relay kept its schedule: `late_chunks`
// is how many chunks were written more than 1 ms after they were due.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Nanos = std::chrono::nanoseconds;

constexpr size_t kReadSize = size_t{64} * 1024;
constexpr int kReadsPerService = 16;
constexpr int kRelayRcvBuf = 256 * 1024;
constexpr size_t kMaxHeld = size_t{64} * 1024 * 1024;
constexpr size_t kMss = 1448;
constexpr size_t kFraming = 90;  // preamble+gap 20, Ethernet 18, IPv4 20, TCP+timestamps 32
constexpr Nanos kLate = std::chrono::milliseconds(1);
// Chunks due this soon are written now: one wake-up per chunk would cost more than it models.
constexpr Nanos kSlack = std::chrono::microseconds(50);

/// Closes the fd it owns.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// ---- options -----------------------------------------------------------------------------

struct Options {
  uint16_t to_port = 0;
  Nanos one_way{0};
  double rate = 0;  // bytes per second on the wire; 0 = unpaced
  size_t queue = size_t{1000} * 1514;
  size_t window = 0;  // 0 = no end-to-end window
  std::string port_file;
  std::string stats_file;
};

/// "40ms", "1.5s", "800us", or a bare number of milliseconds.
std::optional<Nanos> ParseDuration(const std::string& text) {
  char* end = nullptr;
  double v = strtod(text.c_str(), &end);
  if (end == text.c_str() || v < 0) return std::nullopt;
  std::string unit = end;
  double scale = 0;
  if (unit.empty() || unit == "ms") scale = 1e6;
  if (unit == "s") scale = 1e9;
  if (unit == "us") scale = 1e3;
  if (scale == 0) return std::nullopt;
  return Nanos(static_cast<int64_t>(std::llround(v * scale)));
}

/// tc's rate units, in bytes per second: "1gbit", "100mbit", "500kbit", "8000bit" or bits.
std::optional<double> ParseRate(const std::string& text) {
  char* end = nullptr;
  double v = strtod(text.c_str(), &end);
  if (end == text.c_str() || v <= 0) return std::nullopt;
  static const std::map<std::string, double> kUnits = {
      {"", 1}, {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}};
  auto it = kUnits.find(end);
  if (it == kUnits.end()) return std::nullopt;
  return v * it->second / 8;
}

/// Bytes, with an optional k or m suffix (KiB, MiB).
std::optional<size_t> ParseBytes(const std::string& text) {
  char* end = nullptr;
  double v = strtod(text.c_str(), &end);
  if (end == text.c_str() || v < 0) return std::nullopt;
  std::string unit = end;
  double scale = unit.empty() ? 1 : unit == "k" ? 1024 : unit == "m" ? 1024 * 1024 : 0;
  if (scale == 0) return std::nullopt;
  return static_cast<size_t>(v * scale);
}

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    bool ok = true;
    if (flag == "--to") {
      char* end = nullptr;
      long port = strtol(value.c_str(), &end, 10);
      ok = *end == '\0' && port > 0 && port < 65536;
      if (ok) o->to_port = static_cast<uint16_t>(port);
    } else if (flag == "--rtt") {
      auto d = ParseDuration(value);
      ok = d.has_value();
      if (ok) o->one_way = *d / 2;
    } else if (flag == "--rate") {
      auto r = ParseRate(value);
      ok = r.has_value();
      if (ok) o->rate = *r;
    } else if (flag == "--queue" || flag == "--window") {
      auto b = ParseBytes(value);
      ok = b.has_value();
      if (ok) (flag == "--queue" ? o->queue : o->window) = *b;
    } else if (flag == "--port-file") {
      o->port_file = value;
    } else if (flag == "--stats") {
      o->stats_file = value;
    } else {
      ok = false;
    }
    if (!ok) {
      fprintf(stderr, "tether-delay-relay: bad option %s %s\n", flag.c_str(), value.c_str());
      return false;
    }
  }
  if (argc % 2 == 0 || o->to_port == 0) {
    fprintf(stderr, "usage: see the comment at the top of bench/delay_relay.cc\n");
    return false;
  }
  return true;
}

// ---- the link ------------------------------------------------------------------------------

/// What was read and has not been written out yet: in the bottleneck queue or on the wire.
struct Chunk {
  Time due;                // when the far end may have it
  std::vector<char> data;  // empty: the sender's FIN
  size_t sent = 0;
};

/// One direction of one connection.
struct Direction {
  int from = -1;  // fds owned by the Connection
  int to = -1;
  std::deque<Chunk> line;
  size_t held = 0;  // bytes in `line`
  Time not_before;  // the modeled handshake: nothing is read from the sender before it
  bool waiting_for_room = false;             // in the relay's list of readers blocked by the queue
  std::deque<std::pair<Time, size_t>> acks;  // --window: credit returns at .first
  size_t unacked = 0;
  bool read_eof = false;  // the sender's FIN was read
  bool done = false;      // the FIN was passed on
  bool write_blocked = false;
  bool catching_up = false;  // a write blocked since the line was last up to date
};

struct Connection {
  uint64_t id = 0;
  UniqueFd client, server;
  bool connected = false;         // the relay's own connect to the target completed
  Direction dir[2];               // 0: client to server, 1: server to client
  uint32_t interest[2] = {0, 0};  // epoll events registered for client, server
  bool registered[2] = {false, false};
  Time scheduled = Time::max();
};

struct Stats {
  uint64_t connections = 0;
  uint64_t bytes[2] = {0, 0};
  size_t max_held[2] = {0, 0};
  uint64_t chunks = 0;
  uint64_t late_chunks = 0;
  Nanos max_late{0};
};

class Relay {
 public:
  explicit Relay(Options o) : o_(std::move(o)) {}
  bool Start();
  /// Runs until SIGTERM/SIGINT; returns the exit code.
  int Run();

 private:
  void Accept();
  void Service(Connection& c);
  bool Pump(Connection& c, int d);
  void ReturnAcks(Direction& dir);
  bool WriteDue(Direction& dir);
  bool ReadAllowed(const Direction& dir, int d) const;
  bool QueueFull(int d) const;
  bool QueueClosed(int d) const;
  void WaitForRoom(Connection& c, int d);
  void ScheduleRoom(int d);
  void ServeWaiting(int d);
  bool ReadSome(Direction& dir, int d, bool* more);
  Time NextWake(const Connection& c, int d) const;
  void UpdateInterest(Connection& c);
  void SetInterest(Connection& c, int side, uint32_t events);
  void Schedule(Connection& c, Time t);
  void Close(uint64_t id);
  void ArmTimer();
  void WriteStats() const;
  Nanos WireTime(size_t bytes) const;

  Options o_;
  UniqueFd ep_, listener_, signals_, timer_;
  std::map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::priority_queue<std::pair<Time, uint64_t>, std::vector<std::pair<Time, uint64_t>>,
                      std::greater<>>
      wakes_;
  // The bottleneck of each direction is the link's, shared by every connection.
  Time bottleneck_free_[2];          // when it has sent all it accepted so far
  std::deque<uint64_t> waiting_[2];  // connections that stopped reading for a full queue
  Time room_scheduled_[2] = {Time::max(), Time::max()};
  bool serving_[2] = {false, false};  // ServeWaiting(d) is giving turns
  int reads_per_service_ = kReadsPerService;
  Time armed_ = Time::max();
  Time now_;
  // Epoll tags are id * 2 + side, above the fixed ones; wake-ups with id 0 and 1 are the
  // bottleneck queue of that direction having room again.
  uint64_t next_id_ = 2;
  std::vector<char> buf_ = std::vector<char>(kReadSize);
  Stats stats_;
};

constexpr uint64_t kListener = 0, kSignals = 1, kTimer = 2;  // epoll tags below any id * 2

int LoopbackSocket() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kRelayRcvBuf, sizeof(kRelayRcvBuf));
  return fd;
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool AddFd(int ep, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool Relay::Start() {
  ep_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  listener_ = UniqueFd(LoopbackSocket());
  int one = 1;
  setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = Loopback(0);
  if (bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(listener_.get(), 4096) != 0) {
    perror("tether-delay-relay: bind/listen");
    return false;
  }
  socklen_t len = sizeof(a);
  getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signals_ = UniqueFd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  timer_ = UniqueFd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!AddFd(ep_.get(), listener_.get(), kListener) ||
      !AddFd(ep_.get(), signals_.get(), kSignals) || !AddFd(ep_.get(), timer_.get(), kTimer)) {
    perror("tether-delay-relay: epoll");
    return false;
  }
  if (o_.port_file.empty()) {
    printf("%u\n", ntohs(a.sin_port));
    fflush(stdout);
  } else {
    // Written whole under another name first: bench/run polls for the file.
    std::string tmp = o_.port_file + ".tmp";
    std::ofstream(tmp) << ntohs(a.sin_port) << "\n";
    rename(tmp.c_str(), o_.port_file.c_str());
  }
  return true;
}

int Relay::Run() {
  std::vector<epoll_event> events(256);
  for (;;) {
    ArmTimer();
    int n = epoll_wait(ep_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      perror("tether-delay-relay: epoll_wait");
      return 1;
    }
    now_ = Clock::now();
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[static_cast<size_t>(i)].data.u64;
      if (tag == kSignals) {
        WriteStats();
        return 0;
      }
      if (tag == kListener) Accept();
      if (tag == kTimer) {
        uint64_t expirations;
        while (read(timer_.get(), &expirations, sizeof(expirations)) > 0) {
        }
      }
      if (tag < 4) continue;
      auto it = conns_.find(tag / 2);
      if (it != conns_.end()) Service(*it->second);
    }
    while (!wakes_.empty() && wakes_.top().first <= now_) {
      auto [t, id] = wakes_.top();
      wakes_.pop();
      if (id < 2) {
        if (room_scheduled_[id] == t) ServeWaiting(static_cast<int>(id));
        continue;
      }
      auto it = conns_.find(id);
      if (it != conns_.end() && it->second->scheduled == t) {
        it->second->scheduled = Time::max();
        Service(*it->second);
      }
    }
  }
}

void Relay::ArmTimer() {
  Time next = wakes_.empty() ? Time::max() : wakes_.top().first;
  if (next == armed_) return;
  armed_ = next;
  itimerspec spec{};
  if (next != Time::max()) {
    auto ns = std::chrono::duration_cast<Nanos>(next.time_since_epoch()).count();
    // steady_clock is CLOCK_MONOTONIC on Linux; 0 would disarm, so never less than 1 ns.
    ns = std::max<int64_t>(ns, 1);
    spec.it_value.tv_sec = ns / 1000000000;
    spec.it_value.tv_nsec = ns % 1000000000;
  }
  timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void Relay::Accept() {
  for (;;) {
    int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN, or out of fds: the backlog keeps them for later
    auto c = std::make_unique<Connection>();
    c->id = next_id_++;
    c->client = UniqueFd(fd);
    c->server = UniqueFd(LoopbackSocket());
    sockaddr_in a = Loopback(o_.to_port);
    int rc = connect(c->server.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    if (rc != 0 && errno != EINPROGRESS) continue;  // the target is gone: drop the client
    c->connected = rc == 0;
    int one = 1;
    setsockopt(c->client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (int d = 0; d < 2; ++d) {
      c->dir[d].from = d == 0 ? c->client.get() : c->server.get();
      c->dir[d].to = d == 0 ? c->server.get() : c->client.get();
      // The modeled handshake: the client may send once SYN-ACK is back (1 RTT), the
      // server once the ACK arrived (1.5 RTT).
      c->dir[d].not_before = now_ + (d == 0 ? 2 : 3) * o_.one_way;
    }
    ++stats_.connections;
    Connection& ref = *c;
    conns_.emplace(c->id, std::move(c));
    Service(ref);
  }
}

void Relay::Service(Connection& c) {
  if (!c.connected) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c.server.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Close(c.id);
    sockaddr_in peer{};
    len = sizeof(peer);
    c.connected = getpeername(c.server.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0;
  }
  for (int d = 0; d < 2; ++d) {
    if (!Pump(c, d)) return Close(c.id);
  }
  if (c.dir[0].done && c.dir[1].done) return Close(c.id);
  UpdateInterest(c);
  Schedule(c, std::min(NextWake(c, 0), NextWake(c, 1)));
}

/// Moves what is due, then reads what the link accepts. False: the connection failed.
bool Relay::Pump(Connection& c, int d) {
  Direction& dir = c.dir[d];
  ReturnAcks(dir);
  if (c.connected && !WriteDue(dir)) return false;
  bool more = true;
  // Still readable after a full batch: level-triggered epoll reports it again.
  bool may_read = d == 0 || c.connected;
  for (int i = 0; i < reads_per_service_ && more && may_read && ReadAllowed(dir, d); ++i) {
    if (!ReadSome(dir, d, &more)) return false;
  }
  if (may_read && !dir.read_eof && QueueClosed(d)) WaitForRoom(c, d);
  stats_.max_held[d] = std::max(stats_.max_held[d], dir.held);
  return true;
}

void Relay::ReturnAcks(Direction& dir) {
  while (!dir.acks.empty() && dir.acks.front().first <= now_) {
    dir.unacked -= dir.acks.front().second;
    dir.acks.pop_front();
  }
}

bool Relay::WriteDue(Direction& dir) {
  dir.write_blocked = false;
  while (!dir.line.empty() && dir.line.front().due <= now_ + kSlack) {
    Chunk& chunk = dir.line.front();
    if (chunk.data.empty()) {
      shutdown(dir.to, SHUT_WR);
      dir.done = true;
      dir.line.pop_front();
      continue;
    }
    // Lateness is the relay's own only while the receiver keeps up.
    if (chunk.sent == 0 && !dir.catching_up) {
      Nanos late = now_ - chunk.due;
      ++stats_.chunks;
      if (late > kLate) ++stats_.late_chunks;
      stats_.max_late = std::max(stats_.max_late, late);
    }
    ssize_t w = send(dir.to, chunk.data.data() + chunk.sent, chunk.data.size() - chunk.sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      dir.write_blocked = true;
      dir.catching_up = true;
      return true;
    }
    if (w < 0) return false;
    auto n = static_cast<size_t>(w);
    chunk.sent += n;
    dir.held -= n;
    if (o_.window > 0) dir.acks.emplace_back(now_ + o_.one_way, n);
    if (chunk.sent == chunk.data.size()) dir.line.pop_front();
  }
  dir.catching_up = false;
  return true;
}

bool Relay::ReadAllowed(const Direction& dir, int d) const {
  // A receiver that does not keep up closes its TCP window: the sender waits.
  if (dir.read_eof || dir.write_blocked || dir.held >= kMaxHeld) return false;
  // The handshake: the sender's connect has not returned yet on the modeled link.
  if (now_ < dir.not_before) return false;
  if (o_.window > 0 && dir.unacked >= o_.window) return false;
  return !QueueClosed(d);
}

/// More than --queue bytes wait for the bottleneck of direction `d`.
bool Relay::QueueFull(int d) const {
  return o_.rate > 0 && bottleneck_free_[d] > now_ + WireTime(o_.queue);
}

/// Closed to a reader: full, or others wait for their turn (a connection woken for another
/// reason must not take the room before them).
bool Relay::QueueClosed(int d) const {
  return QueueFull(d) || (!waiting_[d].empty() && !serving_[d]);
}

/// Readers blocked by a full queue take turns, oldest first, as room appears: the order of
/// a drop-tail FIFO, without favouring any connection.
void Relay::WaitForRoom(Connection& c, int d) {
  if (!c.dir[d].waiting_for_room) {
    c.dir[d].waiting_for_room = true;
    waiting_[d].push_back(c.id);
  }
  ScheduleRoom(d);
}

void Relay::ScheduleRoom(int d) {
  Time t = bottleneck_free_[d] - WireTime(o_.queue);
  if (t == room_scheduled_[d]) return;
  room_scheduled_[d] = t;
  wakes_.emplace(t, static_cast<uint64_t>(d));
}

void Relay::ServeWaiting(int d) {
  room_scheduled_[d] = Time::max();
  reads_per_service_ = 1;
  serving_[d] = true;
  while (!waiting_[d].empty() && !QueueFull(d)) {
    uint64_t id = waiting_[d].front();
    waiting_[d].pop_front();
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    it->second->dir[d].waiting_for_room = false;
    Service(*it->second);
  }
  reads_per_service_ = kReadsPerService;
  serving_[d] = false;
  if (!waiting_[d].empty()) ScheduleRoom(d);
}

Nanos Relay::WireTime(size_t bytes) const {
  if (o_.rate <= 0) return Nanos(0);
  size_t frames = (bytes + kMss - 1) / kMss;
  double wire = static_cast<double>(bytes + frames * kFraming);
  return Nanos(static_cast<int64_t>(wire / o_.rate * 1e9));
}

/// One recv into a new chunk. `more`: the read filled the buffer, so more may be waiting.
bool Relay::ReadSome(Direction& dir, int d, bool* more) {
  *more = false;
  ssize_t r = recv(dir.from, buf_.data(), buf_.size(), MSG_DONTWAIT);
  if (r < 0) return errno == EAGAIN || errno == EINTR;  // a reset closes both sides now
  auto n = static_cast<size_t>(r);
  Time start = std::max(now_, bottleneck_free_[d]);
  bottleneck_free_[d] = start + WireTime(n);
  Chunk chunk{bottleneck_free_[d] + o_.one_way, std::vector<char>(buf_.data(), buf_.data() + n), 0};
  dir.line.push_back(std::move(chunk));
  dir.held += n;
  if (o_.window > 0) dir.unacked += n;
  if (n == 0) dir.read_eof = true;
  stats_.bytes[d] += n;
  *more = n == buf_.size();
  return true;
}

/// The earliest time something in direction `d` can move without an epoll event.
Time Relay::NextWake(const Connection& c, int d) const {
  const Direction& dir = c.dir[d];
  Time t = Time::max();
  if (!dir.line.empty() && !dir.write_blocked && c.connected) t = dir.line.front().due;
  if (!dir.read_eof && now_ < dir.not_before) t = std::min(t, dir.not_before);
  // A full queue wakes its waiting readers itself (ServeWaiting).
  if (!dir.read_eof && o_.window > 0 && dir.unacked >= o_.window && !dir.acks.empty()) {
    t = std::min(t, dir.acks.front().first);
  }
  return t;
}

void Relay::UpdateInterest(Connection& c) {
  for (int side = 0; side < 2; ++side) {
    // Side 0 (client) is read by direction 0 and written by direction 1; side 1 the reverse.
    const Direction& reader = c.dir[side];
    const Direction& writer = c.dir[side ^ 1];
    uint32_t events = 0;
    bool connecting = side == 1 && !c.connected;
    if (connecting) {
      events = EPOLLOUT;
    } else {
      if (ReadAllowed(reader, side) && (side == 0 || c.connected)) events |= EPOLLIN;
      if (writer.write_blocked) events |= EPOLLOUT;
    }
    SetInterest(c, side, events);
  }
}

/// A socket with nothing to wait for leaves the epoll set: EPOLLHUP is reported even with
/// no events asked for, and would spin the loop while the line drains.
void Relay::SetInterest(Connection& c, int side, uint32_t events) {
  int fd = side == 0 ? c.client.get() : c.server.get();
  if (events == c.interest[side] && c.registered[side] == (events != 0)) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.id * 2 + static_cast<uint64_t>(side);
  if (events == 0) {
    epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
    c.registered[side] = false;
  } else {
    epoll_ctl(ep_.get(), c.registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    c.registered[side] = true;
  }
  c.interest[side] = events;
}

void Relay::Schedule(Connection& c, Time t) {
  if (t == Time::max() || t == c.scheduled) return;
  c.scheduled = t;
  wakes_.emplace(t, c.id);
}

void Relay::Close(uint64_t id) { conns_.erase(id); }  // closing the fds leaves epoll too

void Relay::WriteStats() const {
  char line[512];
  snprintf(line, sizeof(line),
           "connections=%llu bytes_up=%llu bytes_down=%llu max_held_up=%zu max_held_down=%zu "
           "chunks=%llu late_chunks=%llu max_late_ms=%.3f\n",
           static_cast<unsigned long long>(stats_.connections),
           static_cast<unsigned long long>(stats_.bytes[0]),
           static_cast<unsigned long long>(stats_.bytes[1]), stats_.max_held[0], stats_.max_held[1],
           static_cast<unsigned long long>(stats_.chunks),
           static_cast<unsigned long long>(stats_.late_chunks),
           std::chrono::duration<double, std::milli>(stats_.max_late).count());
  if (o_.stats_file.empty()) {
    fputs(line, stderr);
  } else {
    std::ofstream(o_.stats_file, std::ios::app) << line;
  }
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  Options o;
  if (!ParseOptions(argc, argv, &o)) return 64;
  Relay relay(std::move(o));
  if (!relay.Start()) return 1;
  return relay.Run();
}
