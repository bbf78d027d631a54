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
      {"not JSON", "nope"},
  };
  for (const auto& [name, initiate] : cases) {
    EXPECT_EQ(conflicts_seen_by_event_routes(base, initiate),
              conflicts_of_the_merged_call(base, initiate))
        << name;
  }
  EXPECT_TRUE(conflicts_seen_by_event_routes(base, cases.begin()->second).empty());
  EXPECT_EQ(conflicts_seen_by_event_routes(base, (cases.begin() + 1)->second).size(), 1U);
}

}  // namespace
}  // namespace callhook
