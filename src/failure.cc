#include "tether/failure.h"

#include <cerrno>
#include <cstring>

namespace tether {

std::string ErrnoMessage(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace tether
