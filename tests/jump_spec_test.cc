#include "tether/jump_spec.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace tether {
namespace {

struct ValidCase {
  std::string text;
  std::vector<JumpSpec> hops;
};

class JumpListValidTest : public testing::TestWithParam<ValidCase> {};

TEST_P(JumpListValidTest, Parses) {
  std::string error;
  const std::optional<std::vector<JumpSpec>> hops = ParseJumpList(GetParam().text, &error);
  ASSERT_TRUE(hops) << error;
  EXPECT_EQ(*hops, GetParam().hops);
}

INSTANTIATE_TEST_SUITE_P(
    JumpSpec, JumpListValidTest,
    testing::Values(ValidCase{"bastion", {{"", "bastion", std::nullopt}}},
                    ValidCase{"alice@bastion", {{"alice", "bastion", std::nullopt}}},
                    ValidCase{"alice@bastion:2222", {{"alice", "bastion", 2222}}},
                    ValidCase{"bastion:22", {{"", "bastion", 22}}},
                    ValidCase{"bastion:65535", {{"", "bastion", 65535}}},
                    // The last '@' splits, as a user name may hold one.
                    ValidCase{"a@corp@bastion", {{"a@corp", "bastion", std::nullopt}}},
                    ValidCase{"[::1]", {{"", "::1", std::nullopt}}},
                    ValidCase{"[::1]:2222", {{"", "::1", 2222}}},
                    ValidCase{"bob@[fe80::1%eth0]:22", {{"bob", "fe80::1%eth0", 22}}},
                    ValidCase{"10.0.0.1:2200", {{"", "10.0.0.1", 2200}}},
                    ValidCase{"ssh://alice@bastion:2222", {{"alice", "bastion", 2222}}},
                    ValidCase{"ssh://bastion/", {{"", "bastion", std::nullopt}}},
                    ValidCase{"SSH://[::1]", {{"", "::1", std::nullopt}}},
                    ValidCase{"a,b:2,c@d",
                              {{"", "a", std::nullopt}, {"", "b", 2}, {"c", "d", std::nullopt}}},
                    ValidCase{"none", {}}, ValidCase{"NONE", {}}),
    [](const testing::TestParamInfo<ValidCase>& instance) {
      return "Case" + std::to_string(instance.index);
    });

struct InvalidCase {
  std::string text;
  std::string error;
};

class JumpListInvalidTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(JumpListInvalidTest, NamesElementAndReason) {
  std::string error;
  EXPECT_EQ(ParseJumpList(GetParam().text, &error), std::nullopt);
  EXPECT_EQ(error, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    JumpSpec, JumpListInvalidTest,
    testing::Values(
        InvalidCase{"", "bad jump host '': empty element"},
        InvalidCase{"a,,b", "bad jump host '' in 'a,,b': empty element"},
        InvalidCase{"a,", "bad jump host '' in 'a,': empty element"},
        InvalidCase{",a", "bad jump host '' in ',a': empty element"},
        InvalidCase{"bastion:0", "bad jump host 'bastion:0': bad port '0' (expected 1-65535)"},
        InvalidCase{"bastion:65536",
                    "bad jump host 'bastion:65536': bad port '65536' (expected 1-65535)"},
        InvalidCase{"bastion:ssh",
                    "bad jump host 'bastion:ssh': bad port 'ssh' (expected 1-65535)"},
        InvalidCase{"bastion:", "bad jump host 'bastion:': bad port '' (expected 1-65535)"},
        InvalidCase{"bastion:-1", "bad jump host 'bastion:-1': bad port '-1' (expected 1-65535)"},
        InvalidCase{"a,b:99999",
                    "bad jump host 'b:99999' in 'a,b:99999': bad port '99999' (expected 1-65535)"},
        InvalidCase{"@bastion", "bad jump host '@bastion': empty user name"},
        InvalidCase{"alice@", "bad jump host 'alice@': missing host"},
        InvalidCase{":22", "bad jump host ':22': missing host"},
        InvalidCase{"fe80::1", "bad jump host 'fe80::1': an IPv6 address goes in [brackets]"},
        InvalidCase{"[::1", "bad jump host '[::1': missing ']' after the IPv6 address"},
        InvalidCase{"[::1]x", "bad jump host '[::1]x': unexpected 'x' after ']'"},
        InvalidCase{"[]:22", "bad jump host '[]:22': missing host"},
        InvalidCase{"-oProxyCommand=x",
                    "bad jump host '-oProxyCommand=x': bad host name "
                    "'-oProxyCommand=x'"},
        InvalidCase{"a b", "bad jump host 'a b': blanks or control characters"},
        InvalidCase{"a\nb", "bad jump host 'a\\x0ab': blanks or control characters"},
        InvalidCase{"ssh://bastion/path",
                    "bad jump host 'ssh://bastion/path': a path is not allowed in an ssh:// "
                    "jump host"},
        InvalidCase{"host/x", "bad jump host 'host/x': bad host name 'host/x'"}),
    [](const testing::TestParamInfo<InvalidCase>& instance) {
      return "Case" + std::to_string(instance.index);
    });

TEST(JumpSpecTest, FormatRoundTrips) {
  for (const std::string text : {"bastion", "alice@bastion:2222", "[::1]:22", "bob@[::1]"}) {
    std::string error;
    const std::optional<std::vector<JumpSpec>> hops = ParseJumpList(text, &error);
    ASSERT_TRUE(hops && hops->size() == 1) << error;
    EXPECT_EQ(FormatJumpSpec(hops->front()), text);
  }
}

}  // namespace
}  // namespace tether
