// Engine::rerender: with the config that sent them, every delivery of a call (event, complete and
// abandoned routes) renders again byte for byte from the stored record alone; with a fixed
// template it renders the new body under the same idempotency key; and each refusal has its code.
#include <gtest/gtest.h>

#include "callhook/engine.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1714533342;

std::optional<std::string> secret(std::string_view name) {
  if (name == "GA4_API_SECRET") return std::string("ga4-secret-value");
  return std::nullopt;
}

// Filters and templates on spec names (rebuilt from the canonical event), canonical paths, the
// correlation facts and the merged call; a GA4 destination; a route of each trigger.
json base_config() {
  return json::parse(R"({
    "correlation": {"abandon_after_seconds": 600, "retention_seconds": 86400},
    "destinations": {
      "log": {"format": "canonical", "url": "https://collector.example/calls"},
      "ga4": {"format": "ga4",
              "url": "https://ga4.example/mp/collect?api_secret=${GA4_API_SECRET}"},
      "crm": {"format": "template", "url": "https://crm.example/leads",
              "headers": {"X-Source": "callhook"},
              "options": {"body": {
                "id": "{{ call.sid }}", "seconds": "{{ Call.Duration }}",
                "start": "{{ Call.StartDate }}", "from": "{{ Call.From }}",
                "keys": "{{ Call.Prompts.Keys }}", "dimension": "{{ AnalyticsSession.CustomDimension1 }}",
                "unknown": "{{ X.Custom }}", "seen": "{{ correlation.initiate_seen }}",
                "source": "{{ attribution.source | upper }}", "event": "{{ Event }}"}}},
      "slack": {"format": "slack", "url": "https://hooks.slack.example/x"}
    },
    "routes": [
      {"name": "every", "to": ["log", "crm"]},
      {"name": "answered", "when": {"Call.Disposition": "ANSWERED", "Event": "Call.Complete"},
       "to": ["crm", "ga4"]},
      {"name": "done", "on": "complete", "when": {"call.duration": {"$gte": 30}},
       "to": ["crm", "ga4"]},
      {"name": "lost", "on": "abandoned", "to": ["slack", "crm"]}
    ]
  })");
}

Engine engine_for(const json& config) {
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(config.dump(), secret, &errors);
  EXPECT_TRUE(engine.has_value()) << (errors.empty() ? "" : errors[0].message);
  return std::move(*engine);
}

Request post(std::string body) {
  Request r;
  r.url = "/hook";
  r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  r.body = std::move(body);
  return r;
}

