#include "tether/json_text.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "support/json_reader.h"

namespace tether {
namespace {

struct EscapeCase {
  std::string text;
  std::string json;      ///< what JsonString must write
  std::string readback;  ///< what a JSON reader must get back from it
};

class JsonStringTest : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(JsonStringTest, WritesTheExpectedLiteral) {
  EXPECT_EQ(JsonString(GetParam().text), GetParam().json);
}

TEST_P(JsonStringTest, ReadsBackAsValidJson) {
  std::string error;
  std::optional<testing::JsonValue> value = testing::ParseJson(JsonString(GetParam().text), &error);
  ASSERT_TRUE(value) << error;
  EXPECT_TRUE(value->IsString());
  EXPECT_EQ(value->text, GetParam().readback);
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Escapes, JsonStringTest,
    ::testing::Values(
        EscapeCase{"", R"("")", ""},
        EscapeCase{"plain text 127.0.0.1:5432", R"("plain text 127.0.0.1:5432")",
                   "plain text 127.0.0.1:5432"},
        EscapeCase{"say \"hi\"", R"("say \"hi\"")", "say \"hi\""},
        EscapeCase{"C:\\dir", R"("C:\\dir")", "C:\\dir"}, EscapeCase{"a/b", R"("a/b")", "a/b"},
        EscapeCase{"\b\f\n\r\t", R"("\b\f\n\r\t")", "\b\f\n\r\t"},
        EscapeCase{std::string("nul\0end", 7), R"("nul\u0000end")", std::string("nul\0end", 7)},
        EscapeCase{"\x01\x1b[31m\x1f", R"("\u0001\u001b[31m\u001f")", "\x01\x1b[31m\x1f"},
        EscapeCase{"del\x7f", R"("del\u007f")", "del\x7f"},
        // Valid UTF-8 passes through: 2, 3 and 4 byte forms, the largest code point.
        EscapeCase{"caf\xc3\xa9", "\"caf\xc3\xa9\"", "caf\xc3\xa9"},
        EscapeCase{"\xe2\x86\x92 \xef\xbf\xbd", "\"\xe2\x86\x92 \xef\xbf\xbd\"",
                   "\xe2\x86\x92 \xef\xbf\xbd"},
        EscapeCase{"\xf0\x9f\x94\x91", "\"\xf0\x9f\x94\x91\"", "\xf0\x9f\x94\x91"},
        EscapeCase{"\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf"},
        // Not UTF-8: each bad byte becomes U+FFFD, what follows it is kept.
        EscapeCase{"\xff", R"("\ufffd")", "\xef\xbf\xbd"},
        EscapeCase{"a\x80z", R"("a\ufffdz")", "a\xef\xbf\xbdz"},
        EscapeCase{Bytes({0xc3}), R"("\ufffd")", "\xef\xbf\xbd"},         // truncated
        EscapeCase{Bytes({0xc3, 'x'}), R"("\ufffdx")", "\xef\xbf\xbdx"},  // bad continuation
        EscapeCase{Bytes({0xc0, 0xaf}), R"("\ufffd\ufffd")",              // overlong '/'
                   "\xef\xbf\xbd\xef\xbf\xbd"},
        EscapeCase{Bytes({0xe0, 0x80, 0xaf}), R"("\ufffd\ufffd\ufffd")",  // overlong, 3 bytes
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        EscapeCase{Bytes({0xed, 0xa0, 0x80}), R"("\ufffd\ufffd\ufffd")",  // surrogate D800
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        EscapeCase{Bytes({0xf4, 0x90, 0x80, 0x80}), R"("\ufffd\ufffd\ufffd\ufffd")",  // > 10FFFF
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        EscapeCase{Bytes({0xf0, 0x9f, 0x94}), R"("\ufffd\ufffd\ufffd")",  // cut 4-byte form
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}));

TEST(JsonStringTest, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  AppendJsonString("v\n", &out);
  EXPECT_EQ(out, "{\"k\":\"v\\n\"");
}

TEST(JsonStringTest, EveryByteValueGivesValidJson) {
  for (int b = 0; b < 256; ++b) {
    const std::string text = "<" + std::string(1, static_cast<char>(b)) + ">";
    std::string error;
    EXPECT_TRUE(testing::ParseJson(JsonString(text), &error)) << "byte " << b << ": " << error;
  }
}

}  // namespace
}  // namespace tether
