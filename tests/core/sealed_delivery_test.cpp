// Sealed deliveries (Engine::seal, Engine::unseal and the sealed text under them): exact round
// trips for any text, the three forms of a secret, the `$` escape that keeps a payload's
// `${NAME}` text from ever becoming the secret, and the two errors.
#include <gtest/gtest.h>

#include <random>

#include "callhook/engine.h"
#include "sealed_delivery.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

// Secrets whose three forms differ: the GA4 one percent-encodes, the CRM one JSON-escapes.
const std::vector<ResolvedSecret> kSecrets = {
    {"GA4_API_SECRET", "ga4/s3cret+value"},
    {"ADS_TOKEN", "ads-dev-token-123"},
    {"CRM_KEY", "crm\"key\\with\ttab"},
};

std::string seal(std::string_view text, const std::vector<ResolvedSecret>& secrets = kSecrets) {
  return detail::seal_text(text, secrets);
}

std::string unseal(std::string_view text, const std::vector<ResolvedSecret>& secrets = kSecrets) {
  std::string out;
  detail::UnsealProblem problem;
  EXPECT_TRUE(detail::unseal_text(text, secrets, out, problem)) << problem.message;
  return out;
}

detail::UnsealProblem unseal_problem(std::string_view text,
                                     const std::vector<ResolvedSecret>& secrets = kSecrets) {
  std::string out;
  detail::UnsealProblem problem;
  EXPECT_FALSE(detail::unseal_text(text, secrets, out, problem)) << text;
  return problem;
}

TEST(SealedText, ReferencesEachFormAndDoublesDollars) {
  EXPECT_EQ(seal("https://x/?api_secret=ga4/s3cret+value&v=2"),
            "https://x/?api_secret=${GA4_API_SECRET}&v=2");
  EXPECT_EQ(seal("api_secret=ga4%2Fs3cret%2Bvalue"), "api_secret=${GA4_API_SECRET:pct}");
  EXPECT_EQ(seal(R"({"key":"crm\"key\\with\ttab"})"), R"({"key":"${CRM_KEY:json}"})");
  EXPECT_EQ(seal("crm\"key\\with\ttab"), "${CRM_KEY}");
  EXPECT_EQ(seal("price $5, ${X}, $$"), "price $$5, $${X}, $$$$");
  EXPECT_EQ(seal(""), "");
  // A form equal to the value is the value: no :pct or :json reference for it.
  EXPECT_EQ(seal("ads-dev-token-123"), "${ADS_TOKEN}");
  EXPECT_EQ(seal("ads-dev-token-123", {{"ADS_TOKEN", "ads-dev-token-123"}}), "${ADS_TOKEN}");
}

TEST(SealedText, LongestSecretFirstAndShortOnesLeftAlone) {
  const std::vector<ResolvedSecret> nested = {{"SHORT", "abcd"}, {"LONG", "abcdef"}};
  EXPECT_EQ(seal("abcdefg abcdxx", nested), "${LONG}g ${SHORT}xx");
  EXPECT_EQ(seal("abc", {{"TINY", "abc"}}), "abc") << "3 bytes are not sealed, as not redacted";
  // The same value under two names: the first name's reference, either unseals the same.
  EXPECT_EQ(seal("same-value", {{"A", "same-value"}, {"B", "same-value"}}), "${A}");
}

TEST(SealedText, ThePercentEncodedFormIsExact) {
  // Every byte but A-Z a-z 0-9 - . _ ~ is %XX, upper-case hex; ! ' ( ) * are encoded too.
  EXPECT_EQ(detail::percent_encoded("aZ09-._~ !'()*/+%$&=?#\x01\x7f\xc3\xa9\xff"),
            "aZ09-._~%20%21%27%28%29%2A%2F%2B%25%24%26%3D%3F%23%01%7F%C3%A9%FF");
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    const bool kept = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
                      b == '-' || b == '.' || b == '_' || b == '~';
    const std::string encoded = detail::percent_encoded(one);
    if (kept) {
      EXPECT_EQ(encoded, one);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const std::string expected{'%', kHex[b >> 4], kHex[b & 15]};
      EXPECT_EQ(encoded, expected) << b;
    }
  }
}

