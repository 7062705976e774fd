#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "tether/event_loop.h"
#include "tether/options.h"

namespace tether {

/// What the live status line shows.
struct StatusFigures {
  std::string state;     ///< "connecting", "up", "reconnecting"
  std::string forwards;  ///< "127.0.0.1:5432 → db:5432"
  uint64_t connections = 0;
  uint64_t bytes_in = 0;                         ///< from the server to local clients
  uint64_t bytes_out = 0;                        ///< from local clients to the server
  std::optional<std::chrono::seconds> ttl_left;  ///< nullopt with --ttl none
};

/// Bytes per second each way, measured between two samples.
struct StatusRates {
  double in = 0;
  double out = 0;
};

/// "up | 127.0.0.1:5432 → db:5432 | 2 conns | in 1.5 KiB 512 B/s | out 10 B 0 B/s |
/// TTL 7h59m", cut to `max_columns` display columns (never inside a UTF-8 sequence).
std::string FormatStatusLine(const StatusFigures& figures, const StatusRates& rates,
                             size_t max_columns);

/// One line at the bottom of a terminal, redrawn in place ("\r" + text + clear to the end
/// of the line) at most every 250 ms while a tunnel runs. While it is shown, every log line
/// first clears it and then redraws it below, so the two never mix.
class StatusLine {
 public:
  /// A status line makes sense only for a person watching: stderr is a terminal that logs
  /// go to (no -E), not -q, not -f (which lets go of the terminal), and no -- COMMAND
  /// (which shares the terminal).
  static bool Wanted(const Options& options);

  /// Draws on `fd` (stderr) and wraps the default logger's sinks; both undone when destroyed.
  explicit StatusLine(int fd);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  /// Draws `figures` now, unless tether is a background job of this terminal.
  void Show(const StatusFigures& figures);
  /// Redraws from `source` every 250 ms through `loop` until Clear().
  void Start(EventLoop* loop, std::function<StatusFigures()> source);
  /// Stops redrawing and erases the line; later log lines print plainly.
  void Clear();

  struct Terminal;  ///< shared with the log sink wrapper

 private:
  void Tick();
  size_t Columns() const;
  bool InForeground() const;

  std::shared_ptr<Terminal> terminal_;
  EventLoop* loop_ = nullptr;
  std::optional<EventLoop::TimerId> timer_;
  std::function<StatusFigures()> source_;
  EventLoop::Clock::time_point sample_time_;
  uint64_t sample_in_ = 0;
  uint64_t sample_out_ = 0;
  StatusRates rates_;
};

}  // namespace tether
