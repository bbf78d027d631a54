// The senders' tables and translations (core/src/senders.cpp): each sender's webhook read onto
// the spec's parameters, its findings in the sender's own words, and what the engine does with
// sources (paths, auth, record keys).
#include "callhook/senders.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "callhook/decode.h"
#include "callhook/engine.h"
#include "callhook/pipeline.h"

namespace callhook {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1736874300;  // 2025-01-14T17:05:00Z

struct Read {
  Report report;
  json event;
};

Read read(SenderFormat sender, std::string_view method, std::string_view url,
          std::string_view content_type, std::string_view body, Mode mode = Mode::lenient,
          std::string_view path_event = {}, const SenderSettings* custom = nullptr) {
  SenderSettings settings;
  settings.sender = sender;
  settings.source = "src";
  settings.mode = mode;
  PipelineOptions options;
  options.sender = custom != nullptr ? custom : &settings;
  options.path_event = path_event;
  options.now = kNow;
  PayloadSource source;
  source.method = method;
  source.url = url;
  source.content_type = content_type;
  source.body = body;
  Inspection inspection;
  inspect(source, options, inspection);
  Read out;
  out.report = inspection.report;
  std::string text;
  if (write_inspected_json(inspection.fields, inspection.report, options, text)) {
    out.event = json::parse(text);
  }
  return out;
}

bool has_error(const Report& r, std::string_view field, std::string_view code) {
  for (const Diagnostic& d : r.errors) {
    if (d.field == field && d.code == code) return true;
  }
  return false;
}
bool has_warning(const Report& r, std::string_view field, std::string_view code) {
  for (const Diagnostic& d : r.warnings) {
    if (d.field == field && d.code == code) return true;
  }
  return false;
}

constexpr std::string_view kTwilioComplete =
    "AccountSid=AC00000000000000000000000000000001&ApiVersion=2010-04-01"
    "&CallSid=CA00000000000000000000000000000042&CallStatus=completed&CallDuration=95"
    "&From=%2B14155550101&To=%2B14155550199&Direction=inbound&SequenceNumber=0"
    "&Timestamp=Tue%2C+14+Jan+2025+17%3A03%3A05+%2B0000&FromCity=SAN+FRANCISCO&FromState=CA"
    "&FromCountry=US";

TEST(Senders, TwilioCompleteMapsOntoTheCanonicalEvent) {
  const Read r = read(SenderFormat::twilio, "POST", "/hook/src",
                      "application/x-www-form-urlencoded", kTwilioComplete, Mode::strict);
  ASSERT_TRUE(r.report.valid) << r.report.errors.size();
  EXPECT_EQ(r.event["source"], json({{"name", "src"}, {"sender", "twilio"}}));
  EXPECT_EQ(r.event["event"], "Call.Complete");
  EXPECT_EQ(r.event["account"]["sid"], "AC00000000000000000000000000000001");
  EXPECT_EQ(r.event["call"]["sid"], "CA00000000000000000000000000000042");
  // The Timestamp is when the call ended; it started CallDuration earlier.
  EXPECT_EQ(r.event["call"]["start_date"], "2025-01-14T17:01:30Z");
  EXPECT_EQ(r.event["call"]["duration"], 95);
  EXPECT_EQ(r.event["call"]["disposition"], "ANSWERED");
  EXPECT_EQ(r.event["call"]["from"]["number"], "+14155550101");
  EXPECT_EQ(r.event["call"]["from"]["city"], "SAN FRANCISCO");
  EXPECT_EQ(r.event["call"]["to"]["number"], "+14155550199");
  EXPECT_EQ(r.event["extra"]["Direction"], "inbound");
  EXPECT_EQ(r.event["extra"]["SequenceNumber"], "0");
  EXPECT_EQ(r.event["property"]["sid"], "src");
}

TEST(Senders, TwilioStatusesGiveEventAndDisposition) {
  const std::string base =
      "AccountSid=AC1&CallSid=CA1&From=%2B14155550101&To=%2B14155550199&CallStatus=";
  for (const auto& [status, event, disposition] :
       std::initializer_list<std::tuple<std::string, std::string, std::string>>{
           {"initiated", "Call.Initiate", ""},
           {"ringing", "Call.Initiate", ""},
           {"in-progress", "Call.Initiate", ""},
           {"completed", "Call.Complete", "ANSWERED"},
           {"busy", "Call.Complete", "BUSY"},
           {"no-answer", "Call.Complete", "NO ANSWER"},
           {"canceled", "Call.Complete", "NO ANSWER"},
           {"failed", "Call.Complete", "FAILED"}}) {
    const Read r = read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
                        base + status, Mode::strict);
    ASSERT_TRUE(r.report.valid) << status;
    EXPECT_EQ(r.event["event"], event) << status;
    if (!disposition.empty()) {
      EXPECT_EQ(r.event["call"]["disposition"], disposition) << status;
      // Without a CallDuration (never answered) the call lasted 0 seconds; without a Timestamp
      // it started when it was received, less its duration.
      EXPECT_EQ(r.event["call"]["duration"], 0) << status;
    } else {
      EXPECT_FALSE(r.event["call"].contains("disposition")) << status;
    }
    EXPECT_EQ(r.event["call"]["start_date"], "2025-01-14T17:05:00Z") << status;
  }
}

