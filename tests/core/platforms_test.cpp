// The platform formats against their contracts (the destinations contract): Google
// Ads' uploadClickConversions, GA4's Measurement Protocol and Meta's Conversions API. Each
// request is checked whole (URL, headers, body), each platform answer in the contract's own JSON
// shape is read into its verdict, and the config check refuses what the platforms would.
#include <gtest/gtest.h>

#include <map>

#include "callhook/engine.h"
#include "callhook/render.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

// The example call starts at 2024-05-01 03:15:42 UTC.
constexpr std::int64_t kStart = 1714533342;
constexpr std::int64_t kHour = 3600;

// The contract's own digests of its example number: Google hashes the E.164 form, Meta the
// digits without the +.
constexpr const char* kGooglePhoneHash =
    "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8";  // "+16505551212"
constexpr const char* kMetaPhoneHash =
    "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176";  // "16505551212"
constexpr const char* kMetaUsHash =
    "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621";  // "us"

std::optional<std::string> secret(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> secrets = {
      {"ADS_DEVELOPER_TOKEN", "dev-token-0123456789"},
      {"GA4_API_SECRET", "ga4/s3cret+value"},
      {"META_ACCESS_TOKEN", "EAAB-meta-token"},
  };
  const auto it = secrets.find(name);
  if (it == secrets.end()) return std::nullopt;
  return it->second;
}

std::string percent(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '.' ||
        u == '-' || u == '_') {
      out.push_back(c);
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// examples/payloads/complete.form with parameters replaced, added ("" value: removed).
std::string call_form(const std::map<std::string, std::string>& changes = {}) {
  std::string text = read_file(source_path("examples/payloads/complete.form"));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::vector<std::pair<std::string, std::string>> pairs;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t amp = text.find('&', pos);
    if (amp == std::string::npos) amp = text.size();
    const std::string pair = text.substr(pos, amp - pos);
    const std::size_t eq = pair.find('=');
    pairs.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
    pos = amp + 1;
  }
  std::map<std::string, std::string> left = changes;
  std::string out;
  const auto add = [&](const std::string& name, const std::string& encoded) {
    out += (out.empty() ? "" : "&") + name + "=" + encoded;
  };
  for (const auto& [name, value] : pairs) {
    const auto change = left.find(name);
    if (change == left.end()) {
      add(name, value);
      continue;
    }
    if (!change->second.empty()) add(name, percent(change->second));
    left.erase(change);
  }
  for (const auto& [name, value] : left) {
    if (!value.empty()) add(name, percent(value));
  }
  return out;
}

Engine engine_for(const json& destination, const std::string& name = "dest") {
  const json config = {{"destinations", {{name, destination}}},
                       {"routes", json::array({{{"name", "r"}, {"to", json::array({name})}}})}};
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(config.dump(), secret, &errors);
  EXPECT_TRUE(engine.has_value()) << (errors.empty() ? ""
                                                     : errors[0].field + ": " + errors[0].message);
  return std::move(*engine);
}

Outcome handle(const Engine& engine, const std::string& form, std::int64_t now = kStart) {
  Request r;
  r.url = "/hook";
  r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  r.body = form;
  return engine.handle(r, now);
}

// The one delivery `form` gives, or a failure naming why there is none.
Delivery deliver(const json& destination, const std::string& form, std::int64_t now = kStart) {
  const Engine engine = engine_for(destination);
  const Outcome out = handle(engine, form, now);
  if (out.deliveries.size() != 1) {
    std::string why;
    for (const RouteDecision& d : out.routes) {
      for (const std::string& s : d.skipped) why += s + "; ";
    }
    ADD_FAILURE() << "expected one delivery, got " << out.deliveries.size() << ": " << why;
    return {};
  }
  return out.deliveries[0];
}

// Why the destination did not take the call ("" when it did).
std::string skipped(const json& destination, const std::string& form) {
  const Engine engine = engine_for(destination);
  const Outcome out = handle(engine, form);
  EXPECT_TRUE(out.deliveries.empty());
  for (const RouteDecision& d : out.routes) {
    for (const std::string& s : d.skipped) return s;
  }
  return {};
}

json body_of(const Delivery& d) {
  return json::parse(d.body, nullptr, false);
}

std::vector<std::pair<std::string, std::string>> headers_of(const Delivery& d) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const HttpHeader& h : d.headers) out.emplace_back(h.name, h.value);
  return out;
}

AttemptAnswer answer(int status, const json& body) {
  AttemptAnswer a;
  a.status = status;
  a.body = body.is_string() ? body.get<std::string>() : body.dump();
  return a;
}

std::vector<std::pair<std::string, std::string>> config_errors(const json& destination) {
  const json config = {{"destinations", {{"d", destination}}},
                       {"routes", json::array({{{"name", "r"}, {"to", json::array({"d"})}}})}};
  const ConfigResult result = parse_config(config.dump(), secret);
  std::vector<std::pair<std::string, std::string>> out;
  for (const Diagnostic& d : result.errors) out.emplace_back(d.field, d.code);
  return out;
}

using Errors = std::vector<std::pair<std::string, std::string>>;

// ---- Google Ads ------------------------------------------------------------------------------

json ads_destination(json options = json::object()) {
  json o = {{"customer_id", "123-456-7890"}, {"conversion_action", "987654321"}};
  o.update(options);
  return {{"format", "google-ads"}, {"options", o}};
}

