// Destinations render the same with their templates compiled (as Engine::from_config does) as
// with the templates read from their options on every render.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "callhook/config.h"
#include "callhook/render.h"

namespace callhook {
namespace {

using nlohmann::json;

TEST(CompiledRender, EveryTemplatedOptionRendersAsReadEachTime) {
  const char* text = R"({
    "destinations": {
      "crm": {"format": "template", "url": "http://127.0.0.1:9/crm", "options": {"body": {
        "lead": "{{ call.sid }}", "who": "{{ call.from.number | default:\"unknown\" }}",
        "note": "{{ call.duration }}s from {{ call.from.city | upper }}", "fixed": [1, {"a": null}],
        "ms": "{{ call.start_date | epoch_ms }}"}}},
      "ga4": {"format": "ga4", "url": "http://127.0.0.1:9/ga4", "options": {
        "session_id": "{{ fields.sid | default:\"s-1\" }}",
        "params": {"campaign_id": "{{ fields.cid }}", "label": "call {{ call.sid | lower }}",
                   "fixed": 7}}},
      "meta": {"format": "meta-capi", "options": {"pixel_id": "123", "access_token": "t",
        "custom_data": {"value": "{{ call.duration }}", "currency": "EUR",
                        "content_name": "{{ attribution.campaign | default:\"none\" }}"}}}
    },
    "routes": [{"name": "all", "to": ["crm", "ga4", "meta"]}]})";
  ConfigResult parsed = parse_config(text, nullptr);
  ASSERT_TRUE(parsed.config) << (parsed.errors.empty() ? "" : parsed.errors.front().message);
  const Config plain = *parsed.config;
  Config compiled = *parsed.config;
  compile_templates(compiled);

  const json context = json::parse(R"({
    "event": "Call.Complete",
    "call": {"sid": "CA1B", "duration": 95, "start_date": "2024-05-01T03:15:42Z",
             "from": {"number": "+14155550101", "city": "Paris"}},
    "attribution": {"source": "google"}, "google": {"analytics_client_id": "123.456"},
    "fields": {"sid": "GS1.1", "cid": "c-9", "Google.Analytics.ClientId": "123.456"}})");
  const std::string canonical = context.dump();
  ASSERT_EQ(plain.destinations.size(), compiled.destinations.size());
  for (std::size_t i = 0; i < plain.destinations.size(); ++i) {
    const Destination& without = plain.destinations[i];
    const Destination& with = compiled.destinations[i];
    EXPECT_EQ(without.templates, nullptr);
    ASSERT_NE(with.templates, nullptr) << with.name;
    const Rendered a = render(without, canonical, context, 1714533400);
    const Rendered b = render(with, canonical, context, 1714533400);
    EXPECT_EQ(a.skipped, b.skipped) << with.name;
    EXPECT_EQ(a.body, b.body) << with.name;
    EXPECT_TRUE(b.skipped.empty()) << with.name << ": " << b.skipped;
  }
  // The templates were read: the bodies carry what they asked for.
  const auto body = [&](std::size_t i) {
    return json::parse(render(compiled.destinations[i], canonical, context, 1714533400).body);
  };
  EXPECT_EQ(body(0)["note"], "95s from PARIS");
  EXPECT_EQ(body(0)["who"], "+14155550101");
  const json ga4 = body(1)["events"][0]["params"];
  EXPECT_EQ(ga4["label"], "call ca1b");
  EXPECT_EQ(ga4["campaign_id"], "c-9");
  EXPECT_EQ(ga4["session_id"], "GS1.1");
  EXPECT_EQ(body(2)["data"][0]["custom_data"],
            json::parse(R"({"value": 95, "currency": "EUR", "content_name": "none"})"));
}

}  // namespace
}  // namespace callhook
