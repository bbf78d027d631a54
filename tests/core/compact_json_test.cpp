// parse_compact_json must give exactly what nlohmann's parser gives, for the core's own compact
// JSON (read without the parser) and for every other text (handed to it).
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "compact_json.h"

namespace callhook {
namespace {

using nlohmann::json;

// The same document, with the same number types (unsigned, integer, float), or both discarded.
void expect_same(const std::string& text) {
  const json expected = json::parse(text, nullptr, false);
  const json got = detail::parse_compact_json(text);
  ASSERT_EQ(got.is_discarded(), expected.is_discarded()) << text;
  if (expected.is_discarded()) return;
  EXPECT_EQ(got, expected) << text;
  // json's == holds 1 and 1u equal; a dump with the types spelled out tells them apart.
  const auto typed = [](const json& doc) {
    std::string out;
    std::vector<const json*> stack{&doc};
    while (!stack.empty()) {
      const json* v = stack.back();
      stack.pop_back();
      out += std::to_string(static_cast<int>(v->type()));
      if (v->is_structured()) {
        for (const json& item : *v) stack.push_back(&item);
      }
    }
    return out;
  };
  EXPECT_EQ(typed(got), typed(expected)) << text;
}

TEST(CompactJson, ReadsWhatTheCoreWrites) {
  for (
      const char* text : {
          R"({"event":"Call.Complete","account":{"sid":"AC1"},"call":{"sid":"CA1","from":{"number":"+14155550101","anonymous":false,"city":null},"duration":95,"prompts":{"keys":["1","2"]}}})",
          R"({"a":-5,"b":0,"c":-0,"d":123456789012345678,"e":[],"f":{},"g":[[],[{}],true,false,null]})",
          R"({"escapes":"\"\\\/\b\f\n\r\t","utf8":"café, 電話, 📞"})",
          R"("just a string")",
          "42",
          "-7",
          "true",
          "null",
          "[1,2,3]",
          R"({"repeated":1,"repeated":2})",
      }) {
    expect_same(text);
    json fast;
    EXPECT_TRUE(detail::read_compact_json(text, fast)) << text << ": not read without the parser";
  }
  const json read = detail::parse_compact_json(R"({"n":7,"m":-7,"s":"\n"})");
  EXPECT_TRUE(read["n"].is_number_unsigned());
  EXPECT_TRUE(read["m"].is_number_integer());
  EXPECT_EQ(read["s"], "\n");
}

TEST(CompactJson, HandsEverythingElseToTheParser) {
  for (const char* text : {
           "",
           " ",
           R"( {"a":1} )",
           R"({ "a" : 1 })",
           R"({"a":1.5})",
           R"({"a":1e3})",
           R"({"a":1234567890123456789})",
           R"({"a":18446744073709551615})",
           R"({"a":18446744073709551616})",
           R"({"a":-9223372036854775808})",
           R"({"a":01})",
           R"({"a":-})",
           R"({"a":"\u00e9\ud83d\udcde"})",
           R"({"a":"\x"})",
           "{\"a\":\"\x01\"}",
           "{\"a\":\"\xff\"}",
           "{\"a\":\"\xc3\"}",
           "{\"a\":\"\xed\xa0\x80\"}",
           R"({"a":1,})",
           R"({"a":1}x)",
           R"({"a":tru})",
           R"({"a")",
           R"({"a":)",
           R"({"a":"b)",
           R"([1,2)",
           R"({1:2})",
           "nope",
           R"({"a":"b"}{"c":1})",
           "[" /* cut short */,
       }) {
    expect_same(text);
    json fast;
    EXPECT_FALSE(detail::read_compact_json(text, fast)) << text << ": read without the parser";
  }
  // Deeper than the fast reader goes, but still JSON.
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "[";
  for (int i = 0; i < 300; ++i) deep += "]";
  expect_same(deep);
}

// Texts built from the pieces JSON is made of, valid or not, compared with the parser's reading.
TEST(CompactJson, AgreesWithTheParserOnMixedTexts) {
  const std::vector<std::string> pieces = {"{",           "}",     "[",     "]",
                                           ",",           ":",     "\"k\"", "\"v\\n\"",
                                           "\"\\u0041\"", "\"é\"", "1",     "-2",
                                           "0.5",         "true",  "null",  " ",
                                           "\"",          "\\",    "\xc3",  "18446744073709551616"};
  std::mt19937 random(12345);
  for (int n = 0; n < 20000; ++n) {
    std::string text;
    const int count = static_cast<int>(random() % 12) + 1;
    for (int k = 0; k < count; ++k) text += pieces[random() % pieces.size()];
    expect_same(text);
  }
  // And real documents: every document above, re-dumped, as the core stores them.
  const json doc =
      json::parse(R"({"z":{"y":[1,-1,"x",{"w":null}]},"a":"\u0001\u001f\"","b":true,"c":"ü"})");
  expect_same(doc.dump());
}

}  // namespace
}  // namespace callhook
