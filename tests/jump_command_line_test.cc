// -J and -o ProxyJump on the command line (the list grammar itself: jump_spec_test.cc).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/parse_args.h"
#include "tether/options.h"

namespace tether {
namespace {

std::optional<std::string> JumpHosts(const std::vector<std::string>& args) {
  const CommandLine result = ParseArgs(args);
  EXPECT_EQ(result.exit_code, std::nullopt) << result.output;
  return result.options.jump_hosts;
}

TEST(JumpCommandLineTest, JumpHostsAsTyped) {
  EXPECT_EQ(JumpHosts({"-L", "1:a:2", "h"}), std::nullopt);
  EXPECT_EQ(JumpHosts({"-J", "bastion", "-L", "1:a:2", "h"}), "bastion");
  EXPECT_EQ(JumpHosts({"-Jalice@a:2222,[::1]:22", "-L", "1:a:2", "h"}), "alice@a:2222,[::1]:22");
  EXPECT_EQ(JumpHosts({"-fNJ", "a,b", "-L", "1:a:2", "h"}), "a,b");
  EXPECT_EQ(JumpHosts({"-J", "none", "-L", "1:a:2", "h"}), "none");
  EXPECT_EQ(JumpHosts({"-o", "ProxyJump=a,b", "-L", "1:a:2", "h"}), "a,b");
  EXPECT_EQ(JumpHosts({"-o", "ProxyJump a", "-o", "proxyjump b", "-L", "1:a:2", "h"}), "a");
  // -J is the more explicit choice, as other flags win over -o.
  EXPECT_EQ(JumpHosts({"-o", "ProxyJump=a", "-J", "b", "-L", "1:a:2", "h"}), "b");
  EXPECT_EQ(JumpHosts({"-J", "b", "-o", "ProxyJump=none", "-L", "1:a:2", "h"}), "b");
}

TEST(JumpCommandLineTest, HelpNamesJ) {
  const CommandLine result = ParseArgs({"--help"});
  EXPECT_NE(result.output.find("-J [user@]host[:port][,...]"), std::string::npos);
  EXPECT_NE(result.output.find("ProxyJump"), std::string::npos);
}

struct ErrorCase {
  std::vector<std::string> args;
  std::string output;
};

class JumpCommandLineErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(JumpCommandLineErrorTest, ExitsWithUsageAndOneLine) {
  const CommandLine result = ParseArgs(GetParam().args);
  EXPECT_EQ(result.exit_code, 64);
  EXPECT_EQ(result.output, GetParam().output);
}

INSTANTIATE_TEST_SUITE_P(
    JumpCommandLine, JumpCommandLineErrorTest,
    testing::Values(
        ErrorCase{{"-J", "a,,b", "-L", "1:a:2", "h"},
                  "tether: -J: bad jump host '' in 'a,,b': empty element"},
        ErrorCase{{"-J", "", "-L", "1:a:2", "h"}, "tether: -J: bad jump host '': empty element"},
        ErrorCase{{"-J", "bastion:0", "-L", "1:a:2", "h"},
                  "tether: -J: bad jump host 'bastion:0': bad port '0' (expected 1-65535)"},
        ErrorCase{{"-J", "a:70000", "-L", "1:a:2", "h"},
                  "tether: -J: bad jump host 'a:70000': bad port '70000' (expected 1-65535)"},
        ErrorCase{{"-J", "::1", "-L", "1:a:2", "h"},
                  "tether: -J: bad jump host '::1': an IPv6 address goes in [brackets]"},
        ErrorCase{{"-J", "a", "-J", "b", "-L", "1:a:2", "h"},
                  "tether: -J: give it once, with the jump hosts separated by commas"},
        ErrorCase{{"-L", "1:a:2", "h", "-J"}, "tether: option -J needs a value"},
        ErrorCase{{"-o", "ProxyJump=x:0", "-L", "1:a:2", "h"},
                  "tether: -o ProxyJump: bad jump host 'x:0': bad port '0' (expected 1-65535)"},
        ErrorCase{{"-o", "ProxyJump a b", "-L", "1:a:2", "h"},
                  "tether: -o ProxyJump: bad value 'a b' (expected one value)"}),
    [](const testing::TestParamInfo<ErrorCase>& instance) {
      return "Case" + std::to_string(instance.index);
    });

}  // namespace
}  // namespace tether