TEST(PlatformGoogleAds, UploadsOneClickConversionToGooglesUrl) {
  const Delivery d = deliver(ads_destination({{"developer_token", "${ADS_DEVELOPER_TOKEN}"},
                                              {"login_customer_id", "111-222-3333"},
                                              {"value", 120.5},
                                              {"currency", "eur"},
                                              {"consent", {{"ad_user_data", "GRANTED"}}}}),
                             call_form());
  EXPECT_EQ(d.method, "POST");
  EXPECT_EQ(d.url,
            "https://googleads.googleapis.com/v23/customers/1234567890:uploadClickConversions");
  using H = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(headers_of(d),
            (H{{"Content-Type", "application/json"},
               {"Idempotency-Key", "CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c:Call.Complete:r"},
               {"developer-token", "dev-token-0123456789"},
               {"login-customer-id", "1112223333"}}));
  EXPECT_EQ(body_of(d), json::parse(R"({
    "conversions": [{
      "gclid": "EAIaIQobChMIx8v2",
      "conversionAction": "customers/1234567890/conversionActions/987654321",
      "conversionDateTime": "2024-05-01 03:15:42+00:00",
      "conversionValue": 120.5,
      "currencyCode": "EUR",
      "orderId": "CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c",
      "consent": {"adUserData": "GRANTED"}
    }],
    "partialFailure": true
  })"));
  // Google Ads has no deadline of its own: a late click is its EXPIRED_EVENT to say.
  EXPECT_EQ(d.not_after_ms, 0);
}

TEST(PlatformGoogleAds, EndpointVersionAndResourceNameFromOptions) {
  const Delivery d =
      deliver(ads_destination({{"endpoint", "http://127.0.0.1:9400/ads/"},
                               {"version", 25},
                               {"customer_id", 1234567890},
                               {"conversion_action", "customers/1234567890/conversionActions/55"}}),
              call_form());
  EXPECT_EQ(d.url, "http://127.0.0.1:9400/ads/v25/customers/1234567890:uploadClickConversions");
  EXPECT_EQ(body_of(d)["conversions"][0]["conversionAction"],
            "customers/1234567890/conversionActions/55");
  EXPECT_EQ(body_of(d)["conversions"][0]["currencyCode"], "USD");
}

TEST(PlatformGoogleAds, AGivenUrlIsUsedAsItIsAndItsHeadersWin) {
  const Delivery d = deliver({{"format", "google-ads"},
                              {"url", "https://ads-proxy.example.com/upload"},
                              {"headers", {{"developer-token", "from-headers"}}},
                              {"options",
                               {{"conversion_action", "customers/1/conversionActions/2"},
                                {"developer_token", "${ADS_DEVELOPER_TOKEN}"}}}},
                             call_form());
  EXPECT_EQ(d.url, "https://ads-proxy.example.com/upload");
  int tokens = 0;
  for (const HttpHeader& h : d.headers) {
    if (h.name == "developer-token") {
      ++tokens;
      EXPECT_EQ(h.value, "from-headers");
    }
  }
  EXPECT_EQ(tokens, 1);
}

TEST(PlatformGoogleAds, EnhancedConversionsHashTheCallersE164Number) {
  const Delivery d = deliver(ads_destination({{"enhanced_conversions", true}}),
                             call_form({{"Call.From", "+16505551212"}}));
  EXPECT_EQ(body_of(d)["conversions"][0]["gclid"], "EAIaIQobChMIx8v2");
  EXPECT_EQ(body_of(d)["conversions"][0]["userIdentifiers"],
            json::parse(std::string(R"([{"userIdentifierSource": "FIRST_PARTY",
                                         "hashedPhoneNumber": ")") +
                        kGooglePhoneHash + "\"}]"));
  // Without a click id the identifiers go alone (enhanced conversions for leads).
  const Delivery alone =
      deliver(ads_destination({{"enhanced_conversions", true}}),
              call_form({{"Call.From", "+16505551212"}, {"Google.AdWords.ClickId", ""}}));
  const json row = body_of(alone)["conversions"][0];
  EXPECT_FALSE(row.contains("gclid"));
  EXPECT_EQ(row["userIdentifiers"][0]["hashedPhoneNumber"], kGooglePhoneHash);
}

TEST(PlatformGoogleAds, NeverHashesAnAnonymousCaller) {
  const Delivery d = deliver(ads_destination({{"enhanced_conversions", true}}),
                             call_form({{"Call.From", "anonymous"}}));
  EXPECT_FALSE(body_of(d)["conversions"][0].contains("userIdentifiers"));
  EXPECT_EQ(skipped(ads_destination({{"enhanced_conversions", true}}),
                    call_form({{"Call.From", "anonymous"}, {"Google.AdWords.ClickId", ""}})),
            "dest: no click id (gclid, gbraid, wbraid) and no caller number on this call");
  // Without enhanced conversions the number is never sent.
  const Delivery plain = deliver(ads_destination(), call_form({{"Call.From", "+16505551212"}}));
  EXPECT_FALSE(body_of(plain)["conversions"][0].contains("userIdentifiers"));
}

TEST(PlatformGoogleAds, OneClickIdGclidFirstThenGbraidThenWbraid) {
  const auto row = [](const std::map<std::string, std::string>& changes) {
    return body_of(deliver(ads_destination(), call_form(changes)))["conversions"][0];
  };
  json r = row({{"gbraid", "gb-1"}, {"wbraid", "wb-1"}});
  EXPECT_EQ(r["gclid"], "EAIaIQobChMIx8v2");
  EXPECT_FALSE(r.contains("gbraid") || r.contains("wbraid"));
  r = row({{"Google.AdWords.ClickId", ""}, {"gbraid", "gb-1"}, {"wbraid", "wb-1"}});
  EXPECT_EQ(r["gbraid"], "gb-1");
  EXPECT_FALSE(r.contains("gclid") || r.contains("wbraid"));
  r = row({{"Google.AdWords.ClickId", ""}, {"wbraid", "wb-1"}});
  EXPECT_EQ(r["wbraid"], "wb-1");
  r = row({{"Google.AdWords.ClickId", ""}, {"Google.AdWords.GBraid", "gb-2"}});
  EXPECT_EQ(r["gbraid"], "gb-2");
  r = row({{"Google.AdWords.ClickId", ""}, {"Google.AdWords.WBraid", "wb-2"}});
  EXPECT_EQ(r["wbraid"], "wb-2");
  EXPECT_EQ(skipped(ads_destination(), call_form({{"Google.AdWords.ClickId", ""}})),
            "dest: no click id (gclid, gbraid, wbraid) on this call");
}

