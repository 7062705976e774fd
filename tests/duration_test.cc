#include "tether/duration.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "support/param_text.h"

namespace tether {
namespace {

using std::chrono::seconds;

constexpr int64_t kHundredYears = int64_t{100} * 365 * 86400;

struct ValidCase {
  std::string text;
  seconds expected;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << ParamText(c.text); }

class DurationValidTest : public testing::TestWithParam<ValidCase> {};

TEST_P(DurationValidTest, Parses) {
  std::string error = "untouched";
  EXPECT_EQ(ParseDuration(GetParam().text, &error), GetParam().expected);
  EXPECT_EQ(error, "untouched");
}

INSTANTIATE_TEST_SUITE_P(
    Duration, DurationValidTest,
    testing::Values(ValidCase{"0", seconds(0)}, ValidCase{"0s", seconds(0)},
                    ValidCase{"0h", seconds(0)}, ValidCase{"00", seconds(0)},
                    ValidCase{"45", seconds(45)}, ValidCase{"90s", seconds(90)},
                    ValidCase{"007s", seconds(7)}, ValidCase{"5m", seconds(300)},
                    ValidCase{"1h30m", seconds(5400)}, ValidCase{"1h30s", seconds(3630)},
                    ValidCase{"1h0m", seconds(3600)}, ValidCase{"2d", seconds(172800)},
                    ValidCase{"1d2h3m4s", seconds(93784)}, ValidCase{"90m", seconds(5400)},
                    ValidCase{"36500d", seconds(kHundredYears)},
                    ValidCase{std::to_string(kHundredYears), seconds(kHundredYears)},
                    ValidCase{"36499d23h59m60s", seconds(kHundredYears)}));

struct InvalidCase {
  std::string text;
  std::string error;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << ParamText(c.text); }

class DurationInvalidTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(DurationInvalidTest, NamesTextAndProblem) {
  std::string error;
  EXPECT_EQ(ParseDuration(GetParam().text, &error), std::nullopt);
  EXPECT_EQ(error, GetParam().error);
}

std::string Syntax(const std::string& quoted) {
  return "bad duration " + quoted + ": use e.g. 90s, 5m, 1h30m, 2d or plain seconds";
}
std::string Order(const std::string& quoted) {
  return "bad duration " + quoted + ": units go largest first (d, h, m, s), each at most once";
}
std::string Range(const std::string& quoted) {
  return "bad duration " + quoted + ": longer than 100 years";
}

INSTANTIATE_TEST_SUITE_P(
    Duration, DurationInvalidTest,
    testing::Values(InvalidCase{"", Syntax("''")}, InvalidCase{"-5", Syntax("'-5'")},
                    InvalidCase{"+5", Syntax("'+5'")}, InvalidCase{"5x", Syntax("'5x'")},
                    InvalidCase{"h", Syntax("'h'")}, InvalidCase{"1.5h", Syntax("'1.5h'")},
                    InvalidCase{"1H", Syntax("'1H'")}, InvalidCase{"1h30", Syntax("'1h30'")},
                    InvalidCase{" 5s", Syntax("' 5s'")}, InvalidCase{"5s ", Syntax("'5s '")},
                    InvalidCase{"5 s", Syntax("'5 s'")}, InvalidCase{"1h 30m", Syntax("'1h 30m'")},
                    InvalidCase{"5s\n", Syntax("'5s\\x0a'")},
                    InvalidCase{std::string("5\0s", 3), Syntax("'5\\x00s'")},
                    InvalidCase{"1m1h", Order("'1m1h'")}, InvalidCase{"1h1h", Order("'1h1h'")},
                    InvalidCase{"1s1m", Order("'1s1m'")}, InvalidCase{"1d2d", Order("'1d2d'")},
                    InvalidCase{"36501d", Range("'36501d'")},
                    InvalidCase{"36500d1s", Range("'36500d1s'")},
                    InvalidCase{"3153600001", Range("'3153600001'")},
                    InvalidCase{"99999999999999999999999d", Range("'99999999999999999999999d'")},
                    InvalidCase{"99999999999999999999999", Range("'99999999999999999999999'")}));

struct FormatCase {
  seconds duration;
  std::string text;
};

void PrintTo(const FormatCase& c, std::ostream* os) { *os << c.duration.count() << "s"; }

class DurationFormatTest : public testing::TestWithParam<FormatCase> {};

TEST_P(DurationFormatTest, FormatsAndReadsBack) {
  EXPECT_EQ(FormatDuration(GetParam().duration), GetParam().text);
  std::string error;
  EXPECT_EQ(ParseDuration(GetParam().text, &error), GetParam().duration) << error;
}

INSTANTIATE_TEST_SUITE_P(
    Duration, DurationFormatTest,
    testing::Values(FormatCase{seconds(0), "0s"}, FormatCase{seconds(45), "45s"},
                    FormatCase{seconds(90), "1m30s"}, FormatCase{seconds(3600), "1h"},
                    FormatCase{seconds(5400), "1h30m"}, FormatCase{seconds(86400 + 4), "1d4s"},
                    FormatCase{seconds(172800), "2d"}, FormatCase{seconds(93784), "1d2h3m4s"},
                    FormatCase{seconds(kHundredYears), "36500d"}));

}  // namespace
}  // namespace tether
