#include "callhook/filter.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace callhook {
namespace {

using nlohmann::json;

json j(std::string_view text) {
  return json::parse(text);
}

bool matches(std::string_view filter, std::string_view document) {
  return filter_matches(j(filter), j(document));
}

// The pointers of every diagnostic, in order; also checks their code.
std::vector<std::string> pointers(std::string_view filter) {
  std::vector<std::string> out;
  for (const Diagnostic& d : check_filter(j(filter))) {
    EXPECT_EQ(d.code, "bad_filter");
    EXPECT_FALSE(d.message.empty());
    out.push_back(d.field);
  }
  return out;
}

using Pointers = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Plain values, nesting, arrays

TEST(FilterMatch, PrimitiveEquality) {
  EXPECT_TRUE(matches(R"({"type":"order/created"})", R"({"type":"order/created","id":1})"));
  EXPECT_FALSE(matches(R"({"type":"order/created"})", R"({"type":"order/updated"})"));
  EXPECT_FALSE(matches(R"({"type":"created"})", R"({"type":1})"));
  EXPECT_TRUE(matches(R"({"count":1,"type":"a"})", R"({"count":1,"type":"a","x":2})"));
  EXPECT_FALSE(matches(R"({"count":1,"type":"a"})", R"({"count":1})"));
}

TEST(FilterMatch, RootPrimitives) {
  EXPECT_TRUE(matches("false", "false"));
  EXPECT_FALSE(matches("false", "true"));
  EXPECT_TRUE(matches(R"("/test")", R"("/test")"));
  EXPECT_FALSE(matches(R"("/test")", R"("/test2")"));
  EXPECT_FALSE(matches("true", R"({"test":true})"));
  EXPECT_FALSE(matches("{}", "1"));
}

TEST(FilterMatch, NumbersEqualNumericStrings) {
  EXPECT_TRUE(matches(R"({"duration":45})", R"({"duration":"45"})"));
  EXPECT_TRUE(matches(R"({"duration":"45"})", R"({"duration":45})"));
  EXPECT_TRUE(matches(R"({"duration":45})", R"({"duration":45.0})"));
  EXPECT_FALSE(matches(R"({"duration":45})", R"({"duration":"45 "})"));
  EXPECT_FALSE(matches(R"({"duration":45})", R"({"duration":"+45"})"));
  EXPECT_FALSE(matches(R"({"duration":0})", R"({"duration":""})"));
}

TEST(FilterMatch, BooleansAndNullEqualOnlyThemselves) {
  EXPECT_TRUE(matches(R"({"a":true})", R"({"a":true})"));
  EXPECT_FALSE(matches(R"({"a":true})", R"({"a":false})"));
  EXPECT_FALSE(matches(R"({"a":true})", R"({"a":"true"})"));
  EXPECT_FALSE(matches(R"({"a":1})", R"({"a":true})"));
  EXPECT_TRUE(matches(R"({"a":null})", R"({"a":null})"));
  EXPECT_FALSE(matches(R"({"a":null})", R"({"a":false})"));
  EXPECT_FALSE(matches(R"({"a":false})", R"({"a":null})"));
  EXPECT_FALSE(matches(R"({"a":null})", R"({})"));
}

TEST(FilterMatch, NestedObjects) {
  EXPECT_TRUE(matches(R"({"product":{"inventory":0}})",
                      R"({"product":{"title":"A product","inventory":0}})"));
  EXPECT_FALSE(matches(R"({"product":{"inventory":0}})", R"({"product":{"inventory":1}})"));
  EXPECT_FALSE(matches(R"({"product":{"inventory":0}})", R"({"product":0})"));
  EXPECT_FALSE(matches(R"({"type":1})", R"({"type":{"something":"created"}})"));
  EXPECT_FALSE(matches(R"({"test":{"something":"text"}})", R"({"test":"some-text"})"));
}

TEST(FilterMatch, EmptyObjectMatchesAnyObject) {
  EXPECT_TRUE(matches("{}", R"({"a":1})"));
  EXPECT_TRUE(matches("{}", "{}"));
  EXPECT_TRUE(matches(R"({"a":{}})", R"({"a":{"b":1}})"));
  EXPECT_FALSE(matches(R"({"a":{}})", R"({"a":"x"})"));
  EXPECT_FALSE(matches(R"({"a":{}})", R"({})"));
}

TEST(FilterMatch, ArrayContainsPrimitive) {
  EXPECT_TRUE(matches(R"({"tags":"gift"})", R"({"tags":["gift","something"]})"));
  EXPECT_FALSE(matches(R"({"tags":"nope"})", R"({"tags":["gift","something"]})"));
  EXPECT_TRUE(matches("3", "[1,2,3]"));
  EXPECT_FALSE(matches("4", "[1,2,3]"));
  EXPECT_TRUE(matches(R"({"ids":7})", R"({"ids":["5","7"]})"));
}

TEST(FilterMatch, ArrayFilterMustAllBeContained) {
  EXPECT_TRUE(
      matches(R"({"tags":["gift","something"]})", R"({"tags":["gift","something","another"]})"));
  EXPECT_FALSE(matches(R"({"tags":["gift","whatever"]})", R"({"tags":["gift","something"]})"));
  EXPECT_TRUE(matches(R"([{"$eq":3}])", "[1,2,3]"));
  EXPECT_FALSE(matches(R"([{"$eq":4}])", "[1,2,3]"));
  EXPECT_FALSE(matches(R"({"tags":["gift"]})", R"({"tags":"gift"})"));
}

TEST(FilterMatch, ArrayOfObjects) {
  EXPECT_TRUE(matches(R"({"items":{"sku":"a"}})", R"({"items":[{"sku":"b"},{"sku":"a"}]})"));
  EXPECT_FALSE(matches(R"({"items":{"sku":"c"}})", R"({"items":[{"sku":"b"},{"sku":"a"}]})"));
  EXPECT_TRUE(matches(R"({"items":{"inventory":{"$lte":10}}})",
                      R"({"items":[{"inventory":9},{"inventory":11}]})"));
  EXPECT_FALSE(matches(R"({"items":{"inventory":{"$lte":10}}})",
                       R"({"items":[{"inventory":12},{"inventory":11}]})"));
  // All field keys must hold for one and the same element.
  EXPECT_FALSE(matches(R"({"items":{"sku":"a","qty":2}})",
                       R"({"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}]})"));
  EXPECT_TRUE(matches(R"({"items":{"sku":"b","qty":2}})",
                      R"({"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}]})"));
}

