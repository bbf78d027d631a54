// An engine builds the filter context of `event` routes from what its config can read of the
// request (ContextPlan): the names worked out from filters, templates and formats, and the same
// decisions, deliveries and bodies as an engine that puts every parameter, header and query pair
// in.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "callhook/engine.h"
#include "callhook/render.h"
#include "routing.h"
#include "vector_support.h"

namespace callhook {
namespace {

using nlohmann::json;

bool has(const ContextPlan::Part& part, std::string_view name) {
  return std::find(part.names.begin(), part.names.end(), name) != part.names.end();
}

ContextPlan plan_of(const char* text) {
  ConfigResult parsed = parse_config(text, nullptr);
  EXPECT_TRUE(parsed.config) << (parsed.errors.empty() ? "" : parsed.errors.front().message);
  if (!parsed.config) return {};
  compile_templates(*parsed.config);
  EXPECT_TRUE(parsed.config->context_plan);
  return parsed.config->context_plan ? *parsed.config->context_plan : ContextPlan{};
}

TEST(ContextPlan, NamesWhatFiltersTemplatesAndFormatsCanRead) {
  const ContextPlan plan = plan_of(R"({
    "destinations": {
      "crm": {"format": "template", "url": "http://127.0.0.1:9/crm", "options": {"body": {
        "a": "{{ Call.From.City }}", "b": "{{ headers.x-test | default:1 }}", "c": "{{ call.sid }}",
        "d": ["{{ query.q.r }}"]}}},
      "ads": {"format": "google-ads", "url": "http://127.0.0.1:9/ads",
              "options": {"conversion_action": "customers/1/conversionActions/2"}}
    },
    "routes": [
      {"name": "a", "when": {"Event": "Call.Complete", "call": {"Sid": "x"},
                             "$or": [{"fields.Custom.One": "1"}, {"$not": {"Zed": "z"}}]},
       "to": ["crm"]},
      {"name": "b", "when": {"headers.x-other": {"$exist": true}}, "to": ["ads"]}
    ]})");
  EXPECT_FALSE(plan.correlation);
  EXPECT_FALSE(plan.fields.all);
  for (const char* name : {"Event", "Call.From.City", "Call.From", "Call", "Custom.One", "Custom",
                           "Zed", "gbraid", "Google.AdWords.GBraid", "wbraid"}) {
    EXPECT_TRUE(has(plan.fields, name)) << name;
  }
  EXPECT_FALSE(has(plan.fields, "Sid"));  // under `call`, the canonical event's, not a field
  EXPECT_FALSE(has(plan.fields, "ga_session_id"));  // no GA4 destination
  EXPECT_FALSE(plan.headers.all);
  EXPECT_TRUE(has(plan.headers, "x-test"));
  EXPECT_TRUE(has(plan.headers, "x-other"));
  EXPECT_FALSE(plan.query.all);
  EXPECT_TRUE(has(plan.query, "q.r"));
  EXPECT_TRUE(has(plan.query, "q"));

  // A whole object named: all of it.
  const ContextPlan whole = plan_of(R"({
    "destinations": {"crm": {"format": "template", "url": "http://127.0.0.1:9/crm",
                             "options": {"body": {"all": "{{ fields }}",
                                                  "c": "{{ correlation.state }}"}}}},
    "routes": [{"name": "a", "when": {"headers": {"x": "1"}}, "to": ["crm"]}]})");
  EXPECT_TRUE(whole.correlation);
  EXPECT_TRUE(whole.fields.all);
  EXPECT_TRUE(whole.headers.all);
  EXPECT_FALSE(whole.query.all);
  EXPECT_TRUE(whole.query.names.empty());
}

