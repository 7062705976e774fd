#include "tether/control_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>

#include "support/net_util.h"
#include "support/temp_dir.h"

namespace tether {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

/// A ControlServer in a loop driven by the test thread, while a client runs in another.
class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    loop_ = EventLoop::Create(&error);
    ASSERT_TRUE(loop_) << error;
    ControlServer::Handlers handlers;
    handlers.status = [this] { return status_; };
    handlers.stop = [this](pid_t requester) { stopped_by_ = requester; };
    server_ = ControlServer::Listen(loop_.get(), path_, std::move(handlers), &error);
    ASSERT_TRUE(server_) << error;
  }

  /// Runs `client` on a thread and the loop here until it is done.
  template <typename T>
  T Serve(std::function<T()> client) {
    std::packaged_task<T()> task(std::move(client));
    std::future<T> result = task.get_future();
    std::thread thread(std::move(task));
    while (result.wait_for(milliseconds(0)) != std::future_status::ready) {
      loop_->RunOnce(milliseconds(10));
    }
    thread.join();
    return result.get();
  }

  /// Sends raw `bytes` and returns everything the server answers until it hangs up.
  std::string RawExchange(const std::string& bytes) {
    return Serve<std::string>([this, bytes] {
      std::string error;
      UniqueFd fd = testing::ConnectUnix(path_, &error);
      if (!fd || !testing::SetIoTimeout(fd.get(), seconds(10))) return "connect: " + error;
      testing::WriteAll(fd.get(), bytes);
      shutdown(fd.get(), SHUT_WR);
      return testing::ReadUntilEof(fd.get(), 4096);
    });
  }

  testing::TempDir dir_;
  std::string path_ = dir_.Join("control.sock");
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ControlServer> server_;
  TunnelStatus status_{"up", 2, 300, 40, 9, 100};
  pid_t stopped_by_ = 0;
};

TEST_F(ControlSocketTest, SocketFileIs0600AndGoesWithTheServer) {
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  server_.reset();
  EXPECT_NE(lstat(path_.c_str(), &st), 0);
}

TEST_F(ControlSocketTest, StatusRequestGetsTheLiveFigures) {
  std::string reply, error;
  bool ok = Serve<bool>([&] {
    return ControlExchange(path_, getpid(), ControlRequest::kStatus, seconds(5), &reply, &error);
  });
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ParseStatusReply(reply, &error), status_);
  EXPECT_EQ(stopped_by_, 0);
}

TEST_F(ControlSocketTest, StopRequestIsAnsweredThenHandedOnWithTheRequester) {
  std::string reply, error;
  bool ok = Serve<bool>([&] {
    return ControlExchange(path_, getpid(), ControlRequest::kStop, seconds(5), &reply, &error);
  });
  ASSERT_TRUE(ok) << error;
  EXPECT_TRUE(ParseStopReply(reply, &error)) << error;
  EXPECT_EQ(stopped_by_, getpid());  // the client thread belongs to this process
}

TEST_F(ControlSocketTest, ClientRefusesAServerThatIsNotTheExpectedProcess) {
  std::string reply, error;
  bool ok = Serve<bool>([&] {
    return ControlExchange(path_, getpid() + 1, ControlRequest::kStop, seconds(5), &reply, &error);
  });
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "control socket " + path_ + " belongs to pid " + std::to_string(getpid()) +
                       " (uid " + std::to_string(geteuid()) + "), not to tunnel " +
                       std::to_string(getpid() + 1));
  EXPECT_EQ(stopped_by_, 0);
}

TEST_F(ControlSocketTest, BadRequestsGetAnErrorLine) {
  EXPECT_EQ(RawExchange("reboot\n"), "error unknown request 'reboot'\n");
  EXPECT_EQ(RawExchange(std::string(kMaxControlLine, 'x')), "error request too long\n");
  EXPECT_EQ(RawExchange("stat"), "");  // EOF before a whole line: dropped without reply
  EXPECT_EQ(stopped_by_, 0);
}

TEST_F(ControlSocketTest, RequestArrivingInPiecesIsAnswered) {
  std::string reply = Serve<std::string>([this] {
    std::string error;
    UniqueFd fd = testing::ConnectUnix(path_, &error);
    testing::SetIoTimeout(fd.get(), seconds(10));
    testing::WriteAll(fd.get(), "sta");
    std::this_thread::sleep_for(milliseconds(50));
    testing::WriteAll(fd.get(), "tus\nignored");
    return testing::ReadUntilEof(fd.get(), 4096);
  });
  EXPECT_EQ(reply, FormatStatusReply(status_));
}

TEST_F(ControlSocketTest, SilentPeerIsDroppedAndOthersStillServed) {
  std::string silent_result = Serve<std::string>([this] {
    std::string error;
    UniqueFd fd = testing::ConnectUnix(path_, &error);
    testing::SetIoTimeout(fd.get(), seconds(10));
    return testing::ReadUntilEof(fd.get(), 100);  // returns once the server hangs up
  });
  EXPECT_EQ(silent_result, "");
  std::string reply, error;
  EXPECT_TRUE(Serve<bool>([&] {
    return ControlExchange(path_, getpid(), ControlRequest::kStatus, seconds(5), &reply, &error);
  })) << error;
}

}  // namespace
}  // namespace tether
