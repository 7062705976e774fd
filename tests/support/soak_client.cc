#include "support/soak_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "support/net_util.h"
#include "tether/unique_fd.h"

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kChunk = size_t{64} * 1024;
// Sends per wake-up and connection: enough to fill a socket buffer, few enough that one
// fast stream does not starve the others of the same poll loop.
constexpr int kSendsPerWakeup = 8;
constexpr size_t kMaxFailures = 20;
constexpr std::chrono::milliseconds kPollInterval(100);

/// The plans and tallies every driver thread shares.
struct Shared {
  const std::vector<SoakConnectionPlan>* plans = nullptr;
  Clock::time_point deadline;
  std::chrono::seconds stall_limit{0};
  int drivers = 0;
  std::atomic<int> drivers_filled{0};  ///< Drivers that have opened their first connections.
  std::atomic<size_t> next_plan{0};
  std::atomic<int> open{0};
  std::atomic<int> peak{0};
  std::mutex mu;
  SoakReport report;  ///< Guarded by mu.
};

/// What became of one connection.
enum class Outcome { kRunning, kVerified, kReset, kFailed };

/// One live connection of the soak and its progress both ways.
class Stream {
 public:
  Stream(size_t index, const SoakConnectionPlan& plan, UniqueFd fd, const std::string& pool)
      : index_(index), plan_(plan), fd_(std::move(fd)), pool_(pool) {}

  int fd() const { return fd_.get(); }
  Outcome outcome() const { return outcome_; }
  const std::string& failure() const { return failure_; }
  uint64_t sent() const { return sent_; }
  uint64_t received() const { return received_; }

  /// poll() interest: always readable, writable while there is more to send.
  short Events() const { return static_cast<short>(POLLIN | (sent_ < SendLimit() ? POLLOUT : 0)); }

  /// Moves what the events allow; `scratch` receives the echo.
  void OnEvents(short revents, std::string* scratch) {
    if ((revents & POLLOUT) != 0) OnWritable();
    if (outcome_ == Outcome::kRunning && (revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      OnReadable(scratch);
    }
  }

  /// Empty slots for a plan that sends nothing: it ends (or half-closes) at once.
  void Begin() { AfterSend(); }

  /// Fails the stream if it has moved nothing for `limit`, or the deadline has passed.
  void CheckProgress(Clock::time_point now, std::chrono::seconds limit, bool past_deadline) {
    if (outcome_ != Outcome::kRunning) return;
    if (past_deadline) return Fail("still running at the deadline");
    if (now - last_progress_ > limit) return Fail("stalled");
  }

 private:
  uint64_t SendLimit() const {
    return plan_.ending == SoakEnding::kReset ? plan_.reset_after : plan_.bytes;
  }

  void OnWritable() {
    for (int i = 0; i < kSendsPerWakeup && sent_ < SendLimit(); ++i) {
      const size_t at = static_cast<size_t>((plan_.pool_offset + sent_) % pool_.size());
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>({kChunk, SendLimit() - sent_, pool_.size() - at}));
      const ssize_t wrote = send(fd_.get(), pool_.data() + at, n, MSG_NOSIGNAL);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (wrote < 0) return Fail(std::string("send: ") + strerror(errno));
      if (plan_.ending != SoakEnding::kReset) sent_hash_.Update(pool_.data() + at, wrote);
      sent_ += static_cast<uint64_t>(wrote);
      last_progress_ = Clock::now();
    }
    if (sent_ == SendLimit()) AfterSend();
  }

  void AfterSend() {
    if (sent_ < SendLimit()) return;
    if (plan_.ending == SoakEnding::kReset) return Abort();
    if (plan_.ending == SoakEnding::kHalfClose && !write_shut_) {
      shutdown(fd_.get(), SHUT_WR);
      write_shut_ = true;
    }
    if (plan_.ending == SoakEnding::kReadAllThenClose && received_ == plan_.bytes) Verify();
  }

