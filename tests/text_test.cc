#include "tether/text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace tether {
namespace {

TEST(Text, LowercaseTouchesOnlyAsciiCapitals) {
  EXPECT_EQ(Lowercase("HostName Example.COM"), "hostname example.com");
  EXPECT_EQ(Lowercase(""), "");
  EXPECT_EQ(Lowercase("a-Z_0[@]`{"), "a-z_0[@]`{");  // the bytes next to A-Z stay
  const std::string utf8 = "\xc3\x84\xc3\xa4";       // "Ää": not ASCII, left as it is
  EXPECT_EQ(Lowercase(utf8), utf8);
  EXPECT_EQ(Lowercase(std::string("A\0B", 3)), std::string("a\0b", 3));
}

TEST(Text, EqualsIgnoreCaseComparesWholeStrings) {
  EXPECT_TRUE(EqualsIgnoreCase("None", "none"));
  EXPECT_TRUE(EqualsIgnoreCase("SSH://", "ssh://"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  EXPECT_FALSE(EqualsIgnoreCase("none", "non"));
  EXPECT_FALSE(EqualsIgnoreCase("none", "nonE "));
  EXPECT_FALSE(EqualsIgnoreCase("[", "{"));  // 0x5b and 0x7b differ by the case bit only
  EXPECT_FALSE(EqualsIgnoreCase("\xc3\x84", "\xc3\xa4"));
}

TEST(Text, ParseDecimalTakesDigitsUpToTheLimit) {
  EXPECT_EQ(ParseDecimal("0"), 0u);
  EXPECT_EQ(ParseDecimal("007"), 7u);
  EXPECT_EQ(ParseDecimal("65535", 65535), 65535u);
  EXPECT_EQ(ParseDecimal("65536", 65535), std::nullopt);
  EXPECT_EQ(ParseDecimal("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ParseDecimal("18446744073709551616"), std::nullopt);
  EXPECT_EQ(ParseDecimal("99999999999999999999999999"), std::nullopt);
  EXPECT_EQ(ParseDecimal("10", 9), std::nullopt);
  EXPECT_EQ(ParseDecimal("0", 0), 0u);
}

TEST(Text, ParseDecimalRefusesAnythingButDigits) {
  for (const char* text : {"", "+1", "-1", " 1", "1 ", "1.0", "0x10", "1e3", "١"}) {
    EXPECT_EQ(ParseDecimal(text), std::nullopt) << "'" << text << "'";
  }
  EXPECT_EQ(ParseDecimal(std::string("1\0", 2)), std::nullopt);
}

TEST(Text, ParsePortIsOneTo65535) {
  EXPECT_EQ(ParsePort("1"), 1);
  EXPECT_EQ(ParsePort("22"), 22);
  EXPECT_EQ(ParsePort("065535"), 65535);
  for (const char* text : {"0", "65536", "", "ssh", "-22", "22 ", "100000"}) {
    EXPECT_EQ(ParsePort(text), std::nullopt) << "'" << text << "'";
  }
}

}  // namespace
}  // namespace tether
