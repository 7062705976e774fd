#include "support/terminal.h"

#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include "support/net_util.h"

namespace tether::testing {

Terminal::~Terminal() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
  if (master_ >= 0) close(master_);
  if (slave_ >= 0) close(slave_);
}

bool Terminal::Open(unsigned short columns, unsigned short rows) {
  winsize size{};
  size.ws_col = columns;
  size.ws_row = rows;
  const bool sized = columns != 0 && rows != 0;
  if (openpty(&master_, &slave_, nullptr, nullptr, sized ? &size : nullptr) != 0) return false;
  reader_ = std::thread([this] { Read(); });
  return true;
}

std::string Terminal::SlavePath() const { return ttyname(slave_); }

std::string Terminal::Text() {
  std::lock_guard<std::mutex> lock(mu_);
  return text_;
}

bool Terminal::Type(const std::string& keys) { return WriteAll(master_, keys); }

bool Terminal::Echoes() const {
  termios mode{};
  return tcgetattr(slave_, &mode) == 0 && (mode.c_lflag & ECHO) != 0;
}

void Terminal::Read() {
  while (!stop_) {
    pollfd entry{master_, POLLIN, 0};
    if (poll(&entry, 1, 20) != 1) continue;
    char buffer[4096];
    const ssize_t n = read(master_, buffer, sizeof(buffer));
    if (n <= 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    text_.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace tether::testing