TEST(SealedText, TheJsonFormIsWhatTheWritersWrite) {
  EXPECT_EQ(detail::json_escaped("a\"b\\c\n\r\t\b\f\x01\x1f/\xc3\xa9\x7f"),
            "a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/\xc3\xa9\x7f");
  // nlohmann/json (which renders every body) escapes the same way.
  const std::string value = "q\"\\\x02\n end";
  const std::string dumped = json(value).dump();
  EXPECT_EQ(dumped.substr(1, dumped.size() - 2), detail::json_escaped(value));
}

TEST(SealedText, BytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(seal("a\xff"
                 "b\xc3"),
            "a$xFFb$xC3");
  EXPECT_EQ(seal("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9") << "well-formed UTF-8 is kept";
  EXPECT_EQ(unseal("a$xFFb$xC3"),
            "a\xff"
            "b\xc3");
  // A secret that starts inside a character cuts it: the lead byte left alone is escaped.
  const std::vector<ResolvedSecret> odd = {{"ODD", "\xa9xyz"}};
  EXPECT_EQ(seal("\xc3\xa9xyz", odd), "$xC3${ODD}");
  EXPECT_EQ(unseal("$xC3${ODD}", odd), "\xc3\xa9xyz");
}

TEST(SealedText, TextThatLooksLikeAReferenceIsNeverResolved) {
  // The exfiltration case: a sender puts the text ${GA4_API_SECRET} in a field that a
  // template copies into a body. Sealed, its `$` is doubled; unsealed, it is that text again.
  const std::string payload = R"({"keywords":"${GA4_API_SECRET} and ${GA4_API_SECRET:pct}"})";
  const std::string sealed = seal(payload);
  EXPECT_EQ(sealed, R"({"keywords":"$${GA4_API_SECRET} and $${GA4_API_SECRET:pct}"})");
  const std::string back = unseal(sealed);
  EXPECT_EQ(back, payload);
  EXPECT_EQ(back.find("ga4/s3cret+value"), std::string::npos);
  EXPECT_EQ(back.find("ga4%2Fs3cret"), std::string::npos);
  // And a sealed reference next to such text stays what it was.
  EXPECT_EQ(unseal(seal("$${ADS_TOKEN}ads-dev-token-123")), "$${ADS_TOKEN}ads-dev-token-123");
}

TEST(SealedText, RoundTripsRandomText) {
  // Pieces that stress the grammar: dollars, braces, partial and whole references, the
  // secrets, their forms and parts of them, multi-byte and ill-formed UTF-8.
  const std::vector<std::string> pieces = {"$",
                                           "$$",
                                           "{",
                                           "}",
                                           ":",
                                           "${",
                                           "$x",
                                           "$xFF",
                                           "${A}",
                                           "${GA4_API_SECRET}",
                                           "${NOPE",
                                           ":pct}",
                                           ":json}",
                                           "x",
                                           "A",
                                           "_",
                                           "%",
                                           "\\",
                                           "\"",
                                           "\t",
                                           "\xc3",
                                           "\xa9",
                                           "\xc3\xa9",
                                           "\xff",
                                           "\xe2\x82",
                                           "ga4/",
                                           "s3cret+",
                                           "value",
                                           "ga4/s3cret+value",
                                           "ga4%2Fs3cret%2Bvalue",
                                           "ads-dev-",
                                           "token-123",
                                           "ads-dev-token-123",
                                           "crm\"key\\with\ttab",
                                           "crm\\\"key\\\\with\\ttab",
                                           "crm"};
  std::mt19937 random(20240501);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(0, 24);
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    for (int n = length(random); n > 0; --n) text += pieces[pick(random)];
    const std::string sealed = seal(text);
    std::string back;
    detail::UnsealProblem problem;
    ASSERT_TRUE(detail::unseal_text(sealed, kSecrets, back, problem))
        << problem.message << " for " << json(sealed).dump();
    ASSERT_EQ(back, text) << json(sealed).dump();
    ASSERT_TRUE(json::accept(json(sealed).dump())) << "sealed text is always UTF-8";
    for (const auto& [name, value] : kSecrets) {
      for (const std::string& form :
           {value, detail::percent_encoded(value), detail::json_escaped(value)}) {
        ASSERT_EQ(sealed.find(form), std::string::npos) << name << " in " << json(sealed).dump();
      }
    }
  }
}