TEST(Senders, TwilioWithheldAndSipCallersAreAnonymous) {
  for (const std::string from : {"%2B266696687", "anonymous", "%2B86282452253", ""}) {
    const Read r =
        read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
             "AccountSid=AC1&CallSid=CA1&CallStatus=ringing&To=%2B14155550199&From=" + from);
    ASSERT_TRUE(r.report.valid) << from;
    EXPECT_TRUE(r.event["call"]["from"]["number"].is_null()) << from;
    EXPECT_EQ(r.event["call"]["from"]["anonymous"], true) << from;
  }
  const Read sip = read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
                        "AccountSid=AC1&CallSid=CA1&CallStatus=ringing&To=%2B14155550199"
                        "&From=sip%3Aalice%40example.com");
  ASSERT_TRUE(sip.report.valid);
  EXPECT_TRUE(has_warning(sip.report, "From", "caller_not_a_number"));
  EXPECT_EQ(sip.event["call"]["from"]["anonymous"], true);
}

TEST(Senders, TwilioFindingsNameTwilioFields) {
  const Read missing = read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
                            "AccountSid=AC1&CallStatus=completed&From=%2B14155550101"
                            "&To=%2B14155550199");
  EXPECT_FALSE(missing.report.valid);
  EXPECT_TRUE(has_error(missing.report, "CallSid", "missing"));
  EXPECT_EQ(missing.report.event, EventType::complete);  // refused, but its event is known

  const Read bad_status =
      read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
           "AccountSid=AC1&CallSid=CA1&CallStatus=exploded");
  EXPECT_TRUE(has_error(bad_status.report, "CallStatus", "unknown_event"));

  // A value the spec refuses is reported under the Twilio field it came from.
  const Read bad_to = read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
                           "AccountSid=AC1&CallSid=CA1&CallStatus=ringing&From=%2B14155550101"
                           "&To=client%3Abob");
  EXPECT_FALSE(bad_to.report.valid);
  EXPECT_TRUE(has_error(bad_to.report, "To", "bad_e164"));

  const Read bad_time = read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
                             "AccountSid=AC1&CallSid=CA1&CallStatus=ringing&From=%2B14155550101"
                             "&To=%2B14155550199&Timestamp=yesterday");
  EXPECT_TRUE(has_error(bad_time.report, "Timestamp", "bad_datetime"));

  const Read bad_duration =
      read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
           "AccountSid=AC1&CallSid=CA1&CallStatus=completed"
           "&From=%2B14155550101&To=%2B14155550199&CallDuration=long");
  EXPECT_TRUE(has_error(bad_duration.report, "CallDuration", "not_integer"));
}

TEST(Senders, StrictModeRefusesFieldsTheSenderDoesNotDocument) {
  const std::string body = std::string(kTwilioComplete) + "&Surprise=1";
  const Read strict = read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
                           body, Mode::strict);
  EXPECT_FALSE(strict.report.valid);
  EXPECT_TRUE(has_error(strict.report, "Surprise", "unknown_field"));
  const Read lenient = read(SenderFormat::twilio, "POST", "/", "application/x-www-form-urlencoded",
                            body, Mode::lenient);
  ASSERT_TRUE(lenient.report.valid);
  EXPECT_TRUE(has_warning(lenient.report, "Surprise", "unknown_field"));
  EXPECT_EQ(lenient.event["extra"]["Surprise"], "1");
}

