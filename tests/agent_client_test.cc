// AgentClient against the real ssh-agent: listing keys, and RSA signatures made with the
// SHA-2 flags (checked with OpenSSL), which libssh2 1.10's own agent code cannot ask for.

#include "tether/agent_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/sshd_fixture.h"
#include "support/temp_dir.h"
#include "tether/rsa_key.h"
#include "tether/ssh_wire.h"

namespace tether {
namespace {

using testing::MakeUserKey;
using testing::SshAgent;
using testing::TempDir;

class AgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    std::string error;
    agent_ = SshAgent::Start(&error);
    ASSERT_TRUE(agent_) << error;
    ASSERT_FALSE(MakeUserKey(dir_.Join("rsa"), "rsa", "").empty());
    ASSERT_FALSE(MakeUserKey(dir_.Join("ed25519"), "ed25519", "").empty());
    ASSERT_TRUE(agent_->Add(dir_.Join("rsa"), &error)) << error;
    ASSERT_TRUE(agent_->Add(dir_.Join("ed25519"), &error)) << error;
    client_ = AgentClient::Connect(agent_->socket_path(), &error);
    ASSERT_TRUE(client_) << error;
  }

  std::string BlobOfType(const std::string& type) {
    std::vector<AgentIdentity> identities;
    std::string error;
    EXPECT_TRUE(client_->ListIdentities(&identities, &error)) << error;
    for (const AgentIdentity& identity : identities) {
      std::string found;
      WireReader(identity.blob).ReadString(&found);
      if (found == type) return identity.blob;
    }
    return "";
  }

  TempDir dir_;
  std::unique_ptr<SshAgent> agent_;
  std::unique_ptr<AgentClient> client_;
};

TEST_F(AgentClientTest, ListsEveryKeyWithItsComment) {
  std::vector<AgentIdentity> identities;
  std::string error;
  ASSERT_TRUE(client_->ListIdentities(&identities, &error)) << error;
  ASSERT_EQ(identities.size(), 2u);
  EXPECT_EQ(identities[0].comment, "tether-test-rsa");
  EXPECT_EQ(identities[1].comment, "tether-test-ed25519");
}

TEST_F(AgentClientTest, RsaSignaturesFollowTheFlags) {
  std::string blob = BlobOfType("ssh-rsa");
  ASSERT_FALSE(blob.empty());
  EvpPkeyPtr public_key = RsaPublicKeyFromBlob(blob);
  ASSERT_TRUE(public_key);
  struct Case {
    uint32_t flags;
    const char* algorithm;
  };
  for (const Case& c : {Case{AgentClient::kRsaSha2_512, "rsa-sha2-512"},
                        Case{AgentClient::kRsaSha2_256, "rsa-sha2-256"}, Case{0, "ssh-rsa"}}) {
    std::string algorithm, signature, error;
    ASSERT_TRUE(client_->Sign(blob, "data to sign", c.flags, &algorithm, &signature, &error))
        << error;
    EXPECT_EQ(algorithm, c.algorithm);
    EXPECT_TRUE(RsaVerify(public_key.get(), c.algorithm, "data to sign", signature));
    EXPECT_FALSE(RsaVerify(public_key.get(), c.algorithm, "other data", signature));
  }
}

TEST_F(AgentClientTest, Ed25519SignsWithoutFlags) {
  std::string blob = BlobOfType("ssh-ed25519");
  ASSERT_FALSE(blob.empty());
  std::string algorithm, signature, error;
  ASSERT_TRUE(client_->Sign(blob, "data", 0, &algorithm, &signature, &error)) << error;
  EXPECT_EQ(algorithm, "ssh-ed25519");
  EXPECT_EQ(signature.size(), 64u);
}

TEST_F(AgentClientTest, UnknownKeyIsRefused) {
  WireWriter stranger;
  stranger.PutString("ssh-ed25519");
  stranger.PutString(std::string(32, 'x'));
  std::string algorithm, signature, error;
  EXPECT_FALSE(client_->Sign(stranger.data(), "data", 0, &algorithm, &signature, &error));
  EXPECT_EQ(error, "the agent refused to sign");
}

TEST(AgentClient, NoAgentAtThePathIsAnError) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(AgentClient::Connect(dir.Join("no-agent.sock"), &error));
  EXPECT_FALSE(error.empty());
}

TEST(AgentClient, SilentAgentTimesOut) {
  // A socket that accepts and never answers: the client gives up after its timeout.
  TempDir dir;
  std::string path = dir.Join("silent.sock");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  std::string error;
  auto client = AgentClient::Connect(path, &error, std::chrono::milliseconds(200));
  ASSERT_TRUE(client) << error;
  std::vector<AgentIdentity> identities;
  EXPECT_FALSE(client->ListIdentities(&identities, &error));
  EXPECT_EQ(error, "no answer from the agent");
  close(listener);
}

TEST(AgentClient, AbortFdEndsTheWaitForASilentAgent) {
  TempDir dir;
  std::string path = dir.Join("silent.sock");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  int abort_pipe[2];
  ASSERT_EQ(pipe(abort_pipe), 0);
  std::string error;
  // A timeout far beyond the test's: only the abort fd can end this wait in time.
  auto client = AgentClient::Connect(path, &error, std::chrono::hours(1), abort_pipe[0]);
  ASSERT_TRUE(client) << error;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(write(abort_pipe[1], "x", 1), 1);
  });
  std::vector<AgentIdentity> identities;
  EXPECT_FALSE(client->ListIdentities(&identities, &error));
  EXPECT_TRUE(client->interrupted());
  stopper.join();
  close(abort_pipe[0]);
  close(abort_pipe[1]);
  close(listener);
}

}  // namespace
}  // namespace tether
