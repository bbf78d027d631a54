// The delivery lifecycle: tests/vectors/delivery/*.json (every target runs them) and the pieces
// under them (HTTP dates, the default schedule).
#include <gtest/gtest.h>

#include <numeric>

#include "callhook/delivery.h"
#include "callhook/engine.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

class AttemptVector : public ::testing::Test {
 public:
  AttemptVector(json config, json vector) : config_(std::move(config)), v_(std::move(vector)) {}

  void TestBody() override {
    const json config = v_.contains("config") ? v_["config"] : config_;
    std::vector<Diagnostic> errors;
    const auto engine = Engine::from_config(
        config.dump(), [](std::string_view) { return std::optional<std::string>(); }, &errors);
    ASSERT_TRUE(engine.has_value()) << (errors.empty() ? "" : errors[0].field);
    std::string problem;
    const auto input = parse_attempt_json(v_["attempt"].dump(), problem);
    ASSERT_TRUE(input.has_value()) << problem;
    std::string text;
    write_attempt_verdict_json(engine->attempt_result(*input), text);
    const json actual = json::parse(text);
    for (const auto& [key, expected] : v_["expect"].items()) {
      EXPECT_EQ(actual[key], expected) << key << " in " << text;
    }
    // The log line names the delivery and never its URL.
    EXPECT_EQ(actual["log"]["attempt"], v_["attempt"]["attempt"]);
    EXPECT_EQ(text.find("http://"), std::string::npos) << text;
  }

 private:
  json config_;
  json v_;
};

const bool kRegistered = [] {
  for (const VectorFile& file : load_vectors("delivery")) {
    const std::string suite =
        "DeliveryVectors_" + test_name(std::filesystem::path(file.path).stem().string());
    if (file.document.is_discarded() || !file.document.contains("cases")) continue;
    const json config = file.document.value("config", json::object());
    for (const json& vector : file.document["cases"]) {
      const std::string name = test_name(vector.value("name", std::string("case")));
      ::testing::RegisterTest(
          suite.c_str(), name.c_str(), nullptr, nullptr, file.path.c_str(), 0,
          [config, vector]() -> ::testing::Test* { return new AttemptVector(config, vector); });
    }
  }
  return true;
}();

TEST(HttpDate, ThreeFormsOfOneInstant) {
  constexpr std::int64_t kInstant = 784111777;  // RFC 9110's example: 1994-11-06 08:49:37 UTC
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kInstant);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kInstant);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kInstant);
}

TEST(HttpDate, RefusesWhatIsNotADate) {
  for (const char* text :
       {"", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 31 Apr 2024 00:00:00 GMT",
        "Thu, 29 Feb 2023 00:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT trailing", "120",
        "Sun Nov 6 08:49:37 1994"}) {
    EXPECT_FALSE(parse_http_date(text).has_value()) << text;
  }
  EXPECT_TRUE(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").has_value());
}

TEST(RetryAfter, SecondsDatesAndNonsense) {
  constexpr std::int64_t kNow = 784111777000;
  EXPECT_EQ(parse_retry_after("0", kNow), 0);
  EXPECT_EQ(parse_retry_after("  30 ", kNow), 30000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", kNow), 60000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", kNow), 0);
  EXPECT_FALSE(parse_retry_after("-1", kNow).has_value());
  EXPECT_FALSE(parse_retry_after("1.5", kNow).has_value());
  EXPECT_FALSE(parse_retry_after("tomorrow", kNow).has_value());
}

