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

// dump_compact_json is dump(-1, ' ', false, replace), byte for byte.
void expect_dumped_alike(const json& doc) {
  EXPECT_EQ(detail::dump_compact_json(doc),
            doc.dump(-1, ' ', false, json::error_handler_t::replace))
      << doc.dump(-1, ' ', true, json::error_handler_t::replace);
}

TEST(CompactJson, WritesWhatDumpWrites) {
  for (const char* text : {
           R"({"event":"Call.Complete","call":{"sid":"CA1","duration":95,"from":{"number":"+1"}}})",
           R"({"z":1,"a":[true,false,null,-3,0,18446744073709551615,-9223372036854775808]})",
           R"({"floats":[0.5,1e300,-2.25,3.0,1e-7],"empty":{},"none":[]})",
           R"({"escapes":"\"\\\/\b\f\n\r\t\u0001\u001f\u007f","utf8":"café 📞","k\n":"v"})",
           R"("top")",
           "7",
           "null",
       }) {
    const json doc = json::parse(text, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << text;
    expect_dumped_alike(doc);
  }
  // Invalid UTF-8, replaced as dump() replaces it, in values and in keys.
  for (const char* bytes : {"\xff", "a\xc3", "\xed\xa0\x80z", "\xf4\x90\x80\x80", "ok\xe2\x82"}) {
    const std::string raw = bytes;
    expect_dumped_alike(json(raw));
    expect_dumped_alike(json{{raw, raw}, {"b", json::array({raw, 1})}});
  }
  // Deeper than the fast writer goes.
  json deep = json::array();
  for (int i = 0; i < 300; ++i) deep = json::array({deep, i});
  expect_dumped_alike(deep);
  // Mixed documents, as the mixed texts above read them.
  std::mt19937 random(777);
  const std::vector<std::string> leaves = {"x", "\n", "é", "\"", "1", "-2", "0.5", "true", "null"};
  for (int n = 0; n < 2000; ++n) {
    json doc = json::object();
    for (int k = 0; k < 6; ++k) {
      const std::string key = leaves[random() % leaves.size()] + std::to_string(k);
      json leaf = json::parse(leaves[random() % leaves.size()], nullptr, false);
      if (leaf.is_discarded()) leaf = key;
      doc[key] = random() % 3 == 0 ? json::array({leaf, doc.size()}) : leaf;
    }
    expect_dumped_alike(doc);
  }
}

// A SortedObject writes what dump() writes of the object the same assignments build: keys in
// order, a key assigned twice with its last value, invalid UTF-8 replaced in keys and values.
TEST(CompactJson, SortedObjectWritesWhatAnObjectDumps) {
  std::mt19937 random(4242);
  const std::vector<std::string> keys = {"b",  "a",    "ab",       "B", "_",
                                         "zz", "\xff", "\xc3\xa9", "",  "a"};
  const std::vector<json> values = {json("x"),
                                    json(1),
                                    json(-2.5),
                                    json(nullptr),
                                    json(true),
                                    json("\xed\xa0\x80"),
                                    json::array({1, "y"}),
                                    json{{"k", "v"}, {"a", 2}}};
  for (int n = 0; n < 3000; ++n) {
    json expected = json::object();
    detail::SortedObject object;
    const int members = static_cast<int>(random() % 8);
    for (int m = 0; m < members; ++m) {
      const std::string& key = keys[random() % keys.size()];
      const json& value = values[random() % values.size()];
      expected[key] = value;
      if (value.is_string() && random() % 2 == 0) {
        object.add_string(key, value.get_ref<const std::string&>());
      } else {
        object.add_json(key, value);
      }
    }
    EXPECT_EQ(object.empty(), members == 0);
    std::string got = "[";
    object.write(got);
    EXPECT_EQ(got, "[" + expected.dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

}  // namespace
}  // namespace callhook
