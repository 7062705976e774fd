#include "tether/ssh_handles.h"

#include "tether/ctr_provider.h"

namespace tether {

std::string LastSshError(LIBSSH2_SESSION* session) {
  char* message = nullptr;
  int length = 0;
  libssh2_session_last_error(session, &message, &length, 0);
  if (message == nullptr || length <= 0) return "";
  return std::string(message, static_cast<size_t>(length));
}

bool IsSessionError(int rc) {
  switch (rc) {
    case LIBSSH2_ERROR_SOCKET_SEND:
    case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:
    case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    case LIBSSH2_ERROR_TIMEOUT:
    case LIBSSH2_ERROR_DECRYPT:
    case LIBSSH2_ERROR_KEX_FAILURE:
    case LIBSSH2_ERROR_PROTO:
    case LIBSSH2_ERROR_ALLOC:
    case LIBSSH2_ERROR_BAD_USE:
    case LIBSSH2_ERROR_SOCKET_NONE:
    case LIBSSH2_ERROR_INVALID_MAC:
    case LIBSSH2_ERROR_ENCRYPT:
      return true;
    default:
      return false;
  }
}

Libssh2Library::Libssh2Library() : ok_(libssh2_init(0) == 0) { SetUpCtrProvider(); }

Libssh2Library::~Libssh2Library() {
  SetCtrProviderServedLogging(false);  // contexts freed from here on may outlive the logger
  if (ok_) libssh2_exit();
}

}  // namespace tether