  void OnReadable(std::string* scratch) {
    const ssize_t n = recv(fd_.get(), scratch->data(), scratch->size(), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return Fail(std::string("recv: ") + strerror(errno));
    if (n == 0) return OnEof();
    last_progress_ = Clock::now();
    received_ += static_cast<uint64_t>(n);
    if (received_ > plan_.bytes) return Fail("more bytes came back than were sent");
    if (plan_.ending == SoakEnding::kReset) return;  // Aborted streams are not checked.
    received_hash_.Update(scratch->data(), static_cast<size_t>(n));
    if (plan_.ending == SoakEnding::kReadAllThenClose && received_ == plan_.bytes &&
        sent_ == plan_.bytes) {
      Verify();
    }
  }

  void OnEof() {
    if (plan_.ending != SoakEnding::kHalfClose) return Fail("EOF before the client closed");
    if (sent_ != plan_.bytes) return Fail("EOF before everything was sent");
    Verify();
  }

  void Verify() {
    if (received_ != plan_.bytes) return Fail("EOF after a short echo");
    if (received_hash_.HexDigest() != sent_hash_.HexDigest()) {
      return Fail("echoed bytes differ from the sent ones (SHA-256)");
    }
    outcome_ = Outcome::kVerified;
    fd_.Reset();
  }

  void Abort() {
    linger hard{1, 0};
    setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    fd_.Reset();
    outcome_ = Outcome::kReset;
  }

  void Fail(const std::string& why) {
    static constexpr const char* kEndings[] = {"half-close", "read-all-then-close", "reset"};
    failure_ = "connection " + std::to_string(index_) + " (" +
               kEndings[static_cast<int>(plan_.ending)] + ", " + std::to_string(plan_.bytes) +
               " bytes): " + why + "; sent " + std::to_string(sent_) + ", received " +
               std::to_string(received_);
    outcome_ = Outcome::kFailed;
    fd_.Reset();
  }

  const size_t index_;
  const SoakConnectionPlan plan_;
  UniqueFd fd_;
  const std::string& pool_;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
  bool write_shut_ = false;
  Sha256 sent_hash_;
  Sha256 received_hash_;
  Outcome outcome_ = Outcome::kRunning;
  std::string failure_;
  Clock::time_point last_progress_ = Clock::now();
};

/// One poll loop driving up to `slots` streams at a time.
class Driver {
 public:
  Driver(Shared* shared, uint16_t port, const std::string& pool, int slots)
      : shared_(shared), port_(port), pool_(pool), slots_(slots), scratch_(kChunk, '\0') {}

  void Run() {
    FillSlots();
    // Every driver opens its share before any starts moving data, so that all slots are
    // open at the same moment at least once.
    ++shared_->drivers_filled;
    while (shared_->drivers_filled.load() < shared_->drivers) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (;;) {
      FillSlots();
      if (streams_.empty()) break;
      PollOnce();
      Reap();
    }
    std::lock_guard<std::mutex> lock(shared_->mu);
    Merge(&shared_->report);
  }

 private:
  void FillSlots() {
    while (static_cast<int>(streams_.size()) < slots_ && Clock::now() < shared_->deadline) {
      const size_t index = shared_->next_plan.fetch_add(1);
      if (index >= shared_->plans->size()) return;
      Open(index);
    }
    if (Clock::now() >= shared_->deadline) timed_out_ = true;
  }

  void Open(size_t index) {
    const SoakConnectionPlan& plan = (*shared_->plans)[index];
    ++local_.connections;
    std::string error;
    UniqueFd fd = ConnectTcp("127.0.0.1", port_, &error);
    if (!fd || fcntl(fd.get(), F_SETFL, O_NONBLOCK) != 0) {
      AddFailure("connection " + std::to_string(index) + ": connect: " + error);
      return;
    }
    const int open = shared_->open.fetch_add(1) + 1;
    int peak = shared_->peak.load();
    while (open > peak && !shared_->peak.compare_exchange_weak(peak, open)) {
    }
    streams_.push_back(std::make_unique<Stream>(index, plan, std::move(fd), pool_));
    streams_.back()->Begin();
  }

