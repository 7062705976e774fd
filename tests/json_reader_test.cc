// The test-side JSON reader must itself be right: it is what says tether's JSON is valid.
#include "support/json_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tether::testing {
namespace {

TEST(JsonReaderTest, ReadsAnObjectLine) {
  std::string error;
  auto value = ParseJsonObjectLine(
      R"({"s":"a\"\\\/\n\u00e9\ud83d\udd11","n":-12.5e3,"t":true,"f":false,"z":null,)"
      R"("a":[1,{"b":[]}],"o":{}})",
      &error);
  ASSERT_TRUE(value) << error;
  EXPECT_EQ(value->Find("s")->text, "a\"\\/\n\xc3\xa9\xf0\x9f\x94\x91");
  EXPECT_TRUE(value->Find("n")->IsNumber());
  EXPECT_EQ(value->Find("n")->text, "-12.5e3");
  EXPECT_EQ(value->Find("t")->text, "true");
  EXPECT_EQ(value->Find("f")->kind, JsonValue::Kind::kBool);
  EXPECT_EQ(value->Find("z")->kind, JsonValue::Kind::kNull);
  ASSERT_EQ(value->Find("a")->items.size(), 2u);
  EXPECT_EQ(value->Find("a")->items[1].Find("b")->kind, JsonValue::Kind::kArray);
  EXPECT_EQ(value->Find("o")->members.size(), 0u);
  EXPECT_EQ(value->Find("missing"), nullptr);
}

TEST(JsonReaderTest, RejectsWhatIsNotJson) {
  const std::vector<std::string> bad_texts = {"",
                                              "{",
                                              "{\"a\":1,}",
                                              "{\"a\" 1}",
                                              "{'a':1}",
                                              "{\"a\":01}",
                                              "{\"a\":1.}",
                                              "{\"a\":+1}",
                                              "{\"a\":1e}",
                                              "{\"a\":tru}",
                                              "{\"a\":\"\t\"}",
                                              "{\"a\":\"\\x41\"}",
                                              "{\"a\":\"\\u12\"}",
                                              "{\"a\":\"\\ud800\"}",
                                              "{\"a\":\"\\udc00\"}",
                                              "{\"a\":\"\xff\"}",
                                              "{\"a\":\"\xc0\xaf\"}",
                                              "{\"a\":\"\xed\xa0\x80\"}",
                                              "{\"a\":1,\"a\":2}",
                                              "{\"a\":1} x",
                                              "[1,]",
                                              "{\"a\":\"x}",
                                              std::string("{\"a\":\"\0\"}", 9)};
  for (const std::string& bad : bad_texts) {
    std::string error;
    EXPECT_FALSE(ParseJson(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(JsonReaderTest, ObjectLineMustBeOneObject) {
  std::string error;
  EXPECT_FALSE(ParseJsonObjectLine("[]", &error));
  EXPECT_FALSE(ParseJsonObjectLine("\"s\"", &error));
  EXPECT_FALSE(ParseJsonObjectLine("{}\n{}", &error));
  EXPECT_TRUE(ParseJsonObjectLine(" {} ", &error)) << error;
}

}  // namespace
}  // namespace tether::testing
