#include "tether/base64.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

#include "support/net_util.h"
#include "support/param_text.h"

namespace tether {
namespace {

struct VectorCase {
  std::string bytes;
  std::string padded;
  std::string unpadded;
};

void PrintTo(const VectorCase& c, std::ostream* os) { *os << ParamText(c.bytes); }

class Base64VectorTest : public ::testing::TestWithParam<VectorCase> {};

TEST_P(Base64VectorTest, EncodesWithAndWithoutPadding) {
  EXPECT_EQ(Base64Encode(GetParam().bytes), GetParam().padded);
  EXPECT_EQ(Base64Encode(GetParam().bytes, /*pad=*/false), GetParam().unpadded);
}

TEST_P(Base64VectorTest, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(Base64Decode(GetParam().padded), GetParam().bytes);
  EXPECT_EQ(Base64Decode(GetParam().unpadded), GetParam().bytes);
}

// RFC 4648 section 10, plus bytes with the high bit set (sign extension would corrupt them).
INSTANTIATE_TEST_SUITE_P(
    Base64, Base64VectorTest,
    ::testing::Values(
        VectorCase{"", "", ""}, VectorCase{"f", "Zg==", "Zg"}, VectorCase{"fo", "Zm8=", "Zm8"},
        VectorCase{"foo", "Zm9v", "Zm9v"}, VectorCase{"foob", "Zm9vYg==", "Zm9vYg"},
        VectorCase{"fooba", "Zm9vYmE=", "Zm9vYmE"}, VectorCase{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
        VectorCase{std::string("\0", 1), "AA==", "AA"}, VectorCase{"\xff\xfe\xfd", "//79", "//79"},
        VectorCase{"\xfb\xff", "+/8=", "+/8"},
        VectorCase{std::string("\x80\x00\x7f", 3), "gAB/", "gAB/"}));

struct InvalidCase {
  std::string name;
  std::string text;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class Base64InvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(Base64InvalidTest, RejectsText) { EXPECT_EQ(Base64Decode(GetParam().text), std::nullopt); }

INSTANTIATE_TEST_SUITE_P(
    Base64, Base64InvalidTest,
    ::testing::Values(InvalidCase{"Punctuation", "Zm9v!"}, InvalidCase{"UrlSafeMinus", "Zm-v"},
                      InvalidCase{"UrlSafeUnderscore", "Zm9_"}, InvalidCase{"Dot", "Zm9v.YmFy"},
                      InvalidCase{"DataAfterPadding", "Zg==Zm9v"},
                      InvalidCase{"NulByte", std::string("Zm\0v", 4)},
                      InvalidCase{"HighBitByte", "Zm9v\xc3\xa9"},
                      InvalidCase{"VerticalTab", "Zm9v\vYmFy"}),
    [](const ::testing::TestParamInfo<InvalidCase>& param_info) { return param_info.param.name; });

struct WhitespaceCase {
  std::string name;
  std::string text;
};

void PrintTo(const WhitespaceCase& c, std::ostream* os) { *os << c.name; }

class Base64WhitespaceTest : public ::testing::TestWithParam<WhitespaceCase> {};

TEST_P(Base64WhitespaceTest, IgnoresWhitespace) {
  EXPECT_EQ(Base64Decode(GetParam().text), "foobar");
}

INSTANTIATE_TEST_SUITE_P(Base64, Base64WhitespaceTest,
                         ::testing::Values(WhitespaceCase{"Newline", "Zm9v\nYmFy"},
                                           WhitespaceCase{"CrLf", "Zm9v\r\nYmFy\r\n"},
                                           WhitespaceCase{"SpacesAndTabs", " Zm 9v\tYm\tFy "},
                                           WhitespaceCase{"PemStyleLines", "Zm9vYm\nFy\n"}),
                         [](const ::testing::TestParamInfo<WhitespaceCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(Base64Test, RoundTripsRandomBytesOfEveryLength) {
  for (size_t length = 0; length < 200; ++length) {
    const std::string bytes = testing::RandomBytes(length, /*seed=*/length + 1);
    const std::string padded = Base64Encode(bytes);
    const std::string unpadded = Base64Encode(bytes, /*pad=*/false);
    ASSERT_EQ(padded.size(), (length + 2) / 3 * 4) << "length " << length;
    ASSERT_EQ(unpadded, padded.substr(0, padded.find('='))) << "length " << length;
    ASSERT_EQ(Base64Decode(padded), bytes) << "length " << length;
    ASSERT_EQ(Base64Decode(unpadded), bytes) << "length " << length;
  }
}

}  // namespace
}  // namespace tether