// ---------------------------------------------------------------------------------------------
// Operators

TEST(FilterOperators, EqAndNeq) {
  EXPECT_TRUE(matches(R"({"count":{"$eq":2}})", R"({"count":2})"));
  EXPECT_FALSE(matches(R"({"count":{"$eq":2}})", R"({"count":3})"));
  EXPECT_TRUE(matches(R"({"count":{"$eq":2}})", R"({"count":"2"})"));
  EXPECT_FALSE(matches(R"({"count":{"$neq":2}})", R"({"count":2})"));
  EXPECT_TRUE(matches(R"({"count":{"$neq":2}})", R"({"count":3})"));
  EXPECT_TRUE(matches(R"({"a":{"$eq":null}})", R"({"a":null})"));
  EXPECT_FALSE(matches(R"({"a":{"$neq":null}})", R"({"a":null})"));
  // Deep equality: the whole array, not "contains".
  EXPECT_TRUE(matches(R"({"tags":{"$eq":["a","b"]}})", R"({"tags":["a","b"]})"));
  EXPECT_FALSE(matches(R"({"tags":{"$eq":["a","b"]}})", R"({"tags":["a","b","c"]})"));
  EXPECT_FALSE(matches(R"({"$eq":3})", "[1,2,3]"));
  EXPECT_TRUE(matches(R"({"o":{"$eq":{"x":1,"y":[true]}}})", R"({"o":{"y":[true],"x":1}})"));
  EXPECT_FALSE(matches(R"({"o":{"$eq":{"x":1}}})", R"({"o":{"x":1,"y":2}})"));
}

TEST(FilterOperators, ComparisonsOnNumbers) {
  EXPECT_TRUE(matches(R"({"n":{"$gt":1}})", R"({"n":2})"));
  EXPECT_FALSE(matches(R"({"n":{"$gt":2}})", R"({"n":2})"));
  EXPECT_TRUE(matches(R"({"n":{"$gte":2}})", R"({"n":2})"));
  EXPECT_FALSE(matches(R"({"n":{"$gte":2.5}})", R"({"n":2})"));
  EXPECT_TRUE(matches(R"({"n":{"$lt":1}})", R"({"n":0})"));
  EXPECT_FALSE(matches(R"({"n":{"$lt":1}})", R"({"n":1})"));
  EXPECT_TRUE(matches(R"({"n":{"$lte":1}})", R"({"n":1})"));
  EXPECT_FALSE(matches(R"({"n":{"$lte":1}})", R"({"n":1.5})"));
  EXPECT_TRUE(matches(R"({"n":{"$lt":0}})", R"({"n":-3})"));
  EXPECT_TRUE(matches(R"({"n":{"$gt":-1}})", R"({"n":18446744073709551615})"));
  EXPECT_FALSE(matches(R"({"n":{"$lt":-1}})", R"({"n":18446744073709551615})"));
  EXPECT_FALSE(matches(R"({"n":-1})", R"({"n":18446744073709551615})"));
  EXPECT_TRUE(matches(R"({"n":{"$gt":9223372036854775807}})", R"({"n":9223372036854775808})"));
  EXPECT_TRUE(matches(R"({"n":{"$lt":-9223372036854775807}})", R"({"n":-9223372036854775808})"));
  EXPECT_TRUE(matches(R"({"n":{"$gt":1,"$lt":3}})", R"({"n":2})"));
  EXPECT_FALSE(matches(R"({"n":{"$gt":1,"$lt":3}})", R"({"n":4})"));
}