TEST(SealedText, MalformedTextAndUnknownSecrets) {
  for (const char* text :
       {"$", "a$", "$a", "${", "${}", "${lower}", "${1A}", "${A", "${A:raw}", "${A:pct", "${A:json",
        "$x", "$x4", "$x41", "$x7F", "$xff", "$xZZ", "${A }"}) {
    EXPECT_EQ(unseal_problem(text, {{"A", "value"}}).code, "bad_sealed") << text;
  }
  const detail::UnsealProblem missing = unseal_problem("x ${GONE_SECRET:pct} y");
  EXPECT_EQ(missing.code, "missing_secret");
  EXPECT_NE(missing.message.find("GONE_SECRET"), std::string::npos) << missing.message;
}

// ---- Engine::seal and Engine::unseal ----------------------------------------------------------

const char* const kConfig = R"({
  "destinations": {
    "ga4": {"format": "ga4",
            "url": "https://www.google-analytics.com/mp/collect?measurement_id=G-1&api_secret=${GA4_API_SECRET}"},
    "ads": {"format": "google-ads", "url": "https://ads.example/upload",
            "headers": {"developer-token": "${ADS_TOKEN}"},
            "options": {"conversion_action": "customers/1/conversionActions/2"}},
    "crm": {"format": "template", "url": "https://crm.example/leads",
            "options": {"body": {"key": "${CRM_KEY}", "keywords": "{{ session.keywords }}"}}}
  },
  "routes": [{"name": "r", "to": ["ga4", "ads", "crm"]}],
  "correlation": {"enabled": false}
})";

Engine engine_with(const std::vector<ResolvedSecret>& secrets, const char* config = kConfig) {
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(
      config,
      [&](std::string_view name) -> std::optional<std::string> {
        for (const auto& [n, v] : secrets) {
          if (n == name) return v;
        }
        return std::nullopt;
      },
      &errors);
  EXPECT_TRUE(engine.has_value()) << (errors.empty() ? "" : errors[0].field + errors[0].message);
  return std::move(*engine);
}

std::string complete_form(std::string_view keywords) {
  std::string form = read_file(source_path("examples/payloads/complete.form"));
  const auto at = form.find("Session.Keywords=");
  const auto end = form.find('&', at);
  return form.replace(at, end - at, "Session.Keywords=" + std::string(keywords));
}

std::vector<Delivery> deliveries_for(const Engine& engine, std::string_view keywords) {
  Request request;
  request.url = "/hook";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = complete_form(keywords);
  const Outcome outcome = engine.handle(request, 1714533342);
  EXPECT_EQ(outcome.response.status, 200) << outcome.response.body;
  EXPECT_EQ(outcome.deliveries.size(), 3u) << outcome.response.body;
  return outcome.deliveries;
}

void expect_same(const Delivery& a, const Delivery& b) {
  EXPECT_EQ(a.route, b.route);
  EXPECT_EQ(a.destination, b.destination);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.url, b.url);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name);
    EXPECT_EQ(a.headers[i].value, b.headers[i].value);
  }
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.timeout_ms, b.timeout_ms);
  EXPECT_EQ(a.call_sid, b.call_sid);
  EXPECT_EQ(a.record_key, b.record_key);
  EXPECT_EQ(a.trigger, b.trigger);
}