constexpr std::string_view kCallRailPostCall = R"({
  "id": 900000101, "resource_id": "CAL00000000000000000000000000000101", "answered": true,
  "business_phone_number": "+14155550150", "call_type": "answered",
  "company_id": "COM00000000000000000000000000000007", "company_name": "Example Plumbing",
  "customer_city": "San Francisco", "customer_country": "US", "customer_name": "Pat Example",
  "customer_phone_number": "+14155550101", "customer_state": "CA", "direction": "inbound",
  "duration": "95", "gclid": "EAIaIQobChMI-fake-gclid", "keywords": "emergency plumber",
  "landing_page_url": "https://www.example.com/plumbing?gclid=EAIaIQobChMI-fake-gclid",
  "medium": "cpc", "campaign": "winter", "source": "Google Ads", "source_name": "Website Pool",
  "start_time": "2025-01-14T09:01:30.000-08:00", "tags": [],
  "keypad_entries": [{"name": "menu", "value": "1"}],
  "tracking_phone_number": "+14155550199", "utm_campaign": "winter", "utm_content": "ad-a",
  "utm_medium": "cpc", "utm_source": "google", "value": null, "voicemail": false,
  "ga": "GA1.2.1234567890.1736870000"
})";

TEST(Senders, CallRailPostCallMapsOntoTheCanonicalEvent) {
  const Read r = read(SenderFormat::callrail, "POST", "/", "application/json", kCallRailPostCall,
                      Mode::strict);
  ASSERT_TRUE(r.report.valid) << (r.report.errors.empty() ? "" : r.report.errors[0].message);
  EXPECT_EQ(r.event["event"], "Call.Complete");
  EXPECT_EQ(r.event["call"]["sid"], "CAL00000000000000000000000000000101");
  EXPECT_EQ(r.event["account"]["sid"], "COM00000000000000000000000000000007");
  EXPECT_EQ(r.event["property"]["name"], "Example Plumbing");
  EXPECT_EQ(r.event["call"]["start_date"], "2025-01-14T17:01:30Z");  // the offset honoured
  EXPECT_EQ(r.event["call"]["duration"], 95);                        // "95" read as a number
  EXPECT_EQ(r.event["call"]["disposition"], "ANSWERED");
  EXPECT_EQ(r.event["call"]["endpoint"], "+14155550150");
  EXPECT_EQ(r.event["call"]["to"]["name"], "Website Pool");
  EXPECT_EQ(r.event["attribution"]["source"], "google");  // utm_source before source
  EXPECT_EQ(r.event["session"]["traffic_type"], "Campaign");
  EXPECT_EQ(r.event["session"]["keywords"], "emergency plumber");
  EXPECT_EQ(r.event["google"]["ads_click_id"], "EAIaIQobChMI-fake-gclid");
  EXPECT_EQ(r.event["google"]["analytics_client_id"], "1234567890.1736870000");
  // An array of objects is left out rather than refusing the webhook.
  EXPECT_FALSE(r.event["extra"].contains("keypad_entries"));
  EXPECT_EQ(r.event["extra"]["call_type"], "answered");
}

TEST(Senders, CallRailPathWordsAndCallTypeTellTheEvent) {
  const Read pre = read(SenderFormat::callrail, "POST", "/", "application/json",
                        R"({"resource_id":"CAL1","company_id":"COM1","answered":false,
                            "customer_phone_number":"+14155550101","call_type":"missed",
                            "tracking_phone_number":"+14155550199","duration":0,
                            "start_time":"2025-01-14T09:01:30-08:00"})",
                        Mode::strict, "pre-call");
  ASSERT_TRUE(pre.report.valid);
  EXPECT_EQ(pre.event["event"], "Call.Initiate");
  EXPECT_FALSE(pre.event["call"].contains("duration"));

  const Read missed = read(SenderFormat::callrail, "POST", "/", "application/json",
                           R"({"resource_id":"CAL1","company_id":"COM1","answered":false,
                               "voicemail":true,"customer_phone_number":"",
                               "tracking_phone_number":"+14155550199","duration":"12",
                               "start_time":"2025-01-14T17:01:30Z"})");
  ASSERT_TRUE(missed.report.valid);
  EXPECT_EQ(missed.event["event"], "Call.Complete");
  EXPECT_EQ(missed.event["call"]["disposition"], "NO ANSWER");
  EXPECT_EQ(missed.event["call"]["from"]["anonymous"], true);
  // No geo at all: the canonical event says null, as for Voice Webhooks.
  EXPECT_TRUE(missed.event["call"]["from"]["city"].is_null());

  const Read in_progress = read(SenderFormat::callrail, "POST", "/", "application/json",
                                R"({"resource_id":"CAL1","company_id":"COM1",
                                    "call_type":"in_progress",
                                    "customer_phone_number":"+14155550101",
                                    "tracking_phone_number":"+14155550199",
                                    "start_time":"2025-01-14T17:01:30Z"})");
  ASSERT_TRUE(in_progress.report.valid);
  EXPECT_EQ(in_progress.event["event"], "Call.Initiate");
}