std::string payload(const std::string& name) {
  std::string text = read_file(source_path("examples/payloads/" + name));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string delivery_json(const Delivery& d) {
  std::string out;
  write_delivery_json(d, out);
  return out;
}

std::string event_of(const Delivery& d) {
  // Call.Sid:Call.Initiate:route -> Call.Initiate
  const std::string head = d.idempotency_key.substr(0, d.idempotency_key.rfind(':'));
  return head.substr(head.rfind(':') + 1);
}

Rerendered again(const Engine& engine, const std::string& record, const Delivery& d) {
  const std::string event = event_of(d);
  const std::string trigger = event == "complete" || event == "abandoned" ? event : "event";
  return engine.rerender(
      {record, d.route, d.destination, trigger, trigger == "event" ? event : ""});
}

struct Call {
  std::vector<Delivery> deliveries;
  std::string record;
};

// Initiate, then Complete (with an unknown parameter and keys pressed), the record folded along.
Call completed_call(const Engine& engine) {
  Call call;
  Outcome first = engine.handle(post(payload("initiate.form")), kNow);
  EXPECT_TRUE(first.record.has_value());
  Outcome second =
      engine.handle(post(payload("complete.form") + "&X.Custom=kept"), kNow + 30, first.record);
  EXPECT_TRUE(second.record.has_value());
  call.deliveries = first.deliveries;
  for (Delivery& d : second.deliveries) call.deliveries.push_back(std::move(d));
  call.record = *second.record;
  return call;
}

TEST(Rerender, EveryDeliveryOfACallRendersAgainExactly) {
  const Engine engine = engine_for(base_config());
  const Call call = completed_call(engine);
  // every: log+crm on both events; answered: crm+ga4; done: crm+ga4.
  ASSERT_EQ(call.deliveries.size(), 8u);
  for (const Delivery& d : call.deliveries) {
    const Rerendered r = again(engine, call.record, d);
    ASSERT_TRUE(r.delivery.has_value()) << d.idempotency_key << ": " << r.error.code;
    EXPECT_EQ(delivery_json(*r.delivery), delivery_json(d)) << d.idempotency_key;
  }
  // `correlation` is the call's as the record holds it now: the Initiate's delivery, rendered
  // again once the call completed, says so.
  json with_state = base_config();
  with_state["destinations"]["crm"]["options"]["body"]["state"] = "{{ correlation.state }}";
  const Rerendered now =
      engine_for(with_state).rerender({call.record, "every", "crm", "event", "Call.Initiate"});
  ASSERT_TRUE(now.delivery.has_value()) << now.error.code;
  EXPECT_EQ(json::parse(now.delivery->body)["state"], "completed");
  // The spec-named parameters were rebuilt as sent.
  const auto crm = std::find_if(call.deliveries.begin(), call.deliveries.end(), [](auto& d) {
    return d.route == "every" && d.destination == "crm" && event_of(d) == "Call.Complete";
  });
  const json body = json::parse(crm->body);
  EXPECT_EQ(body["seconds"], "187");
  EXPECT_EQ(body["start"], "2024-05-01 03:15:42");
  EXPECT_EQ(body["keys"], "1,94103");
  EXPECT_EQ(body["dimension"], "returning");
  EXPECT_EQ(body["unknown"], "kept");
}

TEST(Rerender, AnAbandonedCallRendersAsItWasWhenAbandoned) {
  json config = base_config();
  config["destinations"]["crm"]["options"]["body"]["state"] = "{{ correlation.state }}";
  const Engine engine = engine_for(config);
  const Outcome initiate = engine.handle(post(payload("initiate.form")), kNow);
  const Outcome swept = engine.sweep(*initiate.record, kNow + 601);
  ASSERT_TRUE(swept.record.has_value());
  ASSERT_EQ(swept.deliveries.size(), 2u);
  // A Complete that came after the sweep changes the record, not what the abandoned routes saw.
  const Outcome late = engine.handle(post(payload("complete.form")), kNow + 900, swept.record);
  ASSERT_TRUE(late.record.has_value());
  for (const std::string& record : {*swept.record, *late.record}) {
    for (const Delivery& d : swept.deliveries) {
      const Rerendered r = again(engine, record, d);
      ASSERT_TRUE(r.delivery.has_value()) << r.error.code;
      EXPECT_EQ(delivery_json(*r.delivery), delivery_json(d));
    }
  }
  const json crm = json::parse(swept.deliveries[1].body);
  EXPECT_EQ(crm["state"], "abandoned");
}

TEST(Rerender, AFixedTemplateRendersUnderTheSameKey) {
  const Engine old_engine = engine_for(base_config());
  const Call call = completed_call(old_engine);
  json fixed = base_config();
  fixed["destinations"]["crm"]["options"]["body"] = {{"lead", "{{ call.sid }}"},
                                                     {"minutes", "{{ call.duration }}"}};
  fixed["destinations"]["crm"]["headers"] = {{"X-Source", "callhook-v2"}};
  const Engine engine = engine_for(fixed);
  const auto done = std::find_if(call.deliveries.begin(), call.deliveries.end(), [](auto& d) {
    return d.route == "done" && d.destination == "crm";
  });
  ASSERT_NE(done, call.deliveries.end());
  const Rerendered r = engine.rerender({call.record, "done", "crm", "complete", ""});
  ASSERT_TRUE(r.delivery.has_value()) << r.error.code;
  EXPECT_EQ(r.delivery->idempotency_key, done->idempotency_key);
  EXPECT_EQ(r.delivery->call_sid, done->call_sid);
  EXPECT_EQ(r.delivery->record_key, done->record_key);
  EXPECT_EQ(r.delivery->trigger, "complete");
  EXPECT_EQ(r.delivery->body, R"({"lead":"CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c","minutes":187})");
  bool header = false;
  for (const HttpHeader& h : r.delivery->headers) {
    if (h.name == "X-Source") header = h.value == "callhook-v2";
    if (h.name == "Idempotency-Key") EXPECT_EQ(h.value, done->idempotency_key);
  }
  EXPECT_TRUE(header);
}

TEST(Rerender, RefusalsSayWhyWithAStableCode) {
  const Engine engine = engine_for(base_config());
  const Call call = completed_call(engine);
  const Outcome initiate_only = engine.handle(post(payload("initiate.form")), kNow);
  const std::string& rec = call.record;
  const auto code = [&](const RerenderRequest& request) {
    const Rerendered r = engine.rerender(request);
    EXPECT_FALSE(r.delivery.has_value());
    EXPECT_FALSE(r.error.message.empty());
    return r.error.code;
  };
  EXPECT_EQ(code({rec, "every", "log", "sometimes", ""}), "bad_trigger");
  EXPECT_EQ(code({rec, "every", "log", "event", "Call.Later"}), "bad_event");
  EXPECT_EQ(code({rec, "gone", "log", "event", "Call.Initiate"}), "unknown_route");
  EXPECT_EQ(code({rec, "done", "crm", "event", "Call.Complete"}), "route_trigger_changed");
  EXPECT_EQ(code({rec, "every", "nowhere", "event", "Call.Initiate"}), "unknown_destination");
  EXPECT_EQ(code({rec, "every", "ga4", "event", "Call.Initiate"}), "route_does_not_send_there");
  EXPECT_EQ(code({"{}", "every", "log", "event", "Call.Initiate"}), "bad_record");
  EXPECT_EQ(code({"not json", "done", "crm", "complete", ""}), "bad_record");
  EXPECT_EQ(code({*initiate_only.record, "every", "log", "event", "Call.Complete"}),
            "record_missing_event");
  EXPECT_EQ(code({*initiate_only.record, "done", "crm", "complete", ""}), "record_missing_event");
  EXPECT_EQ(code({rec, "lost", "crm", "abandoned", ""}), "record_missing_event");
  // The Initiate is no Complete: the `answered` filter does not match it.
  EXPECT_EQ(code({rec, "answered", "crm", "event", "Call.Initiate"}), "route_does_not_match");

  // GA4 needs a client id: a record whose events lack one renders nothing there.
  json record = json::parse(rec);
  record["complete"]["event"]["google"]["analytics_client_id"] = nullptr;
  record["initiate"]["event"]["google"]["analytics_client_id"] = nullptr;
  const Rerendered skipped = engine.rerender({record.dump(), "done", "ga4", "complete", ""});
  EXPECT_EQ(skipped.error.code, "destination_skipped");
  EXPECT_NE(skipped.error.message.find("ga4"), std::string::npos);
  // No message holds the secret.
  for (const char* trigger : {"event", "complete", "abandoned", "x"}) {
    const Rerendered r = engine.rerender({rec, "every", "ga4", trigger, "Call.Initiate"});
    EXPECT_EQ(r.error.message.find("ga4-secret-value"), std::string::npos);
  }
}

}  // namespace
}  // namespace callhook::testing
