#include "tether/standard_output.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tether {

bool WriteToStdout(std::string_view text, std::string* error) {
  // Whatever stdio still holds goes first, so that the order of the output is kept.
  if (std::fflush(stdout) != 0) {
    *error = std::string("cannot write to standard output: ") + std::strerror(errno);
    return false;
  }
  while (!text.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = std::string("cannot write to standard output: ") +
               (n < 0 ? std::strerror(errno) : "nothing written");
      return false;
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace tether
