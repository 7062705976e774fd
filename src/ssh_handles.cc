#include "tether/ssh_handles.h"

namespace tether {

std::string LastSshError(LIBSSH2_SESSION* session) {
  char* message = nullptr;
  int length = 0;
  libssh2_session_last_error(session, &message, &length, 0);
  if (message == nullptr || length <= 0) return "";
  return std::string(message, static_cast<size_t>(length));
}

Libssh2Library::Libssh2Library() : ok_(libssh2_init(0) == 0) {}

Libssh2Library::~Libssh2Library() {
  if (ok_) libssh2_exit();
}

}  // namespace tether
