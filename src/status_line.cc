#include "tether/status_line.h"

#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <vector>

#include "tether/display_format.h"
#include "tether/duration.h"

namespace tether {

struct StatusLine::Terminal {
  /// Log lines come from the pool's setup threads too: one line or redraw at a time.
  std::mutex mutex;
  int fd = -1;
  std::string shown;  ///< the text on screen now; empty when nothing is shown
  std::vector<spdlog::sink_ptr> original_sinks;

  void Write(const std::string& text) const {
    for (size_t done = 0; done < text.size();) {
      ssize_t n = write(fd, text.data() + done, text.size() - done);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  void Erase() const {
    if (!shown.empty()) Write("\r\x1b[K");
  }
  void Draw(std::string text) {
    Write("\r" + text + "\x1b[K");
    shown = std::move(text);
  }
};

namespace {

constexpr std::chrono::milliseconds kRedrawInterval{250};
constexpr std::chrono::milliseconds kRateWindow{1000};
constexpr size_t kDefaultColumns = 80;

// Wraps the logger's own sinks: erases the status line, lets them print the log line, then
// draws the status line again below it.
class StatusAwareSink : public spdlog::sinks::sink {
 public:
  explicit StatusAwareSink(std::shared_ptr<StatusLine::Terminal> terminal)
      : terminal_(std::move(terminal)) {}
  void log(const spdlog::details::log_msg& msg) override {
    const std::lock_guard<std::mutex> lock(terminal_->mutex);
    terminal_->Erase();
    for (const auto& inner : terminal_->original_sinks) {
      if (inner->should_log(msg.level)) inner->log(msg);
      inner->flush();
    }
    if (!terminal_->shown.empty()) terminal_->Draw(terminal_->shown);
  }
  void flush() override {
    const std::lock_guard<std::mutex> lock(terminal_->mutex);
    for (const auto& inner : terminal_->original_sinks) inner->flush();
  }
  void set_pattern(const std::string& pattern) override {
    for (const auto& inner : terminal_->original_sinks) inner->set_pattern(pattern);
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    for (const auto& inner : terminal_->original_sinks) inner->set_formatter(formatter->clone());
  }

 private:
  std::shared_ptr<StatusLine::Terminal> terminal_;
};

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

std::string CutToColumns(const std::string& text, size_t max_columns) {
  size_t columns = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsContinuation(text[i])) continue;
    if (++columns > max_columns) return text.substr(0, i);
  }
  return text;
}

std::string Rate(double bytes_per_second) {
  return FormatBytes(static_cast<uint64_t>(bytes_per_second)) + "/s";
}

}  // namespace

std::string FormatStatusLine(const StatusFigures& figures, const StatusRates& rates,
                             size_t max_columns) {
  std::string text =
      figures.state + " | " + figures.forwards + " | " + std::to_string(figures.connections) +
      (figures.connections == 1 ? " conn" : " conns") + " | in " + FormatBytes(figures.bytes_in) +
      " " + Rate(rates.in) + " | out " + FormatBytes(figures.bytes_out) + " " + Rate(rates.out) +
      " | TTL " + (figures.ttl_left ? FormatDuration(*figures.ttl_left) : "none");
  return CutToColumns(text, max_columns);
}

bool StatusLine::Wanted(const Options& options) {
  return isatty(STDERR_FILENO) == 1 && !options.quiet && options.log_file.empty() &&
         !options.fork_after_ready && options.command.empty();
}

StatusLine::StatusLine(int fd) : terminal_(std::make_shared<Terminal>()) {
  terminal_->fd = fd;
  std::vector<spdlog::sink_ptr>& sinks = spdlog::default_logger()->sinks();
  terminal_->original_sinks = sinks;
  sinks = {std::make_shared<StatusAwareSink>(terminal_)};
}

StatusLine::~StatusLine() {
  Clear();
  spdlog::default_logger()->sinks() = terminal_->original_sinks;
}

void StatusLine::Show(const StatusFigures& figures) {
  const std::lock_guard<std::mutex> lock(terminal_->mutex);
  if (!InForeground()) {
    // A background job (`pgtunnel &`) must not draw over what the user is typing; it
    // draws again once brought back with fg.
    terminal_->shown.clear();
    return;
  }
  terminal_->Draw(FormatStatusLine(figures, rates_, Columns()));
}

bool StatusLine::InForeground() const {
  // tcgetpgrp fails on a terminal that is not ours to control: no job to be in the
  // background of, then.
  const pid_t foreground = tcgetpgrp(terminal_->fd);
  return foreground < 0 || foreground == getpgrp();
}

void StatusLine::Start(EventLoop* loop, std::function<StatusFigures()> source) {
  loop_ = loop;
  source_ = std::move(source);
  sample_time_ = EventLoop::Clock::now();
  Tick();
}

void StatusLine::Tick() {
  StatusFigures figures = source_();
  const auto now = EventLoop::Clock::now();
  const double elapsed = std::chrono::duration<double>(now - sample_time_).count();
  if (now - sample_time_ >= kRateWindow) {
    rates_ = {static_cast<double>(figures.bytes_in - sample_in_) / elapsed,
              static_cast<double>(figures.bytes_out - sample_out_) / elapsed};
    sample_time_ = now;
    sample_in_ = figures.bytes_in;
    sample_out_ = figures.bytes_out;
  }
  Show(figures);
  timer_ = loop_->AddTimer(now + kRedrawInterval, [this] {
    timer_.reset();
    Tick();
  });
}

void StatusLine::Clear() {
  if (timer_) loop_->CancelTimer(*timer_);
  timer_.reset();
  const std::lock_guard<std::mutex> lock(terminal_->mutex);
  terminal_->Erase();
  terminal_->shown.clear();
}

size_t StatusLine::Columns() const {
  winsize size{};
  if (ioctl(terminal_->fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) {
    return static_cast<size_t>(size.ws_col) - 1;  // the last column would wrap on some terminals
  }
  return kDefaultColumns - 1;
}

}  // namespace tether
