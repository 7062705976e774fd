#include "tether/algorithms.h"

#include <gtest/gtest.h>
#include <libssh2.h>

#include <ostream>
#include <string>
#include <vector>

namespace tether {
namespace {

const std::vector<std::string> kSupported = {"aes128-ctr", "aes192-ctr", "aes256-ctr",
                                             "aes256-cbc", "aes128-cbc", "3des-cbc"};
const std::vector<std::string> kDefaults = {"aes128-ctr", "aes192-ctr", "aes256-ctr"};

struct ResolveCase {
  std::string name;
  std::string spec;
  std::string expected;  ///< the list, or the error when it starts with "Ciphers: "
};

void PrintTo(const ResolveCase& c, std::ostream* out) { *out << c.name; }

class ResolveAlgorithmsTest : public ::testing::TestWithParam<ResolveCase> {};

TEST_P(ResolveAlgorithmsTest, ResolvesLikeSsh) {
  const ResolveCase& c = GetParam();
  std::string error;
  const std::optional<std::string> list =
      ResolveAlgorithms("Ciphers", c.spec, kSupported, kDefaults, &error);
  EXPECT_EQ(list ? *list : error, c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Algorithms, ResolveAlgorithmsTest,
    ::testing::Values(
        ResolveCase{"ReplacesTheDefault", "aes256-ctr,aes128-ctr", "aes256-ctr,aes128-ctr"},
        ResolveCase{"AppendsWithPlus", "+aes256-cbc",
                    "aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc"},
        ResolveCase{"PlusDoesNotRepeat", "+aes128-ctr", "aes128-ctr,aes192-ctr,aes256-ctr"},
        ResolveCase{"RemovesWithMinus", "-aes192-ctr", "aes128-ctr,aes256-ctr"},
        ResolveCase{"MinusTakesWildcards", "-aes1*", "aes256-ctr"},
        ResolveCase{"MinusOfUnsupportedIsNoMistake", "-chacha20-poly1305@openssh.com",
                    "aes128-ctr,aes192-ctr,aes256-ctr"},
        ResolveCase{"CaretPutsFirst", "^aes256-cbc", "aes256-cbc,aes128-ctr,aes192-ctr,aes256-ctr"},
        ResolveCase{"WildcardMatchesSupported", "*-cbc", "aes256-cbc,aes128-cbc,3des-cbc"},
        ResolveCase{"DuplicatesCollapse", "aes128-ctr,aes128-ctr", "aes128-ctr"},
        ResolveCase{"UnsupportedIsNamed", "chacha20-poly1305@openssh.com,aes128-ctr",
                    "Ciphers: 'chacha20-poly1305@openssh.com' is not supported by libssh2 " +
                        std::string(LIBSSH2_VERSION) +
                        " (it supports aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc,aes128-cbc,"
                        "3des-cbc)"},
        ResolveCase{"PlusWithUnsupportedIsNamed", "+aes128-gcm@openssh.com",
                    "Ciphers: 'aes128-gcm@openssh.com' is not supported by libssh2 " +
                        std::string(LIBSSH2_VERSION) +
                        " (it supports aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc,aes128-cbc,"
                        "3des-cbc)"},
        ResolveCase{"WildcardMatchingNothing", "*-gcm*",
                    "Ciphers: '*-gcm*' leaves no algorithm that libssh2 " +
                        std::string(LIBSSH2_VERSION) + " supports"},
        ResolveCase{"RemovingEverything", "-*",
                    "Ciphers: '-*' leaves no algorithm that libssh2 " +
                        std::string(LIBSSH2_VERSION) + " supports"},
        ResolveCase{"ControlBytesEscaped", "aes\n",
                    "Ciphers: 'aes\\x0a' is not supported by libssh2 " +
                        std::string(LIBSSH2_VERSION) +
                        " (it supports aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc,aes128-cbc,"
                        "3des-cbc)"}),
    [](const ::testing::TestParamInfo<ResolveCase>& row) { return row.param.name; });

}  // namespace
}  // namespace tether