TEST(SealedDelivery, AnOutcomesDeliveriesRoundTripWithNoSecretInTheSealedText) {
  const Engine engine = engine_with(kSecrets);
  for (const Delivery& d : deliveries_for(engine, "emergency+plumber")) {
    const std::string sealed = engine.seal(d);
    const json doc = json::parse(sealed);
    EXPECT_EQ(doc["sealed"], 1);
    EXPECT_EQ(doc["route"], d.route);
    EXPECT_EQ(doc["destination"], d.destination);
    EXPECT_EQ(doc["idempotency_key"], d.idempotency_key);
    EXPECT_EQ(doc["timeout_ms"], d.timeout_ms);
    EXPECT_EQ(doc["call_sid"], d.call_sid);
    EXPECT_EQ(doc["record_key"], "") << "correlation is off";
    EXPECT_EQ(doc["trigger"], "event");
    EXPECT_FALSE(d.call_sid.empty());
    EXPECT_TRUE(d.idempotency_key.starts_with(d.call_sid + ":Call.Complete:"));
    for (const auto& [name, value] : kSecrets) {
      for (const std::string& form :
           {value, detail::percent_encoded(value), detail::json_escaped(value)}) {
        EXPECT_EQ(sealed.find(form), std::string::npos) << name << " in " << sealed;
      }
    }
    const Unsealed back = engine.unseal(sealed);
    ASSERT_TRUE(back.delivery.has_value()) << back.error.code << ": " << back.error.message;
    expect_same(*back.delivery, d);
  }
  const auto deliveries = deliveries_for(engine, "x");
  EXPECT_NE(engine.seal(deliveries[0]).find("api_secret=${GA4_API_SECRET}"), std::string::npos);
  EXPECT_NE(engine.seal(deliveries[1]).find(R"(["developer-token","${ADS_TOKEN}"])"),
            std::string::npos);
  EXPECT_NE(engine.seal(deliveries[2]).find("${CRM_KEY:json}"), std::string::npos);
}

TEST(SealedDelivery, APayloadFieldHoldingAReferenceIsNotResolved) {
  const Engine engine = engine_with(kSecrets);
  // Session.Keywords=${GA4_API_SECRET}, form-encoded: the template copies it into the body.
  const auto deliveries = deliveries_for(engine, "%24%7BGA4_API_SECRET%7D+%24%24");
  const Delivery& crm = deliveries[2];
  ASSERT_EQ(crm.destination, "crm");
  ASSERT_NE(crm.body.find(R"("keywords":"${GA4_API_SECRET} $$")"), std::string::npos) << crm.body;
  const std::string sealed = engine.seal(crm);
  EXPECT_NE(sealed.find("$${GA4_API_SECRET} $$$$"), std::string::npos) << sealed;
  const Unsealed back = engine.unseal(sealed);
  ASSERT_TRUE(back.delivery.has_value()) << back.error.message;
  EXPECT_EQ(back.delivery->body, crm.body);
  EXPECT_EQ(back.delivery->body.find("ga4/s3cret+value"), std::string::npos);
}

TEST(SealedDelivery, UnsealUsesTheSecretsOfNowAndNamesOneThatIsGone) {
  const Engine before = engine_with(kSecrets);
  const std::string sealed = before.seal(deliveries_for(before, "x")[1]);  // ads
  // A rotated token: the delivery goes out with the current value.
  const Engine rotated = engine_with({{"GA4_API_SECRET", "ga4/s3cret+value"},
                                      {"ADS_TOKEN", "ads-new-token-456"},
                                      {"CRM_KEY", "crm\"key\\with\ttab"}});
  const Unsealed now = rotated.unseal(sealed);
  ASSERT_TRUE(now.delivery.has_value()) << now.error.message;
  bool found = false;
  for (const HttpHeader& h : now.delivery->headers) {
    if (h.name == "developer-token") found = h.value == "ads-new-token-456";
  }
  EXPECT_TRUE(found);
  // A config without the ads destination no longer has ADS_TOKEN.
  const Engine without = engine_with({{"GA4_API_SECRET", "ga4/s3cret+value"}}, R"({
    "destinations": {"ga4": {"format": "ga4", "url": "https://g.example/?s=${GA4_API_SECRET}"}},
    "routes": [{"name": "r", "to": ["ga4"]}]})");
  const Unsealed gone = without.unseal(sealed);
  ASSERT_FALSE(gone.delivery.has_value());
  EXPECT_EQ(gone.error.code, "missing_secret");
  EXPECT_NE(gone.error.message.find("ADS_TOKEN"), std::string::npos) << gone.error.message;
  EXPECT_NE(gone.error.message.find("developer-token"), std::string::npos) << gone.error.message;
  EXPECT_EQ(gone.error.message.find("ads-dev-token"), std::string::npos) << gone.error.message;
}