  void PollOnce() {
    std::vector<pollfd> fds;
    fds.reserve(streams_.size());
    for (const auto& stream : streams_) {
      fds.push_back(
          {stream->fd(), stream->outcome() == Outcome::kRunning ? stream->Events() : short{0}, 0});
    }
    poll(fds.data(), fds.size(), static_cast<int>(kPollInterval.count()));
    const Clock::time_point now = Clock::now();
    const bool past_deadline = now >= shared_->deadline;
    for (size_t i = 0; i < streams_.size(); ++i) {
      Stream& stream = *streams_[i];
      if (fds[i].revents != 0 && stream.outcome() == Outcome::kRunning) {
        stream.OnEvents(fds[i].revents, &scratch_);
      }
      stream.CheckProgress(now, shared_->stall_limit, past_deadline);
    }
    if (past_deadline) timed_out_ = true;
  }

  void Reap() {
    for (auto it = streams_.begin(); it != streams_.end();) {
      const Stream& stream = **it;
      if (stream.outcome() == Outcome::kRunning) {
        ++it;
        continue;
      }
      local_.bytes_sent += stream.sent();
      local_.bytes_echoed += stream.received();
      if (stream.outcome() == Outcome::kVerified) ++local_.verified;
      if (stream.outcome() == Outcome::kReset) ++local_.reset;
      if (stream.outcome() == Outcome::kFailed) AddFailure(stream.failure());
      shared_->open.fetch_sub(1);
      it = streams_.erase(it);
    }
  }

  void AddFailure(const std::string& failure) {
    if (local_.failures.size() < kMaxFailures) local_.failures.push_back(failure);
    ++failed_;
  }

  void Merge(SoakReport* total) const {
    total->connections += local_.connections;
    total->verified += local_.verified;
    total->reset += local_.reset;
    total->bytes_sent += local_.bytes_sent;
    total->bytes_echoed += local_.bytes_echoed;
    total->timed_out = total->timed_out || timed_out_;
    for (const std::string& failure : local_.failures) {
      if (total->failures.size() < kMaxFailures) total->failures.push_back(failure);
    }
    if (failed_ > local_.failures.size() && total->failures.size() < kMaxFailures) {
      total->failures.push_back("... and " + std::to_string(failed_ - local_.failures.size()) +
                                " more failures on one driver thread");
    }
  }

  Shared* shared_;
  const uint16_t port_;
  const std::string& pool_;
  const int slots_;
  std::string scratch_;
  std::vector<std::unique_ptr<Stream>> streams_;
  SoakReport local_;
  size_t failed_ = 0;
  bool timed_out_ = false;
};

}  // namespace

SoakClient::SoakClient(uint16_t port, size_t pool_bytes, uint64_t seed)
    : port_(port), pool_(RandomBytes(pool_bytes, seed)) {}

SoakReport SoakClient::Run(const std::vector<SoakConnectionPlan>& plans, int concurrency,
                           int threads, std::chrono::seconds deadline,
                           std::chrono::seconds stall_limit) {
  const Clock::time_point start = Clock::now();
  Shared shared;
  shared.plans = &plans;
  shared.deadline = start + deadline;
  shared.stall_limit = stall_limit;
  shared.drivers = threads;
  std::vector<std::unique_ptr<Driver>> drivers;
  for (int t = 0; t < threads; ++t) {
    const int slots = concurrency / threads + (t < concurrency % threads ? 1 : 0);
    drivers.push_back(std::make_unique<Driver>(&shared, port_, pool_, slots));
  }
  std::vector<std::thread> running;
  for (auto& driver : drivers) running.emplace_back([&driver] { driver->Run(); });
  for (std::thread& thread : running) thread.join();
  SoakReport report = std::move(shared.report);
  report.peak_concurrent = shared.peak.load();
  report.elapsed = Clock::now() - start;
  return report;
}

}  // namespace tether::testing
