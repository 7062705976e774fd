#include "tether/command_line_exit.h"

#include <gtest/gtest.h>

#include "tether/options.h"
#include "tether/tunnel_admin.h"

namespace tether {
namespace {

// Both command lines end the same way: one definition of "usage error" and "finished".
template <typename Parsed>
class CommandLineExitTest : public testing::Test {};
using ParsedTypes = testing::Types<CommandLine, AdminCommandLine>;
TYPED_TEST_SUITE(CommandLineExitTest, ParsedTypes);

TYPED_TEST(CommandLineExitTest, UsageErrorIsExit64WithOneEscapedLine) {
  const TypeParam parsed = UsageError<TypeParam>("bad\nvalue \x1b[31m");
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 64);
  EXPECT_EQ(parsed.output.rfind("tether: bad", 0), 0U) << parsed.output;
  EXPECT_EQ(parsed.output.find('\n'), std::string::npos) << parsed.output;
  EXPECT_EQ(parsed.output.find('\x1b'), std::string::npos) << parsed.output;
}

TYPED_TEST(CommandLineExitTest, FinishedIsExit0WithTheTextAsGiven) {
  const TypeParam parsed = Finished<TypeParam>("Usage: tether\n\nmore lines\n");
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 0);
  EXPECT_EQ(parsed.output, "Usage: tether\n\nmore lines\n");
}

TEST(CommandLineExit, ACommandToRunHasNoExitCode) {
  EXPECT_FALSE(CommandLine{}.exit_code.has_value());
  EXPECT_FALSE(AdminCommandLine{}.exit_code.has_value());
}

}  // namespace
}  // namespace tether