TEST(SealedDelivery, RandomDeliveriesRoundTripByteForByte) {
  const Engine engine = engine_with(kSecrets);
  const std::vector<std::string> pieces = {"$",
                                           "${",
                                           "${ADS_TOKEN}",
                                           "$$",
                                           "}",
                                           "ads-dev-token-123",
                                           "ga4/s3cret+value",
                                           "ga4%2Fs3cret%2Bvalue",
                                           "\xff",
                                           "\xc3\xa9",
                                           "q",
                                           "crm\\\"key\\\\with\\ttab",
                                           "\n"};
  std::mt19937 random(7);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  const auto text = [&] {
    std::string out;
    for (int n = static_cast<int>(random() % 12); n > 0; --n) out += pieces[pick(random)];
    return out;
  };
  for (int round = 0; round < 2000; ++round) {
    Delivery d{"route",
               "dest",
               text(),
               text(),
               {{"X-A", text()}, {"X-B", text()}},
               text(),
               "CA1:Call.Complete:route",
               static_cast<std::int64_t>(random() % 60000)};
    const Unsealed back = engine.unseal(engine.seal(d));
    ASSERT_TRUE(back.delivery.has_value()) << back.error.message;
    expect_same(*back.delivery, d);
  }
}

TEST(SealedDelivery, WhatIsNotASealedDeliveryIsBadSealed) {
  const Engine engine = engine_with(kSecrets);
  const std::string good = engine.seal(deliveries_for(engine, "x")[0]);
  json doc = json::parse(good);
  std::vector<std::string> bad = {"", "not json", "[]", "{}", R"({"sealed":2})"};
  for (const char* key : {"route", "destination", "method", "url", "headers", "body",
                          "idempotency_key", "timeout_ms", "sealed"}) {
    json without = doc;
    without.erase(key);
    bad.push_back(without.dump());
  }
  json object_headers = doc;
  object_headers["headers"] = json::object({{"a", "b"}});
  bad.push_back(object_headers.dump());
  json dangling = doc;
  dangling["body"] = "a lone $";
  bad.push_back(dangling.dump());
  json negative = doc;
  negative["timeout_ms"] = -1;
  bad.push_back(negative.dump());
  for (const std::string& text : bad) {
    const Unsealed u = engine.unseal(text);
    EXPECT_FALSE(u.delivery.has_value()) << text;
    EXPECT_EQ(u.error.code, "bad_sealed") << text;
    EXPECT_FALSE(u.error.message.empty());
  }
}

TEST(DeliveryJson, ThePlainFormRoundTrips) {
  const Delivery d{"r",
                   "crm",
                   "POST",
                   "https://x/?a=1",
                   {{"Content-Type", "application/json"}},
                   "{}",
                   "CA1:Call.Complete:r",
                   30000,
                   "CA1",
                   "AC1:CA1",
                   "event"};
  std::string text;
  write_delivery_json(d, text);
  EXPECT_EQ(text, R"({"route":"r","destination":"crm","method":"POST","url":"https://x/?a=1",)"
                  R"("headers":[["Content-Type","application/json"]],"body":"{}",)"
                  R"("idempotency_key":"CA1:Call.Complete:r","timeout_ms":30000,)"
                  R"("call_sid":"CA1","record_key":"AC1:CA1","trigger":"event"})");
  std::string problem;
  const auto back = parse_delivery_json(text, problem);
  ASSERT_TRUE(back.has_value()) << problem;
  expect_same(*back, d);
  // Headers as an object and no timeout are taken too; a missing url is not.
  const auto loose = parse_delivery_json(
      R"({"route":"r","destination":"d","method":"GET","url":"u","headers":{"A":"b"},)"
      R"("body":"","idempotency_key":"k"})",
      problem);
  ASSERT_TRUE(loose.has_value()) << problem;
  EXPECT_EQ(loose->headers.at(0).value, "b");
  EXPECT_EQ(loose->timeout_ms, 0);
  EXPECT_FALSE(parse_delivery_json(R"({"route":"r"})", problem).has_value());
  EXPECT_FALSE(problem.empty());
}