TEST(FilterOperators, ComparisonsCoerceNumericStrings) {
  EXPECT_TRUE(matches(R"({"duration":{"$gte":30}})", R"({"duration":"45"})"));
  EXPECT_FALSE(matches(R"({"duration":{"$gte":30}})", R"({"duration":"29"})"));
  EXPECT_TRUE(matches(R"({"duration":{"$gte":30}})", R"({"duration":"30.0"})"));
  EXPECT_FALSE(matches(R"({"duration":{"$gt":45}})", R"({"duration":"45"})"));
  EXPECT_TRUE(matches(R"({"duration":{"$lt":100}})", R"({"duration":"99.5"})"));
  EXPECT_TRUE(matches(R"({"duration":{"$gte":"30"}})", R"({"duration":45})"));
  EXPECT_FALSE(matches(R"({"duration":{"$gte":30}})", R"({"duration":"forty"})"));
  EXPECT_FALSE(matches(R"({"duration":{"$gte":30}})", R"({"duration":""})"));
}

TEST(FilterOperators, ComparisonsOnStringsAreLexical) {
  EXPECT_TRUE(matches(R"({"t":{"$gt":"b"}})", R"({"t":"c"})"));
  EXPECT_FALSE(matches(R"({"t":{"$gt":"b"}})", R"({"t":"a"})"));
  EXPECT_TRUE(matches(R"({"t":{"$lt":"9"}})", R"({"t":"10"})"));
  EXPECT_TRUE(matches(R"({"at":{"$gte":"2024-01-01"}})", R"({"at":"2024-03-05 10:00:00"})"));
  EXPECT_FALSE(matches(R"({"at":{"$lt":"2024-01-01"}})", R"({"at":"2024-03-05 10:00:00"})"));
}

TEST(FilterOperators, ComparisonsOnOtherTypesNeverMatch) {
  EXPECT_FALSE(matches(R"({"n":{"$gte":0}})", R"({"n":true})"));
  EXPECT_FALSE(matches(R"({"n":{"$lte":0}})", R"({"n":null})"));
  EXPECT_FALSE(matches(R"({"n":{"$gte":0}})", R"({"n":[1]})"));
  EXPECT_FALSE(matches(R"({"n":{"$gte":0}})", R"({"n":{"v":1}})"));
  EXPECT_FALSE(matches(R"({"n":{"$gte":0}})", R"({})"));
  EXPECT_FALSE(matches(R"({"n":{"$lt":1}})", R"({})"));
}

TEST(FilterOperators, InAsOneOf) {
  EXPECT_TRUE(matches(R"({"id":{"$in":[123,456]}})", R"({"id":123})"));
  EXPECT_FALSE(matches(R"({"id":{"$in":[123,456]}})", R"({"id":789})"));
  EXPECT_TRUE(matches(R"({"id":{"$in":[123,456]}})", R"({"id":"456"})"));
  EXPECT_TRUE(matches(R"({"s":{"$in":["ANSWERED","BUSY"]}})", R"({"s":"BUSY"})"));
  EXPECT_FALSE(matches(R"({"s":{"$in":["ANSWERED","BUSY"]}})", R"({"s":"ANSWER"})"));
  EXPECT_FALSE(matches(R"({"s":{"$in":["a"]}})", R"({"s":["a"]})"));
  EXPECT_FALSE(matches(R"({"s":{"$in":["a"]}})", R"({})"));
}

TEST(FilterOperators, InAsContains) {
  EXPECT_TRUE(matches(R"({"t":{"$in":"text"}})", R"({"t":"some-text"})"));
  EXPECT_FALSE(matches(R"({"t":{"$in":"nope"}})", R"({"t":"some-text"})"));
  EXPECT_TRUE(matches(R"({"roles":{"$in":"admin"}})", R"({"roles":["user","admin"]})"));
  EXPECT_FALSE(matches(R"({"roles":{"$in":"admin"}})", R"({"roles":["user"]})"));
  EXPECT_FALSE(matches(R"({"n":{"$in":"4"}})", R"({"n":45})"));
  EXPECT_TRUE(matches(R"({"$in":"/webhooks"})", R"("/api/webhooks/calls")"));
}

