#include "tether/json_string.h"

#include <gtest/gtest.h>

#include <string>

namespace tether {
namespace {

struct JsonCase {
  std::string text;
  std::string json;
};

class JsonQuoteTest : public testing::TestWithParam<JsonCase> {};

TEST_P(JsonQuoteTest, EscapesToValidJson) { EXPECT_EQ(JsonQuote(GetParam().text), GetParam().json); }

INSTANTIATE_TEST_SUITE_P(
    JsonString, JsonQuoteTest,
    testing::Values(JsonCase{"", R"("")"}, JsonCase{"plain", R"("plain")"},
                    JsonCase{"a\"b\\c", R"("a\"b\\c")"},
                    JsonCase{"\n\r\t", R"("\n\r\t")"},
                    JsonCase{std::string("\0\x01\x1f\x7f", 4), R"("\u0000\u0001\u001f\u007f")"},
                    JsonCase{"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80",
                             "\"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80\""},
                    JsonCase{"\xff", R"("\ufffd")"},
                    JsonCase{"\xc3", R"("\ufffd")"},            // truncated sequence
                    JsonCase{"\xc0\xaf", R"("\ufffd\ufffd")"},  // overlong '/'
                    JsonCase{"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},  // surrogate
                    JsonCase{"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // > U+10FFFF
                    JsonCase{"a\xe2\x86z", R"("a\ufffd\ufffdz")"}));

}  // namespace
}  // namespace tether