TEST(PlatformGoogleAds, ValidateOnlyAndTheCheckRequest) {
  const Delivery d = deliver(ads_destination({{"validate_only", true}}), call_form());
  EXPECT_EQ(body_of(d)["validateOnly"], true);
  const Delivery sent = deliver(ads_destination(), call_form());
  EXPECT_FALSE(body_of(sent).contains("validateOnly"));

  const Engine engine = engine_for(ads_destination());
  const Destination& dest = *engine.config().destination("dest");
  std::string problem;
  const auto check = check_request(dest, sent, "", problem);
  ASSERT_TRUE(check.has_value()) << problem;
  json expected = body_of(sent);
  expected["validateOnly"] = true;
  EXPECT_EQ(body_of(*check), expected);
  EXPECT_EQ(check->url, sent.url);

  EXPECT_TRUE(read_check_answer(dest, answer(200, json::object())).accepted);
  const CheckVerdict refused = read_check_answer(dest, answer(200, json::parse(R"({
    "partialFailureError": {"code": 3, "message": "x", "details": [{
      "@type": "type.googleapis.com/google.ads.googleads.v23.errors.GoogleAdsFailure",
      "errors": [{"errorCode": {"conversionUploadError": "NO_CONVERSION_ACTION_FOUND"},
                  "message": "The conversion action cannot be found.",
                  "location": {"fieldPathElements": [{"fieldName": "conversions", "index": 0},
                                                     {"fieldName": "conversion_action"}]}}]}]}})")));
  EXPECT_FALSE(refused.accepted);
  EXPECT_EQ(refused.messages,
            (std::vector<std::string>{"conversionUploadError: NO_CONVERSION_ACTION_FOUND: The "
                                      "conversion action cannot be found."}));
  const CheckVerdict unauthorized = read_check_answer(dest, answer(401, json::parse(R"({
    "error": {"code": 401, "message": "m", "status": "UNAUTHENTICATED", "details": [{
      "@type": "type.googleapis.com/google.ads.googleads.v23.errors.GoogleAdsFailure",
      "errors": [{"errorCode": {"authenticationError": "OAUTH_TOKEN_EXPIRED"},
                  "message": "OAuth token in the header has expired."}]}]}})")));
  EXPECT_FALSE(unauthorized.accepted);
  EXPECT_EQ(
      unauthorized.messages,
      (std::vector<std::string>{
          "authenticationError: OAUTH_TOKEN_EXPIRED: OAuth token in the header has expired."}));
}

// A 200 whose partialFailureError holds these row errors, in the contract's shape.
AttemptAnswer row_errors(const json& errors) {
  json list = json::array();
  for (const json& e : errors) {
    list.push_back(
        {{"errorCode", {{e[0].get<std::string>(), e[1].get<std::string>()}}},
         {"message", e[2]},
         {"trigger", {{"stringValue", "Cj0KCQiA_stand_in_gclid_1"}}},
         {"location",
          {{"fieldPathElements", json::array({{{"fieldName", "conversions"}, {"index", 0}},
                                              {{"fieldName", "gclid"}}})}}}});
  }
  return answer(200,
                {{"results", json::array({json::object()})},
                 {"partialFailureError",
                  {{"code", 3},
                   {"message", "first error, at conversions[0]"},
                   {"details", json::array({{{"@type",
                                              "type.googleapis.com/google.ads.googleads.v23.errors."
                                              "GoogleAdsFailure"},
                                             {"errors", list},
                                             {"requestId", "c0ffeeStandInReq1"}}})}}},
                 {"jobId", "4242"}});
}

FormatVerdict ads_verdict(const AttemptAnswer& a) {
  const AnswerReader read = answer_reader(RenderFormat::google_ads);
  EXPECT_NE(read, nullptr);
  const auto v = read(a);
  EXPECT_TRUE(v.has_value()) << a.body;
  return v.value_or(FormatVerdict{});
}

TEST(PlatformGoogleAds, RowsTakenOrUnreadAnswersSayNothing) {
  const AnswerReader read = answer_reader(RenderFormat::google_ads);
  EXPECT_FALSE(read(answer(200, json::parse(R"({"results": [{"gclid": "g",
      "conversionAction": "customers/1/conversionActions/2",
      "conversionDateTime": "2024-05-01 03:15:42+00:00"}], "jobId": "4242"})"))));
  EXPECT_FALSE(read(answer(200, "")));
  EXPECT_FALSE(read(answer(200, json::parse(R"({"partialFailureError": null})"))));
  EXPECT_FALSE(read(answer(200, json::parse(R"({"partialFailureError": {"code": 0}})"))));
  EXPECT_FALSE(read(answer(500, json::parse(R"({"error": {"code": 500, "status": "INTERNAL"}})"))));
  EXPECT_FALSE(read(answer(503, "<html>unavailable</html>")));
  EXPECT_FALSE(read(answer(404, "<html>not here</html>")));
  AttemptAnswer timeout;
  timeout.kind = AttemptAnswer::Kind::timeout;
  EXPECT_FALSE(read(timeout));
}

TEST(PlatformGoogleAds, TooRecentRowsRetryAfterSixHours) {
  for (const char* code : {"TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION", "TOO_RECENT_CALL"}) {
    const FormatVerdict v = ads_verdict(row_errors(json::array(
        {json::array({"conversionUploadError", code, "Retry after 6 hours have passed."})})));
    EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry) << code;
    EXPECT_EQ(v.code, "platform_retry");
    EXPECT_EQ(v.retry_in_ms, 6 * kHour * 1000);
    EXPECT_EQ(v.reason, std::string("Google Ads ") + code + ": Retry after 6 hours have passed.");
    EXPECT_FALSE(v.token_expired);
  }
}

TEST(PlatformGoogleAds, AConversionGoogleHasIsAlreadyRecorded) {
  for (const char* code : {"ORDER_ID_ALREADY_IN_USE", "CLICK_CONVERSION_ALREADY_EXISTS"}) {
    const FormatVerdict v = ads_verdict(
        row_errors(json::array({json::array({"conversionUploadError", code, "already"})})));
    EXPECT_EQ(v.kind, AttemptVerdict::Kind::delivered) << code;
    EXPECT_EQ(v.code, "already_recorded");
    EXPECT_EQ(v.reason, std::string("Google Ads ") + code + ": already");
  }
  // A duplicate inside one request is a batch's mistake, not a conversion Google keeps.
  const FormatVerdict dup = ads_verdict(row_errors(
      json::array({json::array({"conversionUploadError", "DUPLICATE_ORDER_ID", "twice"})})));
  EXPECT_EQ(dup.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(dup.code, "rejected");
}

TEST(PlatformGoogleAds, OtherRowErrorsAreRejectedWithGooglesCodes) {
  const FormatVerdict v = ads_verdict(row_errors(json::array(
      {json::array({"conversionUploadError", "EXPIRED_EVENT", "The click is too old."})})));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "rejected");
  EXPECT_EQ(v.reason, "Google Ads EXPIRED_EVENT: The click is too old.");
  const FormatVerdict two = ads_verdict(row_errors(
      json::array({json::array({"conversionUploadError", "UNPARSEABLE_GCLID", "bad gclid"}),
                   json::array({"dateError", "LATER_THAN_MAXIMUM_DATE", "in the future"})})));
  EXPECT_EQ(two.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(two.reason,
            "Google Ads UNPARSEABLE_GCLID: bad gclid; Google Ads LATER_THAN_MAXIMUM_DATE: in the "
            "future");
  // A refusal wins over a wait: waiting cannot change it.
  const FormatVerdict mixed = ads_verdict(
      row_errors(json::array({json::array({"conversionUploadError", "TOO_RECENT_EVENT", "wait"}),
                              json::array({"conversionUploadError", "EXPIRED_EVENT", "old"})})));
  EXPECT_EQ(mixed.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(mixed.reason, "Google Ads EXPIRED_EVENT: old");
}

TEST(PlatformGoogleAds, RowInternalErrorsRetryOnTheSchedule) {
  for (const char* code : {"INTERNAL_ERROR", "TRANSIENT_ERROR"}) {
    const FormatVerdict v =
        ads_verdict(row_errors(json::array({json::array({"internalError", code, "try again"})})));
    EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry) << code;
    EXPECT_EQ(v.code, "platform_retry");
    EXPECT_EQ(v.retry_in_ms, -1);
  }
}

TEST(PlatformGoogleAds, APartialFailureWithoutDetailsIsRejectedWithItsMessage) {
  const FormatVerdict v = ads_verdict(answer(200, json::parse(R"({"partialFailureError":
      {"code": 3, "message": "The click is too old, at conversions[0]", "details": []},
      "results": [{}]})")));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "rejected");
  EXPECT_EQ(v.reason, "Google Ads partialFailureError: The click is too old, at conversions[0]");
}

// A whole-request error in Google's REST envelope, with one GoogleAdsError.
AttemptAnswer request_error(int status, const char* grpc, const char* family, const char* code,
                            const char* message, const json& details = nullptr) {
  json error = {{"errorCode", {{family, code}}}, {"message", message}};
  if (!details.is_null()) error["details"] = details;
  return answer(status,
                {{"error",
                  {{"code", status},
                   {"message", "Request failed."},
                   {"status", grpc},
                   {"details", json::array({{{"@type",
                                              "type.googleapis.com/google.ads.googleads.v23.errors."
                                              "GoogleAdsFailure"},
                                             {"errors", json::array({error})},
                                             {"requestId", "c0ffeeStandInReq2"}}})}}}});
}

TEST(PlatformGoogleAds, AnExpiredOrInvalidTokenAsksForAFreshOne) {
  for (const char* code : {"OAUTH_TOKEN_EXPIRED", "OAUTH_TOKEN_INVALID"}) {
    const FormatVerdict v = ads_verdict(request_error(401, "UNAUTHENTICATED", "authenticationError",
                                                      code, "OAuth token in the header."));
    EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry) << code;
    EXPECT_EQ(v.code, "token_rejected");
    EXPECT_TRUE(v.token_expired);
    EXPECT_EQ(v.reason, std::string("Google Ads authenticationError: ") + code +
                            ": OAuth token in the header.");
  }
  // Google's front end refuses a bad token with no GoogleAdsFailure at all.
  const FormatVerdict bare = ads_verdict(answer(401, json::parse(R"({"error": {"code": 401,
      "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})")));
  EXPECT_TRUE(bare.token_expired);
  EXPECT_EQ(bare.code, "token_rejected");
  // Other authentication errors need a person, not a token.
  const FormatVerdict not_user = ads_verdict(request_error(
      401, "UNAUTHENTICATED", "authenticationError", "NOT_ADS_USER", "Not an Ads user."));
  EXPECT_EQ(not_user.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(not_user.code, "rejected");
  EXPECT_FALSE(not_user.token_expired);
  EXPECT_EQ(not_user.reason, "Google Ads authenticationError: NOT_ADS_USER: Not an Ads user.");
}

TEST(PlatformGoogleAds, AQuotaWaitsItsRetryDelay) {
  const FormatVerdict v = ads_verdict(request_error(
      429, "RESOURCE_EXHAUSTED", "quotaError", "RESOURCE_TEMPORARILY_EXHAUSTED",
      "Too many requests.",
      {{"quotaErrorDetails",
        {{"rateScope", "DEVELOPER"}, {"rateName", "Requests"}, {"retryDelay", "30s"}}}}));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry);
  EXPECT_EQ(v.code, "platform_retry");
  EXPECT_EQ(v.retry_in_ms, 30'000);
  EXPECT_EQ(v.reason, "Google Ads quotaError: RESOURCE_TEMPORARILY_EXHAUSTED: Too many requests.");
  const FormatVerdict fraction =
      ads_verdict(request_error(429, "RESOURCE_EXHAUSTED", "quotaError", "RESOURCE_EXHAUSTED",
                                "Daily.", {{"quotaErrorDetails", {{"retryDelay", "1.5s"}}}}));
  EXPECT_EQ(fraction.retry_in_ms, 1'500);
  // Without a retryDelay the retry policy's handling of 429 applies (Retry-After, schedule).
  const AnswerReader read = answer_reader(RenderFormat::google_ads);
  EXPECT_FALSE(read(request_error(429, "RESOURCE_EXHAUSTED", "quotaError",
                                  "RESOURCE_TEMPORARILY_EXHAUSTED", "Too many requests.")));
}

TEST(PlatformGoogleAds, OtherRequestErrorsAreRejected) {
  const FormatVerdict v = ads_verdict(request_error(403, "PERMISSION_DENIED", "authorizationError",
                                                    "USER_PERMISSION_DENIED", "No access."));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "rejected");
  EXPECT_EQ(v.reason, "Google Ads authorizationError: USER_PERMISSION_DENIED: No access.");
  const FormatVerdict bare = ads_verdict(answer(
      400,
      json::parse(
          R"({"error": {"code": 400, "message": "Bad JSON.", "status": "INVALID_ARGUMENT"}})")));
  EXPECT_EQ(bare.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(bare.reason, "Google Ads INVALID_ARGUMENT: Bad JSON.");
}

TEST(PlatformGoogleAds, TheEngineTurnsRowErrorsIntoVerdicts) {
  const Engine engine = engine_for(ads_destination());
  AttemptInput attempt;
  attempt.route = "r";
  attempt.destination = "dest";
  attempt.idempotency_key = "CA1:Call.Complete:r";
  attempt.attempt = 1;
  attempt.now_ms = kStart * 1000;
  attempt.answer = row_errors(json::array(
      {json::array({"conversionUploadError", "EXPIRED_EVENT", "The click is too old."})}));
  const AttemptVerdict dead = engine.attempt_result(attempt);
  EXPECT_EQ(dead.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(dead.code, "rejected");
  EXPECT_NE(dead.reason.find("EXPIRED_EVENT"), std::string::npos) << dead.reason;
  attempt.answer = row_errors(
      json::array({json::array({"conversionUploadError", "TOO_RECENT_EVENT", "Wait."})}));
  const AttemptVerdict later = engine.attempt_result(attempt);
  EXPECT_EQ(later.kind, AttemptVerdict::Kind::retry);
  EXPECT_EQ(later.retry_at_ms, attempt.now_ms + 6 * kHour * 1000);
}

// ---- GA4 -------------------------------------------------------------------------------------

json ga4_destination(json options = json::object()) {
  json o = {{"measurement_id", "G-TEST12345"}, {"api_secret", "${GA4_API_SECRET}"}};
  o.update(options);
  return {{"format", "ga4"}, {"options", o}};
}

TEST(PlatformGa4, BuildsTheCollectUrlAndKeepsTheEventsTime) {
  const Delivery d = deliver(ga4_destination(), call_form());
  EXPECT_EQ(d.url,
            "https://www.google-analytics.com/mp/collect?measurement_id=G-TEST12345&api_secret="
            "ga4%2Fs3cret%2Bvalue");
  EXPECT_EQ(body_of(d), json::parse(R"({
    "client_id": "1234567890.1714530000",
    "timestamp_micros": 1714533342000000,
    "events": [{"name": "phone_call", "params": {
      "call_sid": "CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c", "call_event": "Call.Complete",
      "duration": 187, "disposition": "ANSWERED", "tracking_number": "+18005550199",
      "tracking_line": "Google Ads Number", "caller_country": "US", "source": "google",
      "medium": "cpc", "campaign": "2024 spring promo", "content": "variation 1",
      "traffic_type": "Campaign"}}]
  })"));
  EXPECT_EQ(d.not_after_ms, (kStart + 72 * kHour) * 1000);
  const Delivery custom =
      deliver(ga4_destination({{"endpoint", "http://127.0.0.1:9400/ga4/"}}), call_form());
  EXPECT_EQ(custom.url.substr(0, custom.url.find('?')), "http://127.0.0.1:9400/ga4/mp/collect");
}

TEST(PlatformGa4, PastSeventyTwoHoursTheTimestampIsLeftOut) {
  // 72 hours exactly is still on time; a second later it is not.
  const Delivery edge = deliver(ga4_destination(), call_form(), kStart + 72 * kHour);
  EXPECT_TRUE(body_of(edge).contains("timestamp_micros"));
  const Delivery late = deliver(ga4_destination(), call_form(), kStart + 72 * kHour + 1);
  EXPECT_FALSE(body_of(late).contains("timestamp_micros"));
  EXPECT_EQ(late.not_after_ms, 0);
  const Delivery explicit_mode =
      deliver(ga4_destination({{"late_events", "send_without_timestamp"}}), call_form(),
              kStart + 80 * kHour);
  EXPECT_FALSE(body_of(explicit_mode).contains("timestamp_micros"));
}

TEST(PlatformGa4, DeadLetterModeGivesALateEventAPastDeadline) {
  const std::int64_t now = kStart + 100 * kHour;
  const Delivery d = deliver(ga4_destination({{"late_events", "dead_letter"}}), call_form(), now);
  EXPECT_EQ(body_of(d)["timestamp_micros"], kStart * 1000000);
  EXPECT_EQ(d.not_after_ms, (kStart + 72 * kHour) * 1000);
  EXPECT_LT(d.not_after_ms, now * 1000);
}

TEST(PlatformGa4, PastItsDeadlineTheBodyGoesWithoutTheTimestamp) {
  const Engine engine = engine_for(ga4_destination());
  const Destination& dest = *engine.config().destination("dest");
  const Delivery d = deliver(ga4_destination(), call_form());
  const auto later = body_past_deadline(dest, d.body);
  ASSERT_TRUE(later.has_value());
  json expected = body_of(d);
  expected.erase("timestamp_micros");
  EXPECT_EQ(json::parse(*later), expected);

  const Engine strict = engine_for(ga4_destination({{"late_events", "dead_letter"}}));
  EXPECT_FALSE(body_past_deadline(*strict.config().destination("dest"), d.body).has_value());
  EXPECT_EQ(deadline_reason(RenderFormat::ga4), "GA4 ignores timestamp_micros older than 72 hours");
}

TEST(PlatformGa4, SessionIdAndEngagementTimeCountTheEventInASession) {
  json params = body_of(deliver(
      ga4_destination(), call_form({{"ga_session_id", "1714530000"}})))["events"][0]["params"];
  EXPECT_EQ(params["session_id"], "1714530000");
  EXPECT_EQ(params["engagement_time_msec"], 1);
  params = body_of(deliver(ga4_destination(), call_form({{"Google.Analytics.SessionId",
                                                          "1714530001"}})))["events"][0]["params"];
  EXPECT_EQ(params["session_id"], "1714530001");
  params = body_of(
      deliver(ga4_destination({{"session_id", "{{ fields.sess }}"}, {"engagement_time_msec", 250}}),
              call_form({{"sess", "42"}})))["events"][0]["params"];
  EXPECT_EQ(params["session_id"], "42");
  EXPECT_EQ(params["engagement_time_msec"], 250);
  // No session: neither is sent (unless engagement_time_msec is set).
  params = body_of(deliver(ga4_destination(), call_form()))["events"][0]["params"];
  EXPECT_FALSE(params.contains("session_id") || params.contains("engagement_time_msec"));
}

TEST(PlatformGa4, ConsentAndLongValuesCutAtOneHundredCharacters) {
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "\xC3\xA9";  // é, two bytes each
  const json body = body_of(deliver(
      ga4_destination({{"consent", {{"ad_user_data", "GRANTED"}, {"ad_personalization", "DENIED"}}},
                       {"params", {{"note", "{{ fields.note }}"}}}}),
      call_form({{"note", accents}})));
  EXPECT_EQ(body["consent"],
            json::parse(R"({"ad_user_data": "GRANTED", "ad_personalization": "DENIED"})"));
  const std::string note = body["events"][0]["params"]["note"];
  EXPECT_EQ(note, accents.substr(0, 200));  // 100 characters, no split one
}

TEST(PlatformGa4, TheCheckGoesToTheValidationServer) {
  const Engine engine = engine_for(ga4_destination());
  const Destination& dest = *engine.config().destination("dest");
  const Delivery d = deliver(ga4_destination(), call_form());
  std::string problem;
  const auto check = check_request(dest, d, "", problem);
  ASSERT_TRUE(check.has_value()) << problem;
  EXPECT_EQ(check->url,
            "https://www.google-analytics.com/debug/mp/collect?measurement_id=G-TEST12345&"
            "api_secret=ga4%2Fs3cret%2Bvalue");
  EXPECT_EQ(check->body, d.body);

  const CheckVerdict ok =
      read_check_answer(dest, answer(200, json::parse(R"({"validationMessages": []})")));
  EXPECT_TRUE(ok.accepted);
  EXPECT_TRUE(ok.messages.empty());
  const CheckVerdict bad =
      read_check_answer(dest, answer(200, json::parse(R"({"validationMessages": [{
    "fieldPath": "events",
    "description": "Event at index: [0] has invalid name [_call]. Names must start with an alphabetic character.",
    "validationCode": "NAME_INVALID"}]})")));
  EXPECT_FALSE(bad.accepted);
  EXPECT_EQ(bad.messages, (std::vector<std::string>{
                              "events: Event at index: [0] has invalid name [_call]. Names must "
                              "start with an alphabetic character. (NAME_INVALID)"}));
  EXPECT_FALSE(read_check_answer(dest, answer(204, "")).accepted);
}

TEST(PlatformGa4, RerenderAtLaterTimeLeavesTheTimestampOut) {
  const json config = {{"correlation", {{"abandon_after_seconds", 600}}},
                       {"destinations", {{"dest", ga4_destination()}}},
                       {"routes", json::array({{{"name", "r"}, {"to", json::array({"dest"})}}})}};
  auto engine = Engine::from_config(config.dump(), secret, nullptr);
  ASSERT_TRUE(engine.has_value());
  const Outcome out = handle(*engine, call_form());
  ASSERT_TRUE(out.record.has_value());
  RerenderRequest request{*out.record, "r", "dest", "event", "Call.Complete"};
  const Rerendered same = engine->rerender(request);
  ASSERT_TRUE(same.delivery.has_value()) << same.error.message;
  EXPECT_EQ(same.delivery->body, out.deliveries.at(0).body);
  request.now = kStart + 96 * kHour;
  const Rerendered late = engine->rerender(request);
  ASSERT_TRUE(late.delivery.has_value()) << late.error.message;
  EXPECT_FALSE(body_of(*late.delivery).contains("timestamp_micros"));
}

// ---- Meta ------------------------------------------------------------------------------------

json meta_destination(json options = json::object()) {
  json o = {{"pixel_id", "1234567890123"}, {"access_token", "${META_ACCESS_TOKEN}"}};
  o.update(options);
  return {{"format", "meta-capi"}, {"options", o}};
}

TEST(PlatformMeta, SendsAPhoneCallLeadWithHashedCallerData) {
  const Delivery d =
      deliver(meta_destination(
                  {{"custom_data", {{"value", "{{ call.survey.value }}"}, {"currency", "USD"}}},
                   {"test_event_code", "TEST12345"}}),
              call_form({{"Call.From", "+16505551212"}}));
  EXPECT_EQ(d.url, "https://graph.facebook.com/v25.0/1234567890123/events");
  EXPECT_EQ(body_of(d), json::parse(std::string(R"({
    "data": [{
      "event_name": "Lead",
      "event_time": 1714533342,
      "action_source": "phone_call",
      "event_id": "CA5e1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c:Call.Complete",
      "user_data": {"ph": [")") + kMetaPhoneHash +
                                    R"("], "country": [")" + kMetaUsHash + R"("]},
      "custom_data": {"value": 250, "currency": "USD"}
    }],
    "access_token": "EAAB-meta-token",
    "test_event_code": "TEST12345"
  })"));
  EXPECT_EQ(d.not_after_ms, (kStart + 7 * 24 * kHour) * 1000);
}

TEST(PlatformMeta, VersionEndpointAndEventNameFromOptions) {
  EXPECT_EQ(deliver(meta_destination({{"version", 21}}), call_form()).url,
            "https://graph.facebook.com/v21.0/1234567890123/events");
  const Delivery d = deliver(meta_destination({{"version", "v26.0"},
                                               {"endpoint", "http://127.0.0.1:9400/meta"},
                                               {"event_name", "Contact"}}),
                             call_form({{"Call.From.Country", ""}}));
  EXPECT_EQ(d.url, "http://127.0.0.1:9400/meta/v26.0/1234567890123/events");
  const json event = body_of(d)["data"][0];
  EXPECT_EQ(event["event_name"], "Contact");
  EXPECT_FALSE(event["user_data"].contains("country"));  // not known: not sent
  EXPECT_FALSE(event.contains("custom_data"));
  EXPECT_FALSE(body_of(d).contains("test_event_code"));
}

TEST(PlatformMeta, NoCallerNumberNoEvent) {
  EXPECT_EQ(skipped(meta_destination(), call_form({{"Call.From", "anonymous"}})),
            "dest: no caller number to match on");
}

TEST(PlatformMeta, AnEventOlderThanSevenDaysHasAPastDeadline) {
  const std::int64_t now = kStart + 8 * 24 * kHour;
  const Delivery d = deliver(meta_destination(), call_form(), now);
  EXPECT_EQ(d.not_after_ms, (kStart + 7 * 24 * kHour) * 1000);
  EXPECT_LT(d.not_after_ms, now * 1000);
  EXPECT_EQ(deadline_reason(RenderFormat::meta_capi), "Meta rejects events older than 7 days");
  const Engine engine = engine_for(meta_destination());
  EXPECT_FALSE(body_past_deadline(*engine.config().destination("dest"), d.body).has_value());
}

// Meta's Graph error envelope.
AttemptAnswer graph_error(int status, const json& fields) {
  json error = {{"message", "Invalid parameter"},
                {"type", "OAuthException"},
                {"code", 100},
                {"fbtrace_id", "AbCdEfStandIn456"}};
  error.update(fields);
  return answer(status, {{"error", error}});
}

TEST(PlatformMeta, ReadsGraphErrors) {
  const AnswerReader read = answer_reader(RenderFormat::meta_capi);
  ASSERT_NE(read, nullptr);
  EXPECT_FALSE(read(answer(200, json::parse(R"({"events_received": 1, "messages": [],
                                                 "fbtrace_id": "AbCdEfStandIn123"})"))));
  EXPECT_FALSE(read(answer(502, "<html>bad gateway</html>")));

  const auto payload = read(
      graph_error(400, {{"error_subcode", 2804050},
                        {"is_transient", false},
                        {"error_user_title", "Customer information parameters"},
                        {"error_user_msg", "This event has insufficient customer information."}}));
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(payload->kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(payload->code, "rejected");
  EXPECT_EQ(payload->reason,
            "Meta 100/2804050 OAuthException: Invalid parameter: This event has insufficient "
            "customer information.");

  const auto token = read(graph_error(
      400, {{"code", 190}, {"message", "Error validating access token: Session has expired."}}));
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(token->kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(token->reason,
            "Meta 190 OAuthException: Error validating access token: Session has expired.");
  EXPECT_FALSE(token->token_expired);  // a static token: nothing to refresh

  for (const int code : {1, 2, 4, 17, 32, 341, 368, 613}) {
    const auto v = read(graph_error(code <= 2 ? 500 : 400, {{"code", code}, {"message", "later"}}));
    ASSERT_TRUE(v.has_value()) << code;
    EXPECT_EQ(v->kind, AttemptVerdict::Kind::retry) << code;
    EXPECT_EQ(v->code, "platform_retry");
    EXPECT_EQ(v->retry_in_ms, -1);
  }
  const auto transient = read(graph_error(400, {{"is_transient", true}}));
  ASSERT_TRUE(transient.has_value());
  EXPECT_EQ(transient->kind, AttemptVerdict::Kind::retry);
}

TEST(PlatformMeta, TheCheckSendsATestEventCode) {
  const Engine engine = engine_for(meta_destination());
  const Destination& dest = *engine.config().destination("dest");
  const Delivery d = deliver(meta_destination(), call_form());
  std::string problem;
  EXPECT_FALSE(check_request(dest, d, "", problem).has_value());
  EXPECT_NE(problem.find("test event code"), std::string::npos);
  const auto check = check_request(dest, d, "TEST999", problem);
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(body_of(*check)["test_event_code"], "TEST999");
  EXPECT_EQ(body_of(*check)["data"], body_of(d)["data"]);

  const Engine with_code = engine_for(meta_destination({{"test_event_code", "TEST1"}}));
  const auto from_option = check_request(*with_code.config().destination("dest"), d, "", problem);
  ASSERT_TRUE(from_option.has_value());
  EXPECT_EQ(body_of(*from_option)["test_event_code"], "TEST1");

  const CheckVerdict ok = read_check_answer(dest, answer(200, json::parse(R"({"events_received": 1,
      "messages": ["one note"], "fbtrace_id": "AbCdEfStandIn123"})")));
  EXPECT_TRUE(ok.accepted);
  EXPECT_EQ(ok.messages, std::vector<std::string>{"one note"});
  const CheckVerdict refused = read_check_answer(
      dest,
      graph_error(400, {{"error_subcode", 2804050},
                        {"error_user_msg", "This event has insufficient customer information."}}));
  EXPECT_FALSE(refused.accepted);
  EXPECT_EQ(refused.messages,
            std::vector<std::string>{"Meta 100/2804050 OAuthException: Invalid parameter: This "
                                     "event has insufficient customer information."});
}

// ---- Formats without a platform of their own, and the config check ---------------------------

TEST(PlatformFormats, NamesDeadlinesAndChecks) {
  EXPECT_EQ(parse_render_format("meta-capi"), RenderFormat::meta_capi);
  EXPECT_EQ(to_string(RenderFormat::meta_capi), "meta-capi");
  for (const RenderFormat f : {RenderFormat::canonical, RenderFormat::google_ads,
                               RenderFormat::slack, RenderFormat::json_template}) {
    EXPECT_EQ(deadline_reason(f), "") << to_string(f);
  }
  EXPECT_EQ(answer_reader(RenderFormat::ga4), nullptr);  // /mp/collect answers 2xx to all
  EXPECT_EQ(answer_reader(RenderFormat::canonical), nullptr);
  Destination canonical;
  std::string problem;
  EXPECT_FALSE(check_request(canonical, Delivery{}, "", problem).has_value());
  EXPECT_FALSE(problem.empty());
}

TEST(PlatformConfig, UrlIsOptionalOnlyWhereTheFormatBuildsIt) {
  EXPECT_EQ(config_errors(ads_destination()), Errors{});
  EXPECT_EQ(config_errors(meta_destination()), Errors{});
  EXPECT_EQ(config_errors(ga4_destination()), Errors{});
  EXPECT_EQ(config_errors({{"format", "ga4"}}), (Errors{{"/destinations/d/url", "missing"}}));
  EXPECT_EQ(config_errors({{"format", "ga4"}, {"options", {{"measurement_id", "G-1"}}}}),
            (Errors{{"/destinations/d/options/api_secret", "missing"}}));
  EXPECT_EQ(config_errors({{"format", "slack"}}), (Errors{{"/destinations/d/url", "missing"}}));
  EXPECT_EQ(
      config_errors({{"format", "google-ads"},
                     {"options", {{"conversion_action", "customers/1/conversionActions/2"}}}}),
      (Errors{{"/destinations/d/options/customer_id", "missing"}}));
  EXPECT_EQ(config_errors({{"format", "meta-capi"}, {"options", {{"access_token", "t"}}}}),
            (Errors{{"/destinations/d/options/pixel_id", "missing"}}));
  // With a url (a proxy) the ids that build Google's URL are not needed.
  EXPECT_EQ(
      config_errors({{"format", "google-ads"},
                     {"url", "https://proxy.example/ads"},
                     {"options", {{"conversion_action", "customers/1/conversionActions/2"}}}}),
      Errors{});
}

TEST(PlatformConfig, GoogleAdsOptionsAreChecked) {
  EXPECT_EQ(config_errors(ads_destination(
                {{"customer_id", "123-45x-7890"},
                 {"login_customer_id", true},
                 {"version", 19},
                 {"endpoint", "ftp://x"},
                 {"developer_token", ""},
                 {"currency", "E1R"},
                 {"consent", {{"ad_user_data", "YES"}, {"ad_personalization", "DENIED"}}},
                 {"enhanced_conversions", "yes"},
                 {"validate_only", 1},
                 {"customerId", "1"}})),
            (Errors{{"/destinations/d/options/customerId", "unknown_key"},
                    {"/destinations/d/options/customer_id", "bad_value"},
                    {"/destinations/d/options/login_customer_id", "wrong_type"},
                    {"/destinations/d/options/developer_token", "bad_value"},
                    {"/destinations/d/options/version", "out_of_range"},
                    {"/destinations/d/options/endpoint", "bad_value"},
                    {"/destinations/d/options/currency", "bad_value"},
                    {"/destinations/d/options/consent/ad_personalization", "unknown_key"},
                    {"/destinations/d/options/consent/ad_user_data", "bad_value"},
                    {"/destinations/d/options/enhanced_conversions", "wrong_type"},
                    {"/destinations/d/options/validate_only", "wrong_type"}}));
  EXPECT_EQ(config_errors({{"format", "google-ads"},
                           {"url", "https://proxy.example/ads"},
                           {"options", {{"conversion_action", "987"}}}}),
            (Errors{{"/destinations/d/options/conversion_action", "bad_value"}}));
  EXPECT_EQ(config_errors(ads_destination({{"conversion_action", "conversionActions/987"}})),
            (Errors{{"/destinations/d/options/conversion_action", "bad_value"}}));
}

TEST(PlatformConfig, Ga4OptionsAreChecked) {
  EXPECT_EQ(config_errors(ga4_destination({{"event_name", "_call"},
                                           {"params", {{"ok", "x"}, {"ga_x", "y"}, {"9", "z"}}},
                                           {"session_id", "{{ fields.sess | shout }}"},
                                           {"engagement_time_msec", -1},
                                           {"consent", {{"ad_user_data", "granted"}}},
                                           {"late_events", "drop"}})),
            (Errors{{"/destinations/d/options/event_name", "bad_value"},
                    {"/destinations/d/options/params/9", "bad_value"},
                    {"/destinations/d/options/params/ga_x", "bad_value"},
                    {"/destinations/d/options/session_id", "bad_template"},
                    {"/destinations/d/options/engagement_time_msec", "out_of_range"},
                    {"/destinations/d/options/consent/ad_user_data", "bad_value"},
                    {"/destinations/d/options/late_events", "bad_value"}}));
  EXPECT_EQ(config_errors(ga4_destination({{"event_name", "session_start"}})),
            (Errors{{"/destinations/d/options/event_name", "bad_value"}}));
  EXPECT_EQ(
      config_errors(ga4_destination({{"event_name", "a_forty_one_character_event_name_is_long_"}})),
      (Errors{{"/destinations/d/options/event_name", "bad_value"}}));
  EXPECT_EQ(config_errors(
                ga4_destination({{"event_name", "phone_call_2"}, {"late_events", "dead_letter"}})),
            Errors{});
}

TEST(PlatformConfig, MetaOptionsAreChecked) {
  EXPECT_EQ(config_errors({{"format", "meta-capi"},
                           {"options",
                            {{"pixel_id", "12-34"},
                             {"version", "21"},
                             {"test_event_code", 5},
                             {"custom_data", "x"},
                             {"pixelId", "1"}}}}),
            (Errors{{"/destinations/d/options/pixelId", "unknown_key"},
                    {"/destinations/d/options/pixel_id", "bad_value"},
                    {"/destinations/d/options/access_token", "missing"},
                    {"/destinations/d/options/version", "bad_value"},
                    {"/destinations/d/options/test_event_code", "wrong_type"},
                    {"/destinations/d/options/custom_data", "wrong_type"}}));
  EXPECT_EQ(config_errors(meta_destination({{"access_token", "${NOT_SET}"}})),
            (Errors{{"/destinations/d/options/access_token", "missing_secret"}}));
  EXPECT_EQ(
      config_errors(meta_destination({{"custom_data", {{"value", "{{ call.sid | nope }}"}}}})),
      (Errors{{"/destinations/d/options/custom_data/value", "bad_template"}}));
}

}  // namespace
}  // namespace callhook::testing