TEST(RetryPolicy, DefaultScheduleSpansMoreThanADay) {
  const RetryPolicy policy;
  std::int64_t total = 0;
  for (int attempt = 1; attempt < policy.attempts; ++attempt) {
    total += policy.scheduled_wait_ms(attempt);
  }
  EXPECT_GT(total, 24 * 3600 * 1000LL) << "a destination down for a day loses webhooks";
  // The first retries come soon enough for a blip to cost seconds, not hours.
  EXPECT_LE(policy.scheduled_wait_ms(1), 60'000);
}

TEST(RetryPolicy, JitterStaysWithinItsBounds) {
  RetryPolicy policy;
  AttemptInput in;
  in.answer.status = 503;
  in.attempt = 3;
  for (double r = 0; r < 1; r += 0.01) {
    in.random = r;
    const AttemptVerdict v = decide_attempt(policy, nullptr, in);
    ASSERT_EQ(v.kind, AttemptVerdict::Kind::retry);
    EXPECT_GE(v.delay_ms, 96'000);
    EXPECT_LE(v.delay_ms, 144'000);
  }
  in.random = std::numeric_limits<double>::quiet_NaN();  // a shell's bad number is not a trap
  EXPECT_EQ(decide_attempt(policy, nullptr, in).delay_ms, 120'000);
}

TEST(AttemptJson, RefusesMalformedInput) {
  std::string problem;
  for (const char* text :
       {"[]", "{}", R"({"answer": {"status": 42}})", R"({"attempt": 0, "answer": {"status": 200}})",
        R"({"random": 2, "answer": {"status": 200}})",
        R"({"answer": {"status": 200, "headers": 5}})", "not json"}) {
    problem.clear();
    EXPECT_FALSE(parse_attempt_json(text, problem).has_value()) << text;
    EXPECT_FALSE(problem.empty()) << text;
  }
}

TEST(Redact, SecretsByReferenceAndNumbers) {
  const std::vector<ResolvedSecret> secrets = {
      {"SHORT", "abc"}, {"TOKEN", "tok3n-s3cret"}, {"LONGER", "tok3n-s3cret-and-more"}};
  EXPECT_EQ(redact("a tok3n-s3cret-and-more b tok3n-s3cret c abc", secrets),
            "a ${LONGER} b ${TOKEN} c abc");
  EXPECT_EQ(redact("from +14155550123 to %2B442071838750, not +123456 or 1+1"),
            "from [number] to [number], not +123456 or 1+1");
  EXPECT_EQ(redact("+1234567890123456 is too long to be a number"),
            "+1234567890123456 is too long to be a number");
}

// The secret TOKEN, long enough to be redacted.
std::optional<std::string> token_secret(std::string_view name) {
  if (name == "TOKEN") return std::string("tok3n-s3cret");
  return std::nullopt;
}

TEST(Redact, AnEngineTakesItsSecretsOutOfEveryVerdict) {
  const auto engine = Engine::from_config(
      R"({"destinations": {"d": {"url": "https://example.com/${TOKEN}"}},
          "routes": [{"name": "r", "to": ["d"]}]})",
      token_secret);
  ASSERT_TRUE(engine.has_value());
  AttemptInput in;
  in.destination = "d";
  in.answer.kind = AttemptAnswer::Kind::transport_error;
  in.answer.error = "connect to https://example.com/tok3n-s3cret for +14155550123 failed";
  const AttemptVerdict v = engine->attempt_result(in);
  for (const std::string& text : {v.reason, v.log}) {
    EXPECT_EQ(text.find("tok3n-s3cret"), std::string::npos) << text;
    EXPECT_EQ(text.find("+14155550123"), std::string::npos) << text;
    EXPECT_NE(text.find("${TOKEN}"), std::string::npos) << text;
  }
  EXPECT_EQ(engine->redact("x tok3n-s3cret y"), "x ${TOKEN} y");
}

// A webhook's log line quotes what the sender sent (its Call.Sid): the core redacts it, so that
// shells write it as it is.
TEST(Redact, AnEngineTakesItsSecretsOutOfEveryOutcomeLog) {
  const auto engine = Engine::from_config(
      R"({"correlation": {"abandon_after_seconds": 600, "retention_seconds": 3600},
          "destinations": {"d": {"url": "https://example.com/${TOKEN}"}},
          "routes": [{"name": "r", "to": ["d"]}]})",
      token_secret);
  ASSERT_TRUE(engine.has_value());
  Request request{.url = "/hook",
                  .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
                  .body = read_file(source_path("examples/payloads/complete.form"))};
  const std::size_t sid = request.body.find("Call.Sid=") + 9;
  request.body.replace(sid, request.body.find('&', sid) - sid, "CA-tok3n-s3cret-%2B14155550123");
  const Outcome first = engine->handle(request, 1714533342);
  ASSERT_TRUE(first.record.has_value()) << first.log;
  const Outcome again = engine->handle(request, 1714533350, first.record);
  EXPECT_TRUE(again.duplicate);
  for (const std::string& log : {first.log, again.log}) {
    EXPECT_NE(log.find("\"call_sid\":\"CA-${TOKEN}-[number]\""), std::string::npos) << log;
    EXPECT_EQ(log.find("tok3n-s3cret"), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace callhook::testing
