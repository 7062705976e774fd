// What libssh2 1.10's remote-forward calls do against the real sshd, established before
// tether builds -R on them: port 0 reports the port the server chose, a forwarded
// connection carries data both ways, a cancel frees the server's port at once, a busy port
// is refused, and a want-reply keepalive sent before a listen request is read as that
// request's refusal. A plain blocking libssh2 session: only the calls studied here, none of
// tether's own code.
#include <gtest/gtest.h>
#include <libssh2.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "support/net_util.h"
#include "support/ssh_login.h"
#include "support/sshd_fixture.h"
#include "tether/ssh_handles.h"
#include "tether/unique_fd.h"

namespace tether::testing {
namespace {

class RemoteForwardLibssh2E2E : public PlainSessionTest {
 protected:
  std::string LastError() const { return LastSshError(session_.get()); }

  LIBSSH2_LISTENER* Listen(const std::string& host, int port, int* bound_port) {
    return libssh2_channel_forward_listen_ex(session_.get(), host.c_str(), port, bound_port, 16);
  }

  // cancel-tcpip-forward wants no reply: a round trip (a refused channel open) makes sure
  // the server has read it before the port is looked at.
  void RoundTrip() {
    LIBSSH2_CHANNEL* channel = libssh2_channel_open_ex(session_.get(), "tether-probe@tether", 19,
                                                       32768, 32768, nullptr, 0);
    if (channel != nullptr) libssh2_channel_free(channel);
  }
};

// The bind addresses tether asks for (RemoteBindAddress): no bind address, an address, and
// all interfaces (which this server, GatewayPorts no, narrows to loopback). Each connection
// must reach the listener: libssh2 matches the server's forwarded-tcpip to it by the exact
// address string sent, and OpenSSH echoes the one it was asked for.
class RemoteForwardLibssh2BindE2E : public RemoteForwardLibssh2E2E,
                                    public ::testing::WithParamInterface<std::string> {};

std::string BindName(const ::testing::TestParamInfo<std::string>& param) {
  if (param.param.empty()) return "AllInterfaces";
  return param.param == "localhost" ? "Localhost" : "Ipv4Loopback";
}

INSTANTIATE_TEST_SUITE_P(RemoteForwardLibssh2, RemoteForwardLibssh2BindE2E,
                         ::testing::Values("localhost", "127.0.0.1", ""), BindName);

TEST_P(RemoteForwardLibssh2BindE2E, PortZeroIsChosenByTheServerCarriesDataAndCancelFreesIt) {
  int bound_port = -1;
  LIBSSH2_LISTENER* listener = Listen(GetParam(), 0, &bound_port);
  ASSERT_NE(listener, nullptr) << LastError();
  ASSERT_GT(bound_port, 0);
  ASSERT_LE(bound_port, 65535);
  const auto port = static_cast<uint16_t>(bound_port);

  std::string error;
  UniqueFd client = ConnectTcp("127.0.0.1", port, &error);
  ASSERT_TRUE(client.valid()) << error;
  SetIoTimeout(client.get(), kIoTimeout);
  LIBSSH2_CHANNEL* channel = libssh2_channel_forward_accept(listener);
  ASSERT_NE(channel, nullptr) << LastError();

  const std::string request = "ping from the server side";
  ASSERT_TRUE(WriteAll(client.get(), request));
  std::string got(request.size(), '\0');
  size_t have = 0;
  while (have < got.size()) {
    const ssize_t n = libssh2_channel_read(channel, got.data() + have, got.size() - have);
    ASSERT_GT(n, 0) << LastError();
    have += static_cast<size_t>(n);
  }
  EXPECT_EQ(got, request);
  const std::string reply = "pong from the local target";
  ASSERT_EQ(libssh2_channel_write(channel, reply.data(), reply.size()),
            static_cast<ssize_t>(reply.size()));
  std::string back(reply.size(), '\0');
  ASSERT_TRUE(ReadExactly(client.get(), back.data(), back.size()));
  EXPECT_EQ(back, reply);
  libssh2_channel_free(channel);
  client.Reset();

  ASSERT_EQ(libssh2_channel_forward_cancel(listener), 0) << LastError();
  RoundTrip();
  EXPECT_TRUE(PortIsFree(port)) << "the server still listens on " << port << " after cancel";
}

TEST_F(RemoteForwardLibssh2E2E, BusyPortIsRefusedWithRequestDenied) {
  std::string error;
  UniqueFd busy = ListenTcp("127.0.0.1", 0, &error);
  ASSERT_TRUE(busy.valid()) << error;
  const uint16_t port = LocalPort(busy.get());
  // "127.0.0.1", not "localhost": sshd binds every address a name has and succeeds when any
  // binds, so a port busy on 127.0.0.1 alone would still be granted on ::1.
  EXPECT_EQ(Listen("127.0.0.1", port, nullptr), nullptr);
  EXPECT_EQ(libssh2_session_last_errno(session_.get()), LIBSSH2_ERROR_REQUEST_DENIED)
      << LastError();
}

// The trap: libssh2 keeps the server's answers to global requests queued and a listen takes
// the first one, so the FAILURE answering a want-reply keepalive reads as "refused".
TEST_F(RemoteForwardLibssh2E2E, WantReplyKeepaliveBeforeListenReadsAsRefusal) {
  libssh2_keepalive_config(session_.get(), 1, 1);
  int next = 0;
  ASSERT_EQ(libssh2_keepalive_send(session_.get(), &next), 0) << LastError();
  EXPECT_EQ(Listen("localhost", 0, nullptr), nullptr);
  EXPECT_EQ(libssh2_session_last_errno(session_.get()), LIBSSH2_ERROR_REQUEST_DENIED)
      << LastError();
  // The listen's own SUCCESS is now the queued answer: the server did bind a port that
  // libssh2 knows nothing of, until the session ends.
}

}  // namespace
}  // namespace tether::testing