TEST(DeliveryJson, FormsWithoutWhatADeliveryBelongsToAreReadFromTheKey) {
  // Deliveries (and sealed text) written before call_sid, record_key and trigger existed.
  std::string problem;
  const auto read = [&](std::string_view route, std::string_view key) {
    const std::string text = R"({"route":")" + std::string(route) +
                             R"(","destination":"d","method":"POST","url":"u","headers":[],)" +
                             R"("body":"","idempotency_key":")" + std::string(key) + R"("})";
    auto d = parse_delivery_json(text, problem);
    EXPECT_TRUE(d.has_value()) << problem;
    return d.value_or(Delivery{});
  };
  Delivery d = read("r", "CA1:Call.Initiate:r");
  EXPECT_EQ(d.call_sid, "CA1");
  EXPECT_EQ(d.trigger, "event");
  EXPECT_EQ(d.record_key, "");
  d = read("answered", "CA:with:colons:complete:answered");
  EXPECT_EQ(d.call_sid, "CA:with:colons");
  EXPECT_EQ(d.trigger, "complete");
  d = read("a:b", "CA2:abandoned:a:b");
  EXPECT_EQ(d.call_sid, "CA2") << "a route name may hold a colon too";
  EXPECT_EQ(d.trigger, "abandoned");
  d = read("r", "not-a-key");
  EXPECT_EQ(d.call_sid, "");
  EXPECT_EQ(d.trigger, "");
  d = read("r", "CA3:Call.Other:r");
  EXPECT_EQ(d.call_sid, "") << "what fired must be known";
  // A member that is there wins; one of the wrong type is refused.
  auto given = parse_delivery_json(
      R"({"route":"r","destination":"d","method":"POST","url":"u","headers":[],"body":"",)"
      R"("idempotency_key":"CA1:complete:r","call_sid":"CA9","trigger":"complete"})",
      problem);
  ASSERT_TRUE(given.has_value()) << problem;
  EXPECT_EQ(given->call_sid, "CA9");
  EXPECT_FALSE(parse_delivery_json(
                   R"({"route":"r","destination":"d","method":"POST","url":"u","headers":[],)"
                   R"("body":"","idempotency_key":"k","record_key":5})",
                   problem)
                   .has_value());
  EXPECT_NE(problem.find("record_key"), std::string::npos);

  // Sealed text of the first format, without them, still unseals.
  const Engine engine = engine_with(kSecrets);
  const Unsealed old = engine.unseal(
      R"({"sealed":1,"route":"r","destination":"ga4","method":"POST","url":"https://x/?k=${ADS_TOKEN}",)"
      R"("headers":[["Idempotency-Key","CA7:Call.Complete:r"]],"body":"{}",)"
      R"("idempotency_key":"CA7:Call.Complete:r","timeout_ms":30000})");
  ASSERT_TRUE(old.delivery.has_value()) << old.error.message;
  EXPECT_EQ(old.delivery->url, "https://x/?k=ads-dev-token-123");
  EXPECT_EQ(old.delivery->call_sid, "CA7");
  EXPECT_EQ(old.delivery->trigger, "event");
  EXPECT_EQ(old.delivery->record_key, "");
}

}  // namespace
}  // namespace callhook::testing
