// The conflicts of a call's two events: merged_correlation (what `event` routes see, found by
// find_conflicts without building the merged call) must list exactly what the merge of
// merged_view lists, for events that agree, differ at a leaf, hold a null against a value, fill
// each other in, or disagree in shape.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "callhook/correlate.h"
#include "correlation_view.h"

namespace callhook {
namespace {

using nlohmann::json;

json conflicts_seen_by_event_routes(const std::string& complete, const std::string& initiate) {
  CallRecord record;
  record.key = "AC1:CA1";
  record.complete = SeenEvent{100, complete};
  record.initiate = SeenEvent{50, initiate};
  return detail::merged_correlation(record, nullptr, nullptr)["conflicts"];
}

json conflicts_of_the_merged_call(const std::string& complete, const std::string& initiate) {
  CallRecord record;
  record.key = "AC1:CA1";
  record.complete = SeenEvent{100, complete};
  record.initiate = SeenEvent{50, initiate};
  return detail::merged_view(record, nullptr, nullptr)["correlation"]["conflicts"];
}

TEST(CorrelationConflicts, EventRoutesSeeTheMergedCallsConflicts) {
  const std::string base =
      R"({"event":"Call.Complete","account":{"sid":"AC1"},"call":{"sid":"CA1","from":{"number":"+14155550101","city":null},"duration":95,"prompts":{"keys":["1","2"]}},"attribution":{"source":"google"}})";
  const std::initializer_list<std::pair<const char*, std::string>> cases = {
      {"the same event but for its name",
       R"({"event":"Call.Initiate","account":{"sid":"AC1"},"call":{"sid":"CA1","from":{"number":"+14155550101","city":null},"duration":95,"prompts":{"keys":["1","2"]}},"attribution":{"source":"google"}})"},
      {"a leaf that differs",
       R"({"event":"Call.Initiate","account":{"sid":"AC1"},"call":{"sid":"CA1","from":{"number":"+14155550199"}}})"},
      {"a number that differs", R"({"event":"Call.Initiate","call":{"duration":96}})"},
      {"an array that differs", R"({"event":"Call.Initiate","call":{"prompts":{"keys":["1"]}}})"},
      {"a value where the Complete has null",
       R"({"event":"Call.Initiate","call":{"from":{"city":"Paris"}}})"},
      {"a null where the Complete has a value",
       R"({"event":"Call.Initiate","attribution":{"source":null}})"},
      {"what only the Initiate knows",
       R"({"event":"Call.Initiate","session":{"landing_uri":"https://x.example/"},"google":{"ads_click_id":"g"}})"},
      {"an object where the Complete has a leaf",
       R"({"event":"Call.Initiate","attribution":{"source":{"name":"google"}}})"},
      {"a leaf where the Complete has an object",
       R"({"event":"Call.Initiate","call":{"from":"+14155550101"}})"},
      {"a leaf under a name the Complete also has as a prefix",
       R"({"event":"Call.Initiate","call":{"sid-x":"y","from":{"number":"+14155550101"}}})"},
      {"several conflicts, written out of their sorted order",
       R"({"event":"Call.Initiate","call":{"sid":"CA1","from":{"number":"+1","city":"Oslo"},"duration":"95"},"account":{"sid":"AC2"}})"},
      {"an escaped string that differs, and one that agrees",
       R"({"event":"Call.Initiate","call":{"sid":"C\"A1","from":{"number":"+1415555\u00e90101"}},"attribution":{"source":"go\u006fgle"}})"},
      {"a key with an escape", R"({"event":"Call.Initiate","call":{"s\u0069d":"CA9"}})"},
      {"the same number written as a float",
       R"({"event":"Call.Initiate","call":{"duration":95.0}})"},
      {"a nested key named event", R"({"event":"Call.Initiate","call":{"event":"x","sid":"CA2"}})"},
      {"an empty object and an empty array",
       R"({"event":"Call.Initiate","call":{"prompts":{},"from":[]},"account":{}})"},
      {"not JSON", "nope"},
      {"cut short", R"({"event":"Call.Initiate","call":{"sid":)"},
      {"cut short in a string", R"({"event":"Call.Initiate","call":{"sid":"CA)"},
      {"not an object", R"(["Call.Initiate"])"},
  };
  const json complete = json::parse(base);
  for (const auto& [name, initiate] : cases) {
    // Read from the Initiate's text, without its DOM, unless the text is no JSON object.
    json from_text = json::array();
    const bool json_text = json::parse(initiate, nullptr, false).is_object();
    EXPECT_EQ(detail::conflicts_from_text(complete, initiate, from_text), json_text) << name;
    if (json_text) EXPECT_EQ(from_text, conflicts_of_the_merged_call(base, initiate)) << name;
    EXPECT_EQ(conflicts_seen_by_event_routes(base, initiate),
              conflicts_of_the_merged_call(base, initiate))
        << name;
  }
  EXPECT_TRUE(conflicts_seen_by_event_routes(base, cases.begin()->second).empty());
  EXPECT_EQ(conflicts_seen_by_event_routes(base, (cases.begin() + 1)->second).size(), 1U);
  // Listed in the order of their paths, key by key, whatever the order of the Initiate's text.
  const json several = conflicts_seen_by_event_routes(base, (cases.begin() + 10)->second);
  ASSERT_EQ(several.size(), 3U);  // not call.from.city: a null in the Complete is filled in
  EXPECT_EQ(several[0]["path"], "account.sid");
  EXPECT_EQ(several[1]["path"], "call.duration");
  EXPECT_EQ(several[1]["initiate"], "95");
  EXPECT_EQ(several[2]["path"], "call.from.number");
}

}  // namespace
}  // namespace callhook
