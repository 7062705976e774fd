#include "tether/bcrypt_pbkdf.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tether {
namespace {

std::string Hex(const std::vector<uint8_t>& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

struct Vector {
  std::string passphrase;
  std::string salt;
  uint32_t rounds;
  std::string expected_hex;
};

// OpenBSD's published bcrypt_pbkdf vectors (lib/libutil regress), embedded NULs included.
const Vector kVectors[] = {
    {"password", "salt", 4, "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9"},
    {"password", std::string("\0", 1), 4, "c12b566235eee04c212598970a579a67"},
    {std::string("\0", 1), "salt", 4, "6051be18c2f4f82cbf0efee5471b4bb9"},
    {std::string("password\0", 9), std::string("salt\0", 5), 4,
     "7410e44cf4fa07bfaac8a928b1727fac001375e7bf7384370f48efd121743050"},
};

TEST(BcryptPbkdf, MatchesPublishedVectors) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.expected_hex);
    std::vector<uint8_t> key(v.expected_hex.size() / 2);
    ASSERT_TRUE(BcryptPbkdf(v.passphrase, v.salt, v.rounds, key.data(), key.size()));
    EXPECT_EQ(Hex(key), v.expected_hex);
  }
}

TEST(BcryptPbkdf, ShorterOutputIsNotAPrefixOfLonger) {
  // The bytes of each block are spread with a stride that depends on the length asked for.
  std::vector<uint8_t> short_key(16), long_key(48);
  ASSERT_TRUE(BcryptPbkdf("pass", "salt", 2, short_key.data(), short_key.size()));
  ASSERT_TRUE(BcryptPbkdf("pass", "salt", 2, long_key.data(), long_key.size()));
  EXPECT_NE(Hex(short_key), Hex(std::vector<uint8_t>(long_key.begin(), long_key.begin() + 16)));
}

TEST(BcryptPbkdf, RefusesArgumentsOutOfRange) {
  std::vector<uint8_t> key(16);
  EXPECT_FALSE(BcryptPbkdf("pass", "salt", 0, key.data(), key.size()));
  EXPECT_FALSE(BcryptPbkdf("pass", "", 4, key.data(), key.size()));
  EXPECT_FALSE(BcryptPbkdf("pass", "salt", 4, key.data(), 0));
  std::vector<uint8_t> huge(2048);
  EXPECT_FALSE(BcryptPbkdf("pass", "salt", 4, huge.data(), huge.size()));
}

}  // namespace
}  // namespace tether