TEST(FilterOperators, Nin) {
  EXPECT_FALSE(matches(R"({"id":{"$nin":[123,456]}})", R"({"id":123})"));
  EXPECT_TRUE(matches(R"({"id":{"$nin":[123,456]}})", R"({"id":789})"));
  EXPECT_FALSE(matches(R"({"t":{"$nin":"some"}})", R"({"t":"some-text"})"));
  EXPECT_TRUE(matches(R"({"t":{"$nin":"other"}})", R"({"t":"some-text"})"));
  EXPECT_FALSE(matches(R"({"tags":{"$nin":"spam"}})", R"({"tags":["ok","spam"]})"));
  EXPECT_TRUE(matches(R"({"tags":{"$nin":"spam"}})", R"({"tags":["ok"]})"));
  EXPECT_TRUE(matches(R"({"tags":{"$nin":"spam"}})", R"({})"));
  // Where $in does not apply, $nin does not match either.
  EXPECT_FALSE(matches(R"({"o":{"$nin":"x"}})", R"({"o":{"x":1}})"));
}

TEST(FilterOperators, StartsWithAndEndsWith) {
  EXPECT_TRUE(matches(R"({"t":{"$startsWith":"some"}})", R"({"t":"some-text"})"));
  EXPECT_FALSE(matches(R"({"t":{"$startsWith":"text"}})", R"({"t":"some-text"})"));
  EXPECT_TRUE(matches(R"({"t":{"$endsWith":"text"}})", R"({"t":"some-text"})"));
  EXPECT_FALSE(matches(R"({"t":{"$endsWith":"some"}})", R"({"t":"some-text"})"));
  EXPECT_TRUE(matches(R"({"t":{"$startsWith":["x","some"]}})", R"({"t":"some-text"})"));
  EXPECT_FALSE(matches(R"({"t":{"$startsWith":["x","y"]}})", R"({"t":"some-text"})"));
  EXPECT_TRUE(matches(R"({"t":{"$endsWith":["x","text"]}})", R"({"t":"some-text"})"));
  EXPECT_FALSE(matches(R"({"t":{"$startsWith":"1"}})", R"({"t":123})"));
  EXPECT_FALSE(matches(R"({"t":{"$startsWith":"t"}})", R"({"t":{"more":true}})"));
  EXPECT_FALSE(matches(R"({"t":{"$startsWith":"t"}})", R"({})"));
}

