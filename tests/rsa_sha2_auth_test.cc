#include "tether/rsa_sha2_auth.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tether/ssh_wire.h"

namespace tether {
namespace {

using List = std::vector<std::string>;

constexpr char kOpenssh92[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";
constexpr char kOpenssh71[] = "SSH-2.0-OpenSSH_7.1";
constexpr char kGoServer[] = "SSH-2.0-Go";

TEST(ResolvePubkeyAlgorithms, ReadsTheListAsSshDoes) {
  List defaults = ResolvePubkeyAlgorithms("");
  ASSERT_FALSE(defaults.empty());
  EXPECT_EQ(defaults.front(), "ssh-ed25519");
  EXPECT_EQ(defaults.back(), "ssh-rsa");
  EXPECT_EQ(ResolvePubkeyAlgorithms("rsa-sha2-256,ssh-ed25519"),
            (List{"rsa-sha2-256", "ssh-ed25519"}));
  List plus = ResolvePubkeyAlgorithms("+ssh-dss");
  EXPECT_EQ(plus.back(), "ssh-dss");
  EXPECT_EQ(plus.size(), defaults.size() + 1);
  List minus = ResolvePubkeyAlgorithms("-rsa-sha2-*,ssh-rsa");
  EXPECT_FALSE(AlgorithmAccepted(minus, "rsa-sha2-512"));
  EXPECT_FALSE(AlgorithmAccepted(minus, "ssh-rsa"));
  EXPECT_TRUE(AlgorithmAccepted(minus, "ssh-ed25519"));
  List caret = ResolvePubkeyAlgorithms("^rsa-sha2-256");
  EXPECT_EQ(caret.front(), "rsa-sha2-256");
  EXPECT_EQ(caret.size(), defaults.size());
  EXPECT_TRUE(AlgorithmAccepted(ResolvePubkeyAlgorithms("rsa-*"), "rsa-sha2-256"));
}

TEST(OpensshAtLeast, ReadsTheVersionFromTheBanner) {
  EXPECT_TRUE(OpensshAtLeast(kOpenssh92, 7, 2));
  EXPECT_TRUE(OpensshAtLeast("SSH-2.0-OpenSSH_7.2", 7, 2));
  EXPECT_TRUE(OpensshAtLeast("SSH-2.0-OpenSSH_10.0", 7, 2));
  EXPECT_FALSE(OpensshAtLeast(kOpenssh71, 7, 2));
  EXPECT_FALSE(OpensshAtLeast("SSH-2.0-OpenSSH_6.9p1", 7, 2));
  EXPECT_FALSE(OpensshAtLeast(kGoServer, 7, 2));
  EXPECT_FALSE(OpensshAtLeast("SSH-2.0-dropbear_2022.83 OpenSSH_9.0", 7, 2));
  EXPECT_FALSE(OpensshAtLeast("SSH-2.0-OpenSSH_x", 7, 2));
  EXPECT_FALSE(OpensshAtLeast("", 7, 2));
}

TEST(RsaSignaturePlan, PicksByBannerAndAcceptedList) {
  const List defaults = ResolvePubkeyAlgorithms("");
  struct Case {
    const char* banner;
    List accepted;
    bool fallback;
    List expected;
  };
  const Case cases[] = {
      {kOpenssh92, defaults, true, {"rsa-sha2-512", "ssh-rsa"}},
      {kOpenssh92, defaults, false, {"rsa-sha2-512"}},
      {kOpenssh92, {"rsa-sha2-256", "rsa-sha2-512"}, true, {"rsa-sha2-256"}},
      {kOpenssh92, {"rsa-sha2-*"}, true, {"rsa-sha2-512"}},
      {kOpenssh92, {"ssh-rsa"}, true, {"ssh-rsa"}},
      {kOpenssh92, {"ssh-ed25519"}, true, {}},
      // Servers that may not take a renamed blob get what libssh2 1.10 can send plainly.
      {kOpenssh71, defaults, true, {"ssh-rsa"}},
      {kGoServer, defaults, true, {"ssh-rsa"}},
      {kGoServer, ResolvePubkeyAlgorithms("-ssh-rsa"), true, {}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RsaSignaturePlan(c.banner, c.accepted, c.fallback), c.expected)
        << c.banner << " fallback " << c.fallback;
  }
}

TEST(BlobForAlgorithm, RenamesOnlyTheTypeOfAnRsaBlob) {
  WireWriter rsa;
  rsa.PutString("ssh-rsa");
  rsa.PutMpint(std::string("\x01\x00\x01", 3));
  rsa.PutMpint("modulus-bytes");
  std::string renamed = BlobForAlgorithm(rsa.data(), "rsa-sha2-512");
  WireReader reader(renamed);
  std::string type;
  ASSERT_TRUE(reader.ReadString(&type));
  EXPECT_EQ(type, "rsa-sha2-512");
  EXPECT_EQ(reader.rest(), std::string_view(rsa.data()).substr(4 + 7));
  EXPECT_EQ(BlobForAlgorithm(rsa.data(), "ssh-rsa"), rsa.data());
  WireWriter ed25519;
  ed25519.PutString("ssh-ed25519");
  ed25519.PutString(std::string(32, 'k'));
  EXPECT_EQ(BlobForAlgorithm(ed25519.data(), "rsa-sha2-512"), ed25519.data());
}

}  // namespace
}  // namespace tether
