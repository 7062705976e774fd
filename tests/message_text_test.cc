#include "tether/message_text.h"

#include <gtest/gtest.h>

#include <string>

namespace tether {
namespace {

TEST(MessageTextTest, EscapesControlBytesAndKeepsTheRest) {
  EXPECT_EQ(EscapeForMessage("db.example:5432"), "db.example:5432");
  EXPECT_EQ(EscapeForMessage(std::string("a\nb\0c\x7f\x1b[0m", 10)), "a\\x0ab\\x00c\\x7f\\x1b[0m");
  EXPECT_EQ(EscapeForMessage("h\xc3\xa9llo"), "h\xc3\xa9llo") << "UTF-8 passes through";
  EXPECT_EQ(QuoteForMessage("x\ty"), "'x\\x09y'");
}

/// One row: bytes from outside (a server, another process, a config file) and what a
/// message shows of them.
struct EscapeCase {
  const char* name;
  std::string text;
  std::string shown;
};

class TerminalControlTest : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(TerminalControlTest, ReachesTheScreenOnlyEscaped) {
  EXPECT_EQ(EscapeForMessage(GetParam().text), GetParam().shown);
}

INSTANTIATE_TEST_SUITE_P(
    MessageText, TerminalControlTest,
    ::testing::Values(
        // C1 controls: CSI (0x9b) starts an escape sequence on 8-bit terminals.
        EscapeCase{"RawCsiByte",
                   "a\x9b"
                   "31mb",
                   "a\\x9b31mb"},
        EscapeCase{"RawC1Range", "\x80\x85\x9f", "\\x80\\x85\\x9f"},
        EscapeCase{"EncodedCsi",
                   "a\xc2\x9b"
                   "31m",
                   "a\\xc2\\x9b31m"},
        EscapeCase{"EncodedNextLine", "\xc2\x85", "\\xc2\\x85"},
        EscapeCase{"EncodedC1Last", "\xc2\x9f", "\\xc2\\x9f"},
        // Bidi controls reorder what follows on the screen.
        EscapeCase{"RightToLeftOverride", "evil\xe2\x80\xaetxt.exe", "evil\\xe2\\x80\\xaetxt.exe"},
        EscapeCase{"LeftToRightEmbedding", "\xe2\x80\xaa", "\\xe2\\x80\\xaa"},
        EscapeCase{"PopDirectional", "\xe2\x80\xac", "\\xe2\\x80\\xac"},
        EscapeCase{"LeftToRightIsolate", "\xe2\x81\xa6", "\\xe2\\x81\\xa6"},
        EscapeCase{"PopIsolate", "\xe2\x81\xa9", "\\xe2\\x81\\xa9"},
        EscapeCase{"LeftToRightMark", "\xe2\x80\x8e", "\\xe2\\x80\\x8e"},
        EscapeCase{"RightToLeftMark", "\xe2\x80\x8f", "\\xe2\\x80\\x8f"},
        EscapeCase{"ArabicLetterMark", "\xd8\x9c", "\\xd8\\x9c"},
        EscapeCase{"LineSeparator",
                   "a\xe2\x80\xa8"
                   "b",
                   "a\\xe2\\x80\\xa8b"},
        // Not UTF-8: each byte is shown, and what follows is read afresh.
        EscapeCase{"OverlongSlash", "\xc0\xaf", "\\xc0\\xaf"},
        EscapeCase{"OverlongThreeBytes", "\xe0\x80\xaf", "\\xe0\\x80\\xaf"},
        EscapeCase{"Surrogate", "\xed\xa0\x80", "\\xed\\xa0\\x80"},
        EscapeCase{"AboveU10FFFF", "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
        EscapeCase{"LoneContinuation",
                   "\x80"
                   "a",
                   "\\x80a"},
        EscapeCase{"TruncatedAtEnd", "ok\xe2\x80", "ok\\xe2\\x80"},
        EscapeCase{"TruncatedBeforeAscii",
                   "\xe2\x80"
                   "a",
                   "\\xe2\\x80a"},
        EscapeCase{"Latin1", "caf\xe9", "caf\\xe9"}, EscapeCase{"ByteFF", "\xff", "\\xff"},
        // Printable UTF-8 passes through untouched.
        EscapeCase{"Accents", "h\xc3\xa9llo", "h\xc3\xa9llo"},
        EscapeCase{"NoBreakSpace", "\xc2\xa0", "\xc2\xa0"},
        EscapeCase{"Cjk", "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"},
        EscapeCase{"Emoji", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        EscapeCase{"Hebrew", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",
                   "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"}),
    [](const ::testing::TestParamInfo<EscapeCase>& row) { return std::string(row.param.name); });

TEST(MessageTextTest, CutsVeryLongTextAndSaysHowLongItWas) {
  EXPECT_EQ(EscapeForMessage(std::string(1024, 'a')), std::string(1024, 'a'));
  EXPECT_EQ(EscapeForMessage(std::string(100000, 'a')),
            std::string(1024, 'a') + "... (100000 bytes)");
  // The cut is made before escaping: at most 1024 input bytes are shown, whatever they are.
  EXPECT_EQ(EscapeForMessage(std::string(2000, '\n')).size(), 1024 * 4 + 16);
}

// A server's keyboard-interactive instruction keeps its lines; on each, what a terminal
// would act on is escaped as in any one-line message.
TEST(MessageTextTest, EscapesEachLineAndKeepsTheLineBreaks) {
  EXPECT_EQ(EscapeLinesForMessage("Enter the code\nfrom your phone"),
            "Enter the code\nfrom your phone");
  EXPECT_EQ(EscapeLinesForMessage("ok\n\x1b]0;owned\x07\r\nend\n"),
            "ok\n\\x1b]0;owned\\x07\\x0d\nend\n");
  EXPECT_EQ(EscapeLinesForMessage("\xe2\x80\xae"
                                  "reversed"),
            "\\xe2\\x80\\xaereversed");
  EXPECT_EQ(EscapeLinesForMessage(""), "");
}

TEST(MessageTextTest, FindsControlCharacters) {
  EXPECT_FALSE(HasControlCharacter(""));
  EXPECT_FALSE(HasControlCharacter("user.name-1@host"));
  EXPECT_FALSE(HasControlCharacter("\xc3\xa9"));
  EXPECT_TRUE(HasControlCharacter("us\ner"));
  EXPECT_TRUE(HasControlCharacter(std::string("a\0b", 3)));
  EXPECT_TRUE(HasControlCharacter("\x7f"));
  EXPECT_TRUE(HasControlCharacter("tab\there"));
}

}  // namespace
}  // namespace tether
