// Erasure matching (callhook/erasure.h): the operator's phone number normalized or refused, and
// which stored texts concern a call or a caller: records read precisely, deliveries (plain and
// sealed) by their call_sid or key, other text by every form the number takes.
#include "callhook/erasure.h"

#include <gtest/gtest.h>

#include "callhook/engine.h"
#include "crypto.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

std::string phone(std::string_view text) {
  std::string problem;
  const auto e164 = normalize_phone(text, problem);
  EXPECT_TRUE(e164.has_value()) << text << ": " << problem;
  return e164.value_or("");
}

std::string refused(std::string_view text) {
  std::string problem;
  EXPECT_FALSE(normalize_phone(text, problem).has_value()) << text;
  EXPECT_FALSE(problem.empty());
  return problem;
}

ErasureSubject by_phone(std::string_view number) {
  return {"", phone(number)};
}

ErasureSubject by_call(std::string_view sid) {
  return {std::string(sid), ""};
}

TEST(ErasurePhone, OperatorsSpellingsBecomeE164) {
  EXPECT_EQ(phone("+14155550123"), "+14155550123");
  EXPECT_EQ(phone("+1 (415) 555-0123"), "+14155550123");
  EXPECT_EQ(phone("  +1.415.555.0123\t"), "+14155550123");
  EXPECT_EQ(phone("tel:+44-20-7946-0958"), "+442079460958");
  EXPECT_EQ(phone("+6834002"), "+6834002") << "7 digits: the shortest numbers (Niue)";
  EXPECT_EQ(phone("+123456789012345"), "+123456789012345") << "15 digits, E.164's longest";
}

TEST(ErasurePhone, WhatIsNotANumberIsRefusedWithAReason) {
  EXPECT_NE(refused("14155550123").find("international form"), std::string::npos);
  EXPECT_NE(refused("(415) 555-0123").find("+"), std::string::npos);
  EXPECT_NE(refused("+1 415 555 0123 ext 9").find("character"), std::string::npos);
  EXPECT_NE(refused("+1415555012x").find("character"), std::string::npos);
  EXPECT_NE(refused("+1234567890123456").find("16 digits"), std::string::npos);
  EXPECT_NE(refused("+123456").find("6 digits"), std::string::npos);
  EXPECT_NE(refused("+044 20 7946 0958").find("0"), std::string::npos);
  refused("");
  refused("   ");
  refused("+");
  refused("++14155550123");
  refused("anonymous");
}

TEST(ErasureSubjectTest, ABadNumberOrNothingAtAllIsRefused) {
  ErasureProblem problem;
  EXPECT_FALSE(erasure_subject("", "", problem).has_value());
  EXPECT_EQ(problem.code, "empty_subject");
  EXPECT_FALSE(erasure_subject("CA1", "555-0123", problem).has_value());
  EXPECT_EQ(problem.code, "bad_phone");
  const auto subject = erasure_subject("CA1", "+1 415 555 0123", problem);
  ASSERT_TRUE(subject.has_value());
  EXPECT_EQ(subject->call_sid, "CA1");
  EXPECT_EQ(subject->phone, "+14155550123");
  const auto call_only = erasure_subject("CA1", "", problem);
  ASSERT_TRUE(call_only.has_value());
  EXPECT_EQ(call_only->phone, "");
}