TEST(FilterOperators, Exist) {
  EXPECT_TRUE(matches(R"({"t":{"$exist":true}})", R"({"t":"else"})"));
  EXPECT_FALSE(matches(R"({"t":{"$exist":false}})", R"({"t":"else"})"));
  EXPECT_FALSE(matches(R"({"t":{"$exist":true}})", R"({"u":"else"})"));
  EXPECT_TRUE(matches(R"({"t":{"$exist":false}})", R"({"u":"else"})"));
  // Present with a null value still exists.
  EXPECT_TRUE(matches(R"({"t":{"$exist":true}})", R"({"t":null})"));
  EXPECT_FALSE(matches(R"({"t":{"$exist":false}})", R"({"t":null})"));
  EXPECT_TRUE(matches(R"({"t":{"$exist":true,"$startsWith":"https://"}})", R"({"t":"https://x"})"));
  EXPECT_FALSE(matches(R"({"t":{"$exist":true,"$startsWith":"https://"}})", R"({"t":"http://x"})"));
}

TEST(FilterOperators, Or) {
  EXPECT_TRUE(matches(R"({"status":{"$or":["active","pending"]}})", R"({"status":"pending"})"));
  EXPECT_FALSE(matches(R"({"status":{"$or":["active","pending"]}})", R"({"status":"closed"})"));
  EXPECT_TRUE(matches(R"({"$or":[{"type":"a"},{"kind":"b"}]})", R"({"kind":"b"})"));
  EXPECT_FALSE(matches(R"({"$or":[{"type":"a"},{"kind":"b"}]})", R"({"type":"b","kind":"a"})"));
  EXPECT_TRUE(matches(R"({"$or":[1,2]})", "1"));
  EXPECT_FALSE(matches(R"({"$or":[2,3]})", "1"));
  EXPECT_TRUE(
      matches(R"({"t":{"$or":[{"s":true},{"s":{"$in":"else"}}]}})", R"({"t":{"s":"else"}})"));
}

TEST(FilterOperators, And) {
  EXPECT_TRUE(matches(R"({"amount":{"$and":[{"$gte":100},{"$lte":500}]}})", R"({"amount":250})"));
  EXPECT_FALSE(matches(R"({"amount":{"$and":[{"$gte":100},{"$lte":500}]}})", R"({"amount":501})"));
  EXPECT_TRUE(matches(R"({"$and":[{"a":1},{"b":2}]})", R"({"a":1,"b":2})"));
  EXPECT_FALSE(matches(R"({"$and":[{"a":1},{"b":2}]})", R"({"a":1,"b":3})"));
  EXPECT_FALSE(matches(R"({"$and":[1,2]})", "1"));
  EXPECT_FALSE(matches(R"({"t":{"$and":[{"s":{"$neq":null}},{"s":{"$in":"else"}}]}})",
                       R"({"t":{"s":null}})"));
}

TEST(FilterOperators, Not) {
  EXPECT_TRUE(matches(R"({"$not":{"status":"deleted"}})", R"({"status":"active"})"));
  EXPECT_FALSE(matches(R"({"$not":{"status":"deleted"}})", R"({"status":"deleted"})"));
  EXPECT_TRUE(matches(R"({"$not":{"status":"deleted"}})", R"({})"));
  EXPECT_TRUE(matches(R"({"a":{"$not":{"$gte":10}}})", R"({"a":5})"));
  EXPECT_FALSE(matches(R"({"a":{"$not":{"$gte":10}}})", R"({"a":50})"));
  EXPECT_TRUE(matches(R"({"$not":{"$in":"/health"}})", R"("/calls")"));
  EXPECT_FALSE(matches(R"({"$not":{"$in":"/health"}})", R"("/healthz")"));
}

// Hookdeck's own cases: a plain value under $not means "not equal to it".
TEST(FilterOperators, NotPlainValueIsNotEqual) {
  EXPECT_FALSE(matches(R"({"$not":"created"})", R"("created")"));
  EXPECT_TRUE(matches(R"({"$not":2})", "1"));
  EXPECT_TRUE(matches(R"({"$not":true})", R"({"test":true})"));
  EXPECT_FALSE(matches(R"({"type":{"$not":"created"}})", R"({"type":"created"})"));
  EXPECT_TRUE(matches(R"({"type":{"$not":"created"}})", R"({"type":"updated"})"));
  // callhook's equality: a number equals a string holding it, null and booleans only themselves.
  EXPECT_FALSE(matches(R"({"Call.Duration":{"$not":45}})", R"({"Call.Duration":"45"})"));
  EXPECT_TRUE(matches(R"({"Call.Duration":{"$not":45}})", R"({"Call.Duration":"46"})"));
  EXPECT_FALSE(matches(R"({"a":{"$not":null}})", R"({"a":null})"));
  EXPECT_TRUE(matches(R"({"a":{"$not":false}})", R"({"a":null})"));
}

// A plain-value $not is exactly $neq, whatever the document, arrays and missing fields included.
TEST(FilterOperators, NotPlainValueAgreesWithNeq) {
  const char* documents[] = {
      R"({"a":"x"})", R"({"a":["x","y"]})", R"({"a":["x"]})", R"({"a":{"x":1}})", R"({"a":null})",
      R"({"a":"1"})", R"({"a":1})",         R"({})",          R"({"a":[["x"]]})", R"({"b":"x"})",
  };
  const char* values[] = {R"("x")", "1", "null", "true", R"(["x"])", R"({"x":1})"};
  for (const char* document : documents) {
    for (const char* value : values) {
      const std::string with_not = std::string(R"({"a":{"$not":)") + value + "}}";
      const std::string with_neq = std::string(R"({"a":{"$neq":)") + value + "}}";
      EXPECT_EQ(matches(with_not, document), matches(with_neq, document))
          << with_not << " against " << document;
    }
  }
  // Against an array both compare the whole array: it is not equal to "x" even holding "x".
  EXPECT_TRUE(matches(R"({"a":{"$not":"x"}})", R"({"a":["x","y"]})"));
  EXPECT_FALSE(matches(R"({"a":{"$not":["x","y"]}})", R"({"a":["x","y"]})"));
  // "Does not contain" is $nin with the value, or $not of an object filter.
  EXPECT_FALSE(matches(R"({"a":{"$nin":"x"}})", R"({"a":["x","y"]})"));
  EXPECT_FALSE(matches(R"({"$not":{"a":"x"}})", R"({"a":["x","y"]})"));
  EXPECT_TRUE(matches(R"({"$not":{"a":"z"}})", R"({"a":["x","y"]})"));
}

// An operand the operator cannot use makes it false, as in Hookdeck; the filter stays valid.
TEST(FilterOperators, UncomparableOperandsAreFalse) {
  EXPECT_FALSE(matches(R"({"test":{"$gt":[1,2,3]}})", R"({"test":1})"));
  EXPECT_FALSE(matches(R"({"x":{"$gte":true}})", R"({"x":true})"));
  EXPECT_FALSE(matches(R"({"x":{"$lt":null}})", R"({"x":null})"));
  EXPECT_FALSE(matches(R"({"x":{"$lte":{"a":1}}})", R"({"x":{"a":1}})"));
  EXPECT_FALSE(matches(R"({"b":{"$in":5}})", R"({"b":[5]})"));
  EXPECT_FALSE(matches(R"({"b":{"$nin":5}})", R"({"b":[6]})"));
  EXPECT_FALSE(matches(R"({"b":{"$nin":{"a":1}}})", R"({})"));  // even where the field is missing
  EXPECT_FALSE(matches(R"({"x":{"$startsWith":1}})", R"({"x":"1"})"));
  EXPECT_FALSE(matches(R"({"x":{"$endsWith":["a",2]}})", R"({"x":"a"})"));
  EXPECT_FALSE(matches(R"({"x":{"$exist":"yes"}})", R"({"x":1})"));
  EXPECT_FALSE(matches(R"({"x":{"$exist":1}})", R"({})"));
  // False, not poison: the rest of the filter still counts.
  EXPECT_TRUE(matches(R"({"x":{"$not":{"$gt":[1]}}})", R"({"x":5})"));
  EXPECT_TRUE(matches(R"({"$or":[{"x":{"$gt":[1]}},{"x":5}]})", R"({"x":5})"));
  EXPECT_TRUE(check_filter(j(R"({"test":{"$gt":[1,2,3]}})")).empty());
}

TEST(FilterOperators, Composition) {
  // Hookdeck's documented "allow messages except some subtypes and teams" example.
  const std::string filter = R"({
    "event": {"type": "message"},
    "$not": {"$or": [
      {"event": {"subtype": {"$or": ["message_changed", "message_deleted"]}}},
      {"team_id": {"$or": ["team1", "team2"]}}
    ]}
  })";
  EXPECT_TRUE(matches(filter, R"({"event":{"type":"message"},"team_id":"team9"})"));
  EXPECT_FALSE(matches(filter, R"({"event":{"type":"message"},"team_id":"team2"})"));
  EXPECT_FALSE(
      matches(filter, R"({"event":{"type":"message","subtype":"message_deleted"},"team_id":"t"})"));
  EXPECT_FALSE(matches(filter, R"({"event":{"type":"reaction"},"team_id":"team9"})"));

  const std::string answered_long = R"({
    "$or": [{"Call.Disposition": "ANSWERED"}, {"Call.Disposition": "VOICEMAIL"}],
    "Call.Duration": {"$gte": 30}
  })";
  EXPECT_TRUE(matches(answered_long, R"({"Call.Disposition":"ANSWERED","Call.Duration":"45"})"));
  EXPECT_FALSE(matches(answered_long, R"({"Call.Disposition":"ANSWERED","Call.Duration":"12"})"));
  EXPECT_FALSE(matches(answered_long, R"({"Call.Disposition":"BUSY","Call.Duration":"45"})"));
}