TEST(Senders, CallRailFindings) {
  const Read no_id = read(SenderFormat::callrail, "POST", "/", "application/json",
                          R"({"company_id":"COM1","customer_phone_number":"+14155550101",
                              "tracking_phone_number":"+14155550199",
                              "start_time":"2025-01-14T17:01:30Z"})");
  EXPECT_TRUE(has_error(no_id.report, "resource_id", "missing"));
  const Read bad_start = read(SenderFormat::callrail, "POST", "/", "application/json",
                              R"({"id":1,"company_id":"COM1","customer_phone_number":"+1415",
                                  "tracking_phone_number":"+14155550199",
                                  "start_time":"14/01/2025"})");
  EXPECT_TRUE(has_error(bad_start.report, "start_time", "bad_datetime"));
  const Read no_account = read(SenderFormat::callrail, "POST", "/", "application/json",
                               R"({"id":1,"customer_phone_number":"+14155550101",
                                   "tracking_phone_number":"+14155550199",
                                   "start_time":"2025-01-14T17:01:30Z"})");
  EXPECT_TRUE(has_error(no_account.report, "company_resource_id", "missing"));
  // The config's defaults fill what the sender does not send.
  SenderSettings settings;
  settings.sender = SenderFormat::callrail;
  settings.source = "cr";
  settings.defaults = {{"Account.Sid", "agency-1"}};
  const Read defaulted = read(SenderFormat::callrail, "POST", "/", "application/json",
                              R"({"id":1,"customer_phone_number":"+14155550101",
                                  "tracking_phone_number":"+14155550199",
                                  "start_time":"2025-01-14T17:01:30Z"})",
                              Mode::lenient, {}, &settings);
  ASSERT_TRUE(defaulted.report.valid);
  EXPECT_EQ(defaulted.event["account"]["sid"], "agency-1");
  EXPECT_EQ(defaulted.event["call"]["sid"], "1");
}

TEST(Senders, CtmEndAndStart) {
  const Read end = read(SenderFormat::ctm, "POST", "/", "application/json",
                        R"({"id":100000201,"account_id":40001,"duration":110,"talk_time":95,
                            "ring_time":15,"called_at":"2025-01-14 09:01 AM -08:00",
                            "tracking_number":"+14155550199","tracking_label":"Website Pool",
                            "business_number":"+14155550150","dial_status":"completed",
                            "caller_number":"+14155550101","city":"San Francisco",
                            "state":"CA","country":"US","source":"Google Ads",
                            "location":"https://www.example.com/plumbing",
                            "audio":"https://calltrackingmetrics.com/r/RE0",
                            "ga":{"gclid":"EAIaIQobChMI-fake-gclid"},
                            "call_path":[{"route_name":"menu"}]})",
                        Mode::strict);
  ASSERT_TRUE(end.report.valid) << (end.report.errors.empty() ? "" : end.report.errors[0].field);
  EXPECT_EQ(end.event["event"], "Call.Complete");
  EXPECT_EQ(end.event["call"]["sid"], "100000201");
  EXPECT_EQ(end.event["account"]["sid"], "40001");
  EXPECT_EQ(end.event["call"]["start_date"], "2025-01-14T17:01:00Z");  // called_at's minute
  EXPECT_EQ(end.event["call"]["disposition"], "ANSWERED");
  EXPECT_EQ(end.event["call"]["recording_uri"], "https://calltrackingmetrics.com/r/RE0");
  EXPECT_EQ(end.event["google"]["ads_click_id"], "EAIaIQobChMI-fake-gclid");
  EXPECT_EQ(end.event["extra"]["talk_time"], "95");

  const Read start = read(SenderFormat::ctm, "POST", "/", "application/json",
                          R"({"id":7,"account_id":40001,"unix_time":1736874090,
                              "tracking_number":"+14155550199","caller_number":"+14155550101"})");
  ASSERT_TRUE(start.report.valid);
  EXPECT_EQ(start.event["event"], "Call.Initiate");
  EXPECT_EQ(start.event["call"]["start_date"], "2025-01-14T17:01:30Z");

  for (const auto& [status, disposition] :
       std::initializer_list<std::pair<std::string, std::string>>{
           {"busy", "BUSY"}, {"no-answer", "NO ANSWER"}, {"failed", "FAILED"}}) {
    const Read r = read(SenderFormat::ctm, "POST", "/", "application/json",
                        R"({"id":8,"account_id":1,"unix_time":1736874090,"talk_time":0,
                            "tracking_number":"+14155550199","caller_number":"anonymous",
                            "dial_status":")" +
                            status + "\"}",
                        Mode::lenient, "end");
    ASSERT_TRUE(r.report.valid) << status;
    EXPECT_EQ(r.event["call"]["disposition"], disposition) << status;
    EXPECT_EQ(r.event["call"]["from"]["anonymous"], true);
  }
}

