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

TEST(MessageTextTest, CutsVeryLongTextAndSaysHowLongItWas) {
  EXPECT_EQ(EscapeForMessage(std::string(1024, 'a')), std::string(1024, 'a'));
  EXPECT_EQ(EscapeForMessage(std::string(100000, 'a')),
            std::string(1024, 'a') + "... (100000 bytes)");
  // The cut is made before escaping: at most 1024 input bytes are shown, whatever they are.
  EXPECT_EQ(EscapeForMessage(std::string(2000, '\n')).size(), 1024 * 4 + 16);
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