// ---------------------------------------------------------------------------------------------
// Missing fields

TEST(FilterMissing, OnlyAbsenceFriendlyOperatorsMatch) {
  const std::string doc = R"({"other":1})";
  EXPECT_FALSE(matches(R"({"f":"x"})", doc));
  EXPECT_FALSE(matches(R"({"f":null})", doc));
  EXPECT_FALSE(matches(R"({"f":{"$eq":"x"}})", doc));
  EXPECT_FALSE(matches(R"({"f":{"$in":["x"]}})", doc));
  EXPECT_FALSE(matches(R"({"f":{"$endsWith":"x"}})", doc));
  EXPECT_FALSE(matches(R"({"f":{"$exist":true}})", doc));
  EXPECT_TRUE(matches(R"({"f":{"$exist":false}})", doc));
  EXPECT_TRUE(matches(R"({"f":{"$neq":"x"}})", doc));
  EXPECT_TRUE(matches(R"({"f":{"$nin":["x"]}})", doc));
  EXPECT_TRUE(matches(R"({"f":{"$not":{"$eq":"x"}}})", doc));
  EXPECT_TRUE(matches(R"({"f":{"$not":"x"}})", doc));  // as $neq
  EXPECT_TRUE(matches(R"({"f":{"$not":null}})", doc));
  EXPECT_TRUE(matches(R"({"f":{"$or":[{"$exist":false},"x"]}})", doc));
}

TEST(FilterMissing, AbsencePropagatesBelowMissingParents) {
  EXPECT_TRUE(matches(R"({"a":{"b":{"$exist":false}}})", R"({})"));
  EXPECT_FALSE(matches(R"({"a":{"b":1}})", R"({})"));
  EXPECT_TRUE(matches(R"({"t":{"t1":{"t2":{"$exist":false}}}})", R"({"t":{"t1":{"t3":"x"}}})"));
  EXPECT_FALSE(matches(R"({"t":{"t1":{"t2":{"$exist":true}}}})", R"({"t":{"t1":{"t3":"x"}}})"));
  // A present non-object is not an absent one.
  EXPECT_FALSE(matches(R"({"a":{"b":{"$exist":false}}})", R"({"a":5})"));
}

// ---------------------------------------------------------------------------------------------
// Dotted keys

TEST(FilterDotted, LiteralKeysWin) {
  EXPECT_TRUE(matches(R"({"Call.Disposition":"ANSWERED"})", R"({"Call.Disposition":"ANSWERED"})"));
  EXPECT_FALSE(matches(R"({"Call.Disposition":"ANSWERED"})", R"({"Call.Disposition":"BUSY"})"));
  // Both spellings present: the literal key decides.
  EXPECT_TRUE(matches(R"({"a.b":1})", R"({"a.b":1,"a":{"b":2}})"));
  EXPECT_FALSE(matches(R"({"a.b":2})", R"({"a.b":1,"a":{"b":2}})"));
}