TEST(Senders, RingbaPixelsWithTheirRolesAndConfiguredNames) {
  SenderSettings settings;
  settings.sender = SenderFormat::ringba;
  settings.source = "rb";
  settings.defaults = {{"Call.To", "+14155550199"}};
  settings.fields = {{"call_id", "cid"}};
  const Read fin = read(SenderFormat::ringba, "GET",
                        "/hook/rb?event=finalized&cid=00000000-0000-4000-8000-000000000301"
                        "&caller=14155550101&duration=0&start=1736874000&utm_source=google",
                        {}, "", Mode::strict, {}, &settings);
  ASSERT_TRUE(fin.report.valid) << (fin.report.errors.empty() ? "" : fin.report.errors[0].field);
  EXPECT_EQ(fin.event["event"], "Call.Complete");
  EXPECT_EQ(fin.event["call"]["sid"], "00000000-0000-4000-8000-000000000301");
  EXPECT_EQ(fin.event["call"]["from"]["number"], "+14155550101");  // Number-NoPlus
  EXPECT_EQ(fin.event["call"]["disposition"], "NO ANSWER");        // finalized, never connected
  EXPECT_EQ(fin.event["account"]["sid"], "rb");
  EXPECT_EQ(fin.event["call"]["start_date"], "2025-01-14T17:00:00Z");
  EXPECT_EQ(fin.event["attribution"]["source"], "google");

  const Read no_to = read(SenderFormat::ringba, "GET",
                          "/hook/rb?event=incoming&call_id=X1&caller=%2B14155550101", {}, "");
  EXPECT_TRUE(has_error(no_to.report, "tracking_number", "missing"));
  const Read no_event = read(SenderFormat::ringba, "GET", "/hook/rb?call_id=X1", {}, "");
  EXPECT_TRUE(has_error(no_event.report, "event", "unknown_event"));
  const Read error = read(SenderFormat::ringba, "GET",
                          "/hook/rb?event=error&call_id=X1&caller=%2B14155550101"
                          "&tracking_number=%2B14155550199&start=01/14/2025%2005:01:30%20PM",
                          {}, "");
  ASSERT_TRUE(error.report.valid);
  EXPECT_EQ(error.event["call"]["disposition"], "FAILED");
  EXPECT_EQ(error.event["call"]["start_date"], "2025-01-14T17:01:30Z");
}

TEST(Senders, TablesAreDocumented) {
  for (const SenderFormat s : sender_formats()) {
    EXPECT_EQ(parse_sender_format(to_string(s)), s);
    EXPECT_FALSE(sender_revision(s).empty());
    for (const SenderField& f : sender_fields(s)) {
      EXPECT_FALSE(f.rule.empty()) << f.name;
      if (!f.target.empty()) {
        EXPECT_TRUE(find_spec_field(f.target)) << f.name << " -> " << f.target;
      }
    }
  }
  EXPECT_NE(sender_fields_markdown(SenderFormat::twilio).find("| `CallSid` |"), std::string::npos);
  EXPECT_FALSE(parse_sender_format("fonedynamics"));
}

// ---- the engine with sources -------------------------------------------------------------

Engine engine(std::string_view config) {
  std::vector<Diagnostic> errors;
  auto e = Engine::from_config(
      config, [](std::string_view) { return std::nullopt; }, &errors);
  EXPECT_TRUE(e.has_value()) << (errors.empty() ? "" : errors[0].field + " " + errors[0].message);
  return std::move(*e);
}

Request post(std::string url, std::string content_type, std::string body) {
  Request r;
  r.url = std::move(url);
  r.headers.push_back({"Content-Type", std::move(content_type)});
  r.body = std::move(body);
  return r;
}

