#include "support/ssh_login.h"

#include <libssh2.h>

#include "support/net_util.h"

namespace tether::testing {

SessionPtr LogInPlainly(const SshdServer& sshd, int socket_fd, std::chrono::milliseconds io_timeout,
                        std::string* error) {
  SessionPtr session(libssh2_session_init());
  if (!session) {
    *error = "libssh2_session_init failed";
    return nullptr;
  }
  libssh2_session_set_blocking(session.get(), 1);
  libssh2_session_set_timeout(session.get(), static_cast<long>(io_timeout.count()));
  if (libssh2_session_handshake(session.get(), socket_fd) != 0) {
    *error = "handshake: " + LastSshError(session.get());
    return nullptr;
  }
  const std::string user = sshd.user();
  const std::string key = sshd.user_key_path();
  if (libssh2_userauth_publickey_fromfile_ex(session.get(), user.c_str(),
                                             static_cast<unsigned int>(user.size()),
                                             (key + ".pub").c_str(), key.c_str(), "") != 0) {
    *error = "authentication: " + LastSshError(session.get());
    return nullptr;
  }
  return session;
}

void PlainSessionTest::SetUp() {
  std::string error;
  sshd_ = SshdServer::Start(&error);
  ASSERT_TRUE(sshd_) << error;
  socket_ = ConnectTcp("127.0.0.1", sshd_->port(), &error);
  ASSERT_TRUE(socket_.valid()) << error;
  session_ = LogInPlainly(*sshd_, socket_.get(), kIoTimeout, &error);
  ASSERT_TRUE(session_) << error;
}

void PlainSessionTest::TearDown() {
  if (session_) libssh2_session_disconnect(session_.get(), "test done");
  session_.reset();
}

}  // namespace tether::testing