// examples/payloads' Initiate and Complete, mutated, through routes whose filters and templates
// read parameters, headers and the query: the same outcomes with the plan as without.
// The config below with `extra` routes added.
constexpr const char* kRequestReading = R"({
    "correlation": {"abandon_after_seconds": 600, "retention_seconds": 3600},
    "destinations": {
      "crm": {"format": "template", "url": "http://127.0.0.1:9/crm", "options": {"body": {
        "id": "{{ Call.Sid }}", "city": "{{ fields.Call.From.City }}", "q": "{{ query.x }}",
        "h": "{{ headers.x-test }}", "n": "{{ call.duration | default:0 }}", "z": "{{ Zed }}"}}},
      "ga4": {"format": "ga4", "url": "http://127.0.0.1:9/ga4",
              "options": {"params": {"p": "{{ Call.To.Name }}"}}},
      "ads": {"format": "google-ads", "url": "http://127.0.0.1:9/ads",
              "options": {"conversion_action": "customers/1/conversionActions/2"}},
      "slack": {"format": "slack", "url": "http://127.0.0.1:9/slack"}
    },
    "routes": [
      {"name": "all", "to": ["crm", "ga4", "ads"]},
      {"name": "hq", "when": {"headers.x-test": "yes", "query": {"x": {"$exist": true}}},
       "to": ["slack"]},
      {"name": "or", "when": {"$or": [{"fields.Only.In.Or": "x"}, {"Or.Top": "abc"},
                                      {"$not": {"headers": {"x-not": "45"}}}]}, "to": ["crm"]},
      {"name": "q", "when": {"query.x": {"$in": ["0", "45"]}, "Zed": {"$exist": true}},
       "to": ["slack"]}EXTRA
    ]})";

void expect_same_decisions(const std::string& extra) {
  std::string text = kRequestReading;
  text.replace(text.find("EXTRA"), 5, extra);
  ConfigResult parsed = parse_config(text, nullptr);
  ASSERT_TRUE(parsed.config);
  const Engine whole(*parsed.config);  // no plan: every parameter, header and query pair
  const auto planned = Engine::from_config(text, nullptr);
  ASSERT_TRUE(planned);

  const std::string forms[] = {
      testing::read_file(testing::source_path("examples/payloads/initiate.form")),
      testing::read_file(testing::source_path("examples/payloads/complete.form"))};
  const std::vector<std::string> values = {"", "x", "yes", "abc", "0", "45", "%FF", "GA1.2.3.4"};
  const std::vector<std::string> names = {"Zed",           "Call.From.City", "gbraid",
                                          "ga_session_id", "Call.To.Name",   "lower",
                                          "Only.In.Or",    "Or.Top"};
  std::mt19937 random(99);
  int matched = 0;
  for (int n = 0; n < 400; ++n) {
    std::optional<std::string> record;
    for (const std::string& form : forms) {
      Request request;
      request.url = "/hook?x=" + values[random() % values.size()];
      request.body = form;
      for (int k = static_cast<int>(random() % 4); k > 0; --k) {
        request.body +=
            "&" + names[random() % names.size()] + "=" + values[random() % values.size()];
      }
      request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                         {"X-Test", values[random() % values.size()]},
                         {"X-Not", values[random() % values.size()]}};
      const Outcome a = whole.handle(request, 1714533342, record);
      const Outcome b = planned->handle(request, 1714533342, record);
      std::string text_a, text_b;
      write_outcome_json(a, text_a);
      write_outcome_json(b, text_b);
      ASSERT_EQ(text_a, text_b) << request.url << " " << request.body;
      for (const RouteDecision& r : a.routes) matched += r.matched && r.name != "all";
      record = a.record;
    }
  }
  EXPECT_GT(matched, 100);  // the filters that read the request matched, and failed to, often
}

TEST(ContextPlan, DecidesAsTheWholeContextDoes) {
  expect_same_decisions("");  // nothing reads `correlation`: it is not worked out
  expect_same_decisions(R"(,
      {"name": "c", "when": {"correlation.state": {"$exist": true}}, "to": ["slack"]},
      {"name": "d", "when": {"correlation": {"conflicts": {"$exist": false}}}, "to": ["crm"]})");
}

}  // namespace
}  // namespace callhook