TEST(Senders, EngineRoutesByPathAndKeysRecordsBySource) {
  const Engine e = engine(R"({
    "auth": {"token": {"value": "top-secret", "in": "path"}},
    "sources": {
      "tw": {"sender": "twilio", "auth": {"token": {"value": "tw-secret", "in": "path"}}},
      "cr": {"sender": "callrail"}
    },
    "correlation": {"enabled": true}
  })");
  // The source's own token, not the config's, lets a request in.
  const Outcome ok = e.handle(
      post("/hook/tw/tw-secret", "application/x-www-form-urlencoded", std::string(kTwilioComplete)),
      kNow);
  EXPECT_EQ(ok.response.status, 200) << ok.response.body;
  EXPECT_EQ(ok.record_key,
            "tw:AC00000000000000000000000000000001:"
            "CA00000000000000000000000000000042");
  const Outcome wrong = e.handle(post("/hook/tw/top-secret", "application/x-www-form-urlencoded",
                                      std::string(kTwilioComplete)),
                                 kNow);
  EXPECT_EQ(wrong.response.status, 401);
  // /hook itself is the config's own Voice Webhooks endpoint, as before sources.
  const Outcome own = e.handle(
      post("/hook/top-secret", "application/x-www-form-urlencoded", "Action=Webhook"), kNow);
  EXPECT_EQ(own.response.status, 400);
  EXPECT_NE(own.response.body.find("Event"), std::string::npos);
  // A path word after the source's name says which CallRail webhook it is.
  const Outcome pre = e.handle(post("/hook/cr/pre-call", "application/json",
                                    R"({"resource_id":"CAL1","company_id":"COM1",
                                        "customer_phone_number":"+14155550101",
                                        "tracking_phone_number":"+14155550199",
                                        "start_time":"2025-01-14T17:01:30Z"})"),
                               kNow);
  EXPECT_EQ(pre.response.status, 200) << pre.response.body;
  EXPECT_EQ(pre.report.event, EventType::initiate);
  EXPECT_EQ(pre.record_key, "cr:COM1:CAL1");
  // Absolute-form targets name their source the same way.
  const Outcome absolute =
      e.handle(post("https://hooks.example.com/hook/cr/post-call", "application/json",
                    R"({"resource_id":"CAL1","company_id":"COM1",
                                             "customer_phone_number":"+14155550101",
                                             "tracking_phone_number":"+14155550199",
                                             "start_time":"2025-01-14T17:01:30Z"})"),
               kNow);
  EXPECT_EQ(absolute.report.event, EventType::complete);
}

TEST(Senders, ConfigChecksSources) {
  std::vector<Diagnostic> errors;
  const auto e = Engine::from_config(
      R"({"sources": {"Bad Name": {"sender": "twilio"}, "x": {"sender": "fonedynamics"},
                      "y": {"sender": "twilio", "fields": {"call_id": "c"}},
                      "z": {"sender": "ringba", "fields": {"nonsense": "c"},
                            "defaults": {"Event": "Call.Complete", "Call.To": 5}}}})",
      [](std::string_view) { return std::nullopt; }, &errors);
  EXPECT_FALSE(e.has_value());
  const auto has = [&](std::string_view field, std::string_view code) {
    for (const Diagnostic& d : errors) {
      if (d.field == field && d.code == code) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("/sources/Bad Name", "bad_value"));
  EXPECT_TRUE(has("/sources/x/sender", "bad_value"));
  EXPECT_TRUE(has("/sources/y/fields", "bad_value"));
  EXPECT_TRUE(has("/sources/z/fields/nonsense", "bad_value"));
  EXPECT_TRUE(has("/sources/z/defaults/Event", "bad_value"));
  EXPECT_TRUE(has("/sources/z/defaults/Call.To", "wrong_type"));
}

TEST(Senders, DecodingLeavesOutArraysOfObjectsOnlyWhenAsked) {
  FieldList out;
  EXPECT_TRUE(decode_json(R"({"a":[{"b":1}],"c":"d"})", Limits{}, out).has_value());
  out.clear();
  EXPECT_FALSE(
      decode_json(R"({"a":[1,{"b":[2,{"x":3}]},[4]],"c":"d","e":[5,6]})", Limits{}, out, true));
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out.name(0), "c");
  EXPECT_EQ(out.value(0), "d");
  EXPECT_EQ(out.name(1), "e");
  EXPECT_EQ(out.value(1), "5,6");
}

}  // namespace
}  // namespace callhook