TEST(FilterDotted, ResolvesNestedPaths) {
  EXPECT_TRUE(
      matches(R"({"call.disposition":"ANSWERED"})", R"({"call":{"disposition":"ANSWERED"}})"));
  EXPECT_FALSE(matches(R"({"call.disposition":"ANSWERED"})", R"({"call":{"disposition":"BUSY"}})"));
  EXPECT_TRUE(matches(R"({"a.b.c":{"$gte":3}})", R"({"a":{"b":{"c":"4"}}})"));
  // The longest literal prefix is taken: "Call.From" then "Number".
  EXPECT_TRUE(matches(R"({"Call.From.Number":"+1555"})", R"({"Call.From":{"Number":"+1555"}})"));
  // A literal key containing the rest is found below a prefix.
  EXPECT_TRUE(matches(R"({"x.Call.From":"y"})", R"({"x":{"Call.From":"y"}})"));
}

TEST(FilterDotted, ArraysAndMissingOnTheWay) {
  EXPECT_TRUE(matches(R"({"items.sku":"b"})", R"({"items":[{"sku":"a"},{"sku":"b"}]})"));
  EXPECT_FALSE(matches(R"({"items.sku":"c"})", R"({"items":[{"sku":"a"},{"sku":"b"}]})"));
  EXPECT_TRUE(matches(R"({"a.b":{"$exist":false}})", R"({})"));
  EXPECT_TRUE(matches(R"({"a.b":{"$exist":false}})", R"({"a":{}})"));
  EXPECT_FALSE(matches(R"({"a.b":{"$exist":true}})", R"({"a":{}})"));
  EXPECT_FALSE(matches(R"({"a.b":{"$exist":false}})", R"({"a":5})"));
  EXPECT_FALSE(matches(R"({"a.b":1})", R"({"a":1})"));
}

// ---------------------------------------------------------------------------------------------
// check_filter

TEST(FilterCheck, ValidFiltersHaveNoDiagnostics) {
  for (const char* text : {
           R"({})",
           R"("text")",
           R"([1, {"$eq": 2}])",
           R"({"a": {"$gte": 1, "$lt": "9"}, "b": {"$in": [1, "x"]}, "c": {"$nin": "x"}})",
           R"({"a": {"$startsWith": ["x", "y"]}, "b": {"$endsWith": "z"}})",
           R"({"a": {"$exist": false}, "$or": [{"b": 1}, 2], "$and": [{"c": {"$neq": [1]}}]})",
           R"({"$not": {"a": {"$eq": {"deep": [1, 2]}}}})",
       }) {
    EXPECT_EQ(pointers(text), Pointers{}) << text;
  }
}

TEST(FilterCheck, UnknownOperators) {
  EXPECT_EQ(pointers(R"({"a":{"$foo":1}})"), Pointers{"/a/$foo"});
  EXPECT_EQ(pointers(R"({"$regex":"x"})"), Pointers{"/$regex"});
  EXPECT_EQ(pointers(R"({"a":{"$ref":"b"}})"), Pointers{"/a/$ref"});
  EXPECT_EQ(pointers(R"({"$or":[{"a":{"$bad":1}}]})"), Pointers{"/$or/0/a/$bad"});
  EXPECT_EQ(pointers(R"([{"$bad":1}])"), Pointers{"/0/$bad"});
}

TEST(FilterCheck, OperandShapes) {
  EXPECT_EQ(pointers(R"({"$or":{"a":1}})"), Pointers{"/$or"});
  EXPECT_EQ(pointers(R"({"x":{"$and":"a"}})"), Pointers{"/x/$and"});
  EXPECT_EQ(pointers(R"({"x":{"$or":[]}})"), Pointers{"/x/$or"});
  // A plain value under $not is valid (not equal to it); below an object it is a filter.
  EXPECT_EQ(pointers(R"({"$not":[{"a":1}]})"), Pointers{});
  EXPECT_EQ(pointers(R"({"x":{"$not":"a"}})"), Pointers{});
  EXPECT_EQ(pointers(R"({"x":{"$not":{"$bad":1}}})"), Pointers{"/x/$not/$bad"});
}

// The pointers of every warning, in order; also checks their code.
std::vector<std::string> warning_pointers(std::string_view filter) {
  std::vector<std::string> out;
  for (const Diagnostic& d : check_filter_warnings(j(filter))) {
    EXPECT_EQ(d.code, "uncomparable_operand");
    EXPECT_NE(d.message.find("false"), std::string::npos) << d.message;
    out.push_back(d.field);
  }
  return out;
}