TEST(ErasureText, EveryFormOfTheNumberIsFound) {
  const ErasureSubject s = by_phone("+14155550123");
  EXPECT_TRUE(mentions(R"({"from":"+14155550123"})", s));
  EXPECT_TRUE(mentions("https://crm.example/?caller=%2B14155550123&x=1", s));
  EXPECT_TRUE(mentions("https://crm.example/?caller=%2b14155550123", s));
  EXPECT_TRUE(mentions(R"({"from":"\u002B14155550123"})", s));
  EXPECT_TRUE(mentions(R"({"from":"\u002b14155550123"})", s));
  EXPECT_TRUE(mentions("<tel:+14155550123|call back>", s));
  EXPECT_TRUE(mentions("tel:14155550123", s));
  EXPECT_TRUE(mentions(R"({"phone":"14155550123"})", s));
  EXPECT_TRUE(mentions("14155550123", s));
  // Hashed for ad platforms: SHA-256 hex of the E.164 number and of its digits, either case.
  const std::string google = crypto::hex_encode(crypto::sha256("+14155550123"));
  const std::string meta = crypto::hex_encode(crypto::sha256("14155550123"));
  EXPECT_TRUE(mentions(R"({"userIdentifiers":[{"hashedPhoneNumber":")" + google + R"("}]})", s));
  EXPECT_TRUE(mentions(R"({"user_data":{"ph":[")" + meta + R"("]}})", s));
  std::string shouted = google;
  for (char& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(mentions(shouted, s));
}

TEST(ErasureText, OtherNumbersAndDigitsInsideWordsAreNot) {
  const ErasureSubject s = by_phone("+14155550123");
  EXPECT_FALSE(mentions(R"({"from":"+14155550124"})", s));
  EXPECT_FALSE(mentions(R"({"from":"+141555501234"})", s)) << "a longer number";
  EXPECT_FALSE(mentions(R"({"from":"+2214155550123"})", s)) << "the digits inside another number";
  EXPECT_FALSE(mentions("gclid=EAIa14155550123Qob", s)) << "digits inside a click id";
  EXPECT_FALSE(mentions("id_14155550123x", s));
  EXPECT_FALSE(mentions("(415) 555-0123", s)) << "national forms are not looked for";
  EXPECT_FALSE(mentions("", s));
  // A subject without a usable number matches nothing by number.
  EXPECT_FALSE(mentions("+14155550123", ErasureSubject{"", "14155550123"}));
  EXPECT_FALSE(mentions("+14155550123", ErasureSubject{}));
}

TEST(ErasureText, TheCallIsAWholeWordInTextThatSaysNothingElse) {
  EXPECT_TRUE(mentions("dead letter of CA100 at 12:00", by_call("CA100")));
  EXPECT_TRUE(mentions(R"({"key":"CA100:Call.Complete:r"})", by_call("CA100")));
  EXPECT_FALSE(mentions("dead letter of CA1000", by_call("CA100")));
  EXPECT_FALSE(mentions("XCA100", by_call("CA100")));
}

// ---- records ----------------------------------------------------------------------------------

constexpr const char* kConfig = R"({
  "destinations": {
    "sink": {"url": "https://sink.example/in"},
    "crm": {"format": "template", "url": "https://crm.example/leads",
            "options": {"body": {"phone": "{{ call.from.number }}", "sid": "{{ call.sid }}"}}}
  },
  "routes": [{"name": "each", "to": ["sink", "crm"]}]
})";

Engine make_engine() {
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(
      kConfig, [](std::string_view) -> std::optional<std::string> { return std::nullopt; },
      &errors);
  EXPECT_TRUE(engine.has_value()) << (errors.empty() ? "" : errors[0].message);
  return std::move(*engine);
}

std::string initiate(std::string_view sid, std::string_view from, std::string_view extra = "") {
  return "Action=Webhook&Event=Call.Initiate&Account.Sid=AC1&Property.Sid=PR1&Property.Name=x.com"
         "&Property.Type=Site&Call.Sid=" +
         std::string(sid) +
         "&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=" + std::string(from) +
         "&Call.To=%2B18005550199&Call.To.Name=Main" + "&Call.Endpoint=%2B14155550100" +
         std::string(extra);
}

Outcome handle(const Engine& engine, const std::string& body) {
  Request request;
  request.url = "/hook";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = body;
  Outcome outcome = engine.handle(request, 1714533342);
  EXPECT_EQ(outcome.response.status, 200) << outcome.response.body;
  return outcome;
}

TEST(ErasureRecord, ARecordIsReadPrecisely) {
  const Engine engine = make_engine();
  const Outcome outcome = handle(engine, initiate("CA100", "%2B14155550123"));
  ASSERT_TRUE(outcome.record.has_value());
  const std::string& record = *outcome.record;
  EXPECT_TRUE(engine.mentions(record, by_call("CA100")));
  EXPECT_FALSE(engine.mentions(record, by_call("CA10")));
  EXPECT_FALSE(engine.mentions(record, by_call("AC1"))) << "the account is not the call";
  EXPECT_TRUE(engine.mentions(record, by_phone("+1 415 555 0123")));
  EXPECT_FALSE(engine.mentions(record, by_phone("+14155550124")));
  // The business's own numbers are on every call to that line: they name no caller.
  EXPECT_FALSE(engine.mentions(record, by_phone("+18005550199"))) << "the tracking number";
  EXPECT_FALSE(engine.mentions(record, by_phone("+14155550100"))) << "the endpoint";
  // Either given, either found.
  EXPECT_TRUE(engine.mentions(record, ErasureSubject{"CA999", "+14155550123"}));
  EXPECT_TRUE(engine.mentions(record, ErasureSubject{"CA100", "+19995550000"}));
  EXPECT_FALSE(engine.mentions(record, ErasureSubject{"CA999", "+19995550000"}));
}

