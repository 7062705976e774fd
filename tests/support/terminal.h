#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace tether::testing {

/// A pseudo-terminal for a child to take as its controlling terminal (or its stderr); what
/// the child writes to it is collected on a thread.
class Terminal {
 public:
  Terminal() = default;
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;
  ~Terminal();

  /// Opens the pair, `columns` x `rows` when given (0: the kernel's default), and starts
  /// collecting; false if openpty fails.
  bool Open(unsigned short columns = 0, unsigned short rows = 0);
  std::string SlavePath() const;
  /// Everything written to the terminal so far.
  std::string Text();
  /// Keys typed at the terminal: "\x03" is Ctrl-C, "\x1c" Ctrl-\\.
  bool Type(const std::string& keys);
  /// True when the terminal echoes what is typed.
  bool Echoes() const;

 private:
  void Read();

  int master_ = -1;
  int slave_ = -1;
  std::atomic<bool> stop_{false};
  std::thread reader_;
  std::mutex mu_;
  std::string text_;
};

}  // namespace tether::testing