TEST(FilterCheck, UncomparableOperandsAreWarningsNotErrors) {
  for (const char* filter :
       {R"({"x":{"$in":5}})", R"({"x":{"$nin":{"a":1}}})", R"({"x":{"$gt":true}})",
        R"({"x":{"$lte":[1]}})", R"({"x":{"$exist":"yes"}})", R"({"x":{"$startsWith":1}})",
        R"({"x":{"$endsWith":["a",2]}})"}) {
    EXPECT_EQ(pointers(filter), Pointers{}) << filter;
  }
  EXPECT_EQ(warning_pointers(R"({"x":{"$in":5}})"), Pointers{"/x/$in"});
  EXPECT_EQ(warning_pointers(R"({"x":{"$nin":{"a":1}}})"), Pointers{"/x/$nin"});
  EXPECT_EQ(warning_pointers(R"({"x":{"$gt":true}})"), Pointers{"/x/$gt"});
  EXPECT_EQ(warning_pointers(R"({"x":{"$lte":[1]}})"), Pointers{"/x/$lte"});
  EXPECT_EQ(warning_pointers(R"({"x":{"$exist":"yes"}})"), Pointers{"/x/$exist"});
  EXPECT_EQ(warning_pointers(R"({"x":{"$startsWith":1}})"), Pointers{"/x/$startsWith"});
  EXPECT_EQ(warning_pointers(R"({"x":{"$endsWith":["a",2]}})"), Pointers{"/x/$endsWith/1"});
  EXPECT_EQ(warning_pointers(R"({"$or":[{"a/b":{"$gt":[1]}},{"$not":{"c":{"$exist":0}}}]})"),
            (Pointers{"/$or/0/a~1b/$gt", "/$or/1/$not/c/$exist"}));
  EXPECT_EQ(warning_pointers(R"({"x":{"$gt":1,"$in":[1],"$startsWith":["a"],"$exist":true}})"),
            Pointers{});
  const std::vector<Diagnostic> w = check_filter_warnings(j(R"({"test":{"$gt":[1,2,3]}})"));
  ASSERT_EQ(w.size(), 1U);
  EXPECT_NE(w[0].message.find("$gt"), std::string::npos) << w[0].message;
}

TEST(FilterCheck, ReportsEveryProblemWithEscapedPointers) {
  EXPECT_EQ(pointers(R"({"a/b":{"$x":1},"m~n":{"$regex":true},"ok":1,"$or":5})"),
            (Pointers{"/$or", "/a~1b/$x", "/m~0n/$regex"}));
  const std::vector<Diagnostic> d = check_filter(j(R"({"a":{"$foo":1}})"));
  ASSERT_EQ(d.size(), 1U);
  EXPECT_NE(d[0].message.find("$foo"), std::string::npos);
}

TEST(FilterCheck, InvalidFiltersMatchNothing) {
  EXPECT_FALSE(matches(R"({"$not":{"$bogus":1}})", R"({"a":1})"));
  EXPECT_FALSE(matches(R"({"a":1,"b":{"$ref":"a"}})", R"({"a":1,"b":1})"));
  EXPECT_FALSE(matches(R"({"$or":[]})", R"({})"));
}

// {"a":{"a":...{"a":1}}} with `objects` nested objects: the 1 sits `objects` levels deep.
std::string nested_filter(int objects) {
  std::string s;
  for (int i = 0; i < objects; ++i) s += R"({"a":)";
  s += "1";
  s.append(static_cast<std::size_t>(objects), '}');
  return s;
}

TEST(FilterCheck, DepthLimit) {
  const std::string at_limit = nested_filter(kMaxFilterDepth);
  EXPECT_EQ(pointers(at_limit), Pointers{});
  EXPECT_TRUE(matches(at_limit, at_limit));

  const std::string too_deep = nested_filter(kMaxFilterDepth + 1);
  const std::vector<std::string> p = pointers(too_deep);
  ASSERT_EQ(p.size(), 1U);
  std::string expected;
  for (int i = 0; i < kMaxFilterDepth; ++i) expected += "/a";
  EXPECT_EQ(p[0], expected);
  EXPECT_FALSE(matches(too_deep, too_deep));

  std::string dotted = "a";
  for (int i = 0; i < kMaxFilterDepth; ++i) dotted += ".a";
  EXPECT_EQ(pointers(R"({")" + dotted + R"(":1})"), Pointers{"/" + dotted});
}

TEST(FilterCheck, DeepDocumentsDoNotOverflow) {
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += "[";
  deep += "1";
  for (int i = 0; i < 20000; ++i) deep += "]";
  const json doc = j(deep);
  EXPECT_FALSE(filter_matches(j("1"), doc));
  EXPECT_FALSE(filter_matches(j(R"({"$eq":1})"), doc));
  EXPECT_FALSE(filter_matches(j(R"({"$in":1})"), doc));
  EXPECT_TRUE(filter_matches(j(R"({"$exist":true})"), doc));
}

}  // namespace
}  // namespace callhook