TEST(ErasureRecord, TheNumberElsewhereInTheCallCountsAnAnonymousCallerDoesNot) {
  const Engine engine = make_engine();
  // A caller who typed their number at a prompt: kept as an unknown field in lenient mode.
  const Outcome typed =
      handle(engine, initiate("CA200", "anonymous", "&Caller.Callback=%2B14155550123"));
  ASSERT_TRUE(typed.record.has_value());
  EXPECT_TRUE(engine.mentions(*typed.record, by_phone("+14155550123")));
  const Outcome anonymous = handle(engine, initiate("CA201", "anonymous"));
  ASSERT_TRUE(anonymous.record.has_value());
  EXPECT_FALSE(engine.mentions(*anonymous.record, by_phone("+14155550123")));
  EXPECT_TRUE(engine.mentions(*anonymous.record, by_call("CA201")));
}

// ---- deliveries -------------------------------------------------------------------------------

TEST(ErasureDelivery, DeliveriesPlainAndSealedByTheirCallAndTheNumberInThem) {
  const Engine engine = make_engine();
  const Outcome outcome = handle(engine, initiate("CA300", "%2B14155550123"));
  ASSERT_EQ(outcome.deliveries.size(), 2u);
  for (const Delivery& d : outcome.deliveries) {
    std::string plain;
    write_delivery_json(d, plain);
    const std::string sealed = engine.seal(d);
    for (const std::string& text : {plain, sealed}) {
      EXPECT_TRUE(engine.mentions(text, by_call("CA300"))) << text;
      EXPECT_FALSE(engine.mentions(text, by_call("CA30"))) << text;
      EXPECT_TRUE(engine.mentions(text, by_phone("+14155550123"))) << text;
      EXPECT_FALSE(engine.mentions(text, by_phone("+14155550124"))) << text;
    }
  }
  // The template's body carries the number as it is.
  const Delivery& crm = outcome.deliveries[1];
  EXPECT_NE(crm.body.find("\"+14155550123\""), std::string::npos) << crm.body;
}

TEST(ErasureDelivery, ADeliveryNamesItsCallExactlyNotByWhatItsBodyQuotes) {
  // Another call's delivery whose body quotes this call's sid is that other call's.
  const std::string other =
      R"({"sealed":1,"route":"r","destination":"d","method":"POST","url":"u","headers":[],)"
      R"("body":"{\"previous\":\"CA100\"}","idempotency_key":"CA555:Call.Complete:r",)"
      R"("timeout_ms":1000,"call_sid":"CA555","record_key":"AC1:CA555","trigger":"event"})";
  EXPECT_FALSE(mentions(other, by_call("CA100")));
  EXPECT_TRUE(mentions(other, by_call("CA555")));
  // Sealed text of before call_sid existed: the idempotency key says whose it is.
  const std::string old =
      R"({"sealed":1,"route":"r:x","destination":"d","method":"POST","url":"u","headers":[],)"
      R"("body":"{}","idempotency_key":"CA:7:abandoned:r:x","timeout_ms":1000})";
  EXPECT_TRUE(mentions(old, by_call("CA:7")));
  EXPECT_FALSE(mentions(old, by_call("CA")));
  // A shell's own entry around a sealed delivery, with the call_sid copied beside it.
  const std::string entry = R"({"id":"dl-1","call_sid":"CA777","sealed":"{\"sealed\":1}"})";
  EXPECT_TRUE(mentions(entry, by_call("CA777")));
  EXPECT_FALSE(mentions(entry, by_call("CA77")));
}

}  // namespace
}  // namespace callhook::testing
