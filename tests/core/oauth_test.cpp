// Engine::token_result: what a token endpoint's answer means (RFC 6749 sections 5.1 and 5.2, in
// the shapes of the destinations contract's section 1), and the whole loop a shell runs for
// an oauth2 destination: plan, mint, send, a refused token refreshed once.
#include <gtest/gtest.h>

#include <map>

#include "callhook/engine.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'714'533'342'000;
constexpr std::string_view kRefreshToken = "1//0gAbCdEf-refresh";
constexpr std::string_view kClientSecret = "GOCSPX-xyz-secret";

Engine oauth_engine(json more = json::object()) {
  json dest = {{"url", "https://dest.example/hook"},
               {"auth",
                {{"type", "oauth2"},
                 {"token_url", "https://auth.example/token"},
                 {"client_id", "client-1"},
                 {"client_secret", "${CLIENT_SECRET}"},
                 {"refresh_token", "${REFRESH_TOKEN}"}}},
               {"delivery", {{"attempts", 3}, {"schedule_seconds", {10, 60}}, {"jitter", 0}}}};
  dest.update(more);
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(
      json{{"destinations", {{"ads", dest}}}}.dump(),
      [](std::string_view name) -> std::optional<std::string> {
        if (name == "CLIENT_SECRET") return std::string(kClientSecret);
        if (name == "REFRESH_TOKEN") return std::string(kRefreshToken);
        return std::nullopt;
      },
      &errors);
  EXPECT_TRUE(engine.has_value()) << (errors.empty() ? "" : errors[0].field);
  return std::move(*engine);
}

AttemptInput token_answer(int status, std::string body, int attempt = 1) {
  AttemptInput in;
  in.route = "r";
  in.destination = "ads";
  in.idempotency_key = "CA1:Call.Complete:r";
  in.attempt = attempt;
  in.now_ms = kNow;
  in.answer.status = status;
  in.answer.headers = {{"Content-Type", "application/json"}};
  in.answer.body = std::move(body);
  return in;
}

AttemptInput failed(AttemptAnswer::Kind kind, std::string error = {}) {
  AttemptInput in = token_answer(0, "");
  in.answer = AttemptAnswer{};
  in.answer.kind = kind;
  in.answer.error = std::move(error);
  return in;
}

void expect_no_credentials(const AttemptVerdict& v) {
  for (const std::string_view secret : {kRefreshToken, kClientSecret}) {
    EXPECT_EQ(v.reason.find(secret), std::string::npos) << v.reason;
    EXPECT_EQ(v.log.find(secret), std::string::npos) << v.log;
  }
}

TEST(OauthToken, AnAccessTokenIsCachedUntilFiveMinutesBeforeItExpires) {
  const Engine engine = oauth_engine();
  TokenOutcome t = engine.token_result(token_answer(
      200, R"({"access_token":"ya29.a0AfB_stand-in-token","expires_in":3599,"token_type":"Bearer",)"
           R"("scope":"https://www.googleapis.com/auth/adwords"})"));
  ASSERT_FALSE(t.verdict.has_value()) << t.verdict->reason;
  EXPECT_EQ(t.access_token, "ya29.a0AfB_stand-in-token");
  EXPECT_EQ(t.cache_until_ms, kNow + 3'599'000 - 300'000);

  // No expires_in: an hour, as Google's tokens live.
  t = engine.token_result(token_answer(200, R"({"access_token":"tok"})"));
  ASSERT_FALSE(t.verdict.has_value());
  EXPECT_EQ(t.cache_until_ms, kNow + 3'600'000 - 300'000);
  // Some endpoints write it as a string.
  t = engine.token_result(token_answer(200, R"({"access_token":"tok","expires_in":"1200"})"));
  EXPECT_EQ(t.cache_until_ms, kNow + 1'200'000 - 300'000);
  // Nonsense lifetimes are the default.
  for (const char* e : {"0", "-5", "\"soon\"", "null"}) {
    t = engine.token_result(
        token_answer(200, std::string(R"({"access_token":"tok","expires_in":)") + e + "}"));
    EXPECT_EQ(t.cache_until_ms, kNow + 3'300'000) << e;
  }
}

TEST(OauthToken, AShortLifetimeIsCachedForHalfOfIt) {
  const Engine engine = oauth_engine();
  TokenOutcome t =
      engine.token_result(token_answer(200, R"({"access_token":"tok","expires_in":300})"));
  ASSERT_FALSE(t.verdict.has_value());
  EXPECT_EQ(t.cache_until_ms, kNow + 150'000);
  t = engine.token_result(token_answer(200, R"({"access_token":"tok","expires_in":599.5})"));
  EXPECT_EQ(t.cache_until_ms, kNow + 299'750);
  t = engine.token_result(token_answer(200, R"({"access_token":"tok","expires_in":600})"));
  EXPECT_EQ(t.cache_until_ms, kNow + 300'000) << "ten minutes: five off";
}

TEST(OauthToken, A2xxWithoutAUsableTokenIsRefused) {
  const Engine engine = oauth_engine();
  for (const char* body :
       {R"({"token_type":"Bearer"})", R"({"access_token":""})", R"({"access_token":5})",
        "access_token=abc&expires_in=3600", "", "[]"}) {
    const TokenOutcome t = engine.token_result(token_answer(200, body));
    ASSERT_TRUE(t.verdict.has_value()) << body;
    EXPECT_EQ(t.verdict->kind, AttemptVerdict::Kind::dead);
    EXPECT_EQ(t.verdict->code, "token_refused");
    EXPECT_EQ(t.verdict->reason, "the token endpoint's answer had no access_token") << body;
    EXPECT_TRUE(t.access_token.empty());
  }
  const TokenOutcome split =
      engine.token_result(token_answer(200, R"({"access_token":"tok\r\nX-Evil: 1"})"));
  ASSERT_TRUE(split.verdict.has_value());
  EXPECT_EQ(split.verdict->code, "token_refused");
}

TEST(OauthToken, TheContractsErrorShapesAreRefusedWithTheirCodeAndDescription) {
  const Engine engine = oauth_engine();
  struct Case {
    int status;
    const char* body;
    const char* reason;
  };
  for (const Case& c : {
           Case{400,
                R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})",
                "token endpoint refused: invalid_grant: Token has been expired or revoked."},
           Case{401,
                R"({"error":"invalid_client","error_description":"The OAuth client was not found."})",
                "token endpoint refused: invalid_client: The OAuth client was not found."},
           Case{401, R"({"error":"unauthorized_client","error_description":"Unauthorized"})",
                "token endpoint refused: unauthorized_client: Unauthorized"},
           Case{400,
                R"({"error":"unsupported_grant_type","error_description":"Invalid grant_type: client_credentials"})",
                "token endpoint refused: unsupported_grant_type: Invalid grant_type: "
                "client_credentials"},
           Case{400, R"({"error":"invalid_scope"})", "token endpoint refused: invalid_scope"},
           Case{403, "<html>Forbidden</html>", "token endpoint refused: HTTP 403"},
           Case{400, R"({"error":{"code":400}})", "token endpoint refused: HTTP 400"},
       }) {
    const TokenOutcome t = engine.token_result(token_answer(c.status, c.body));
    ASSERT_TRUE(t.verdict.has_value()) << c.body;
    EXPECT_EQ(t.verdict->kind, AttemptVerdict::Kind::dead) << c.body;
    EXPECT_EQ(t.verdict->code, "token_refused") << c.body;
    EXPECT_EQ(t.verdict->reason, c.reason);
    const json log = json::parse(t.verdict->log);
    EXPECT_EQ(log["msg"], "token_dead");
    EXPECT_EQ(log["destination"], "ads");
    EXPECT_EQ(log["code"], "token_refused");
    EXPECT_EQ(log["status"], c.status);
  }
}

TEST(OauthToken, AnEchoOfTheRequestsSecretsNeverReachesTheReason) {
  // Configured by reference and literally: neither survives.
  const Engine engine = oauth_engine(
      {{"auth",
        {{"type", "oauth2"},
         {"token_url", "https://auth.example/token"},
         {"client_id", "client-1"},
         {"client_secret", "literal-client-secret"},
         {"refresh_token", "${REFRESH_TOKEN}"}}}});
  const std::string description =
      "bad request: refresh_token=1%2F%2F0gAbCdEf-refresh&client_secret=literal-client-secret "
      "also " +
      std::string(kRefreshToken);
  const TokenOutcome t = engine.token_result(token_answer(
      400, json{{"error", "invalid_request"}, {"error_description", description}}.dump()));
  ASSERT_TRUE(t.verdict.has_value());
  const std::string& reason = t.verdict->reason;
  EXPECT_EQ(reason.find("literal-client-secret"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("0gAbCdEf"), std::string::npos) << reason;
  EXPECT_EQ(t.verdict->log.find("0gAbCdEf"), std::string::npos) << t.verdict->log;
  EXPECT_EQ(t.verdict->log.find("literal-client-secret"), std::string::npos);
  EXPECT_TRUE(reason.starts_with("token endpoint refused: invalid_request: bad request: "))
      << reason;
  // A description longer than a reason is clipped.
  const TokenOutcome long_one = engine.token_result(token_answer(
      400, json{{"error", "invalid_grant"}, {"error_description", std::string(5000, 'x')}}.dump()));
  ASSERT_TRUE(long_one.verdict.has_value());
  EXPECT_LT(long_one.verdict->reason.size(), 400u);
  EXPECT_TRUE(long_one.verdict->reason.ends_with("..."));
}

TEST(OauthToken, OtherStatusesAndRedirectsAreRefused) {
  const Engine engine = oauth_engine();
  for (const int status : {302, 404, 405, 418}) {
    const TokenOutcome t = engine.token_result(token_answer(status, "nope"));
    ASSERT_TRUE(t.verdict.has_value()) << status;
    EXPECT_EQ(t.verdict->kind, AttemptVerdict::Kind::dead) << status;
    EXPECT_EQ(t.verdict->code, "token_refused") << status;
    EXPECT_NE(t.verdict->reason.find("HTTP " + std::to_string(status)), std::string::npos);
  }
  const TokenOutcome hidden = engine.token_result(failed(AttemptAnswer::Kind::redirect));
  ASSERT_TRUE(hidden.verdict.has_value());
  EXPECT_EQ(hidden.verdict->code, "token_refused");
  const TokenOutcome unsendable =
      engine.token_result(failed(AttemptAnswer::Kind::unsendable, "could not build it"));
  ASSERT_TRUE(unsendable.verdict.has_value());
  EXPECT_EQ(unsendable.verdict->code, "unsendable");
}

TEST(OauthToken, ABusyOrUnreachableEndpointIsRetriedOnTheDestinationsSchedule) {
  const Engine engine = oauth_engine();
  for (const int status : {429, 500, 503}) {
    const TokenOutcome t = engine.token_result(token_answer(status, "busy"));
    ASSERT_TRUE(t.verdict.has_value()) << status;
    EXPECT_EQ(t.verdict->kind, AttemptVerdict::Kind::retry);
    EXPECT_EQ(t.verdict->code, "token_unavailable");
    EXPECT_EQ(t.verdict->delay_ms, 10'000) << "schedule_seconds[0], no jitter";
    EXPECT_EQ(t.verdict->reason, "the token endpoint: HTTP " + std::to_string(status));
    const json log = json::parse(t.verdict->log);
    EXPECT_EQ(log["msg"], "token_retry");
    EXPECT_EQ(log["code"], "token_unavailable");
    EXPECT_EQ(log["retry_in_ms"], 10'000);
  }
  AttemptInput with_retry_after = token_answer(429, "", 2);
  with_retry_after.answer.headers.push_back({"Retry-After", "30"});
  TokenOutcome t = engine.token_result(with_retry_after);
  ASSERT_TRUE(t.verdict.has_value());
  EXPECT_EQ(t.verdict->delay_ms, 30'000);
  EXPECT_TRUE(t.verdict->retry_after);

  t = engine.token_result(failed(AttemptAnswer::Kind::timeout));
  ASSERT_TRUE(t.verdict.has_value());
  EXPECT_EQ(t.verdict->code, "token_unavailable");
  EXPECT_EQ(t.verdict->reason, "the token endpoint: no answer within 30000 ms");
  t = engine.token_result(failed(AttemptAnswer::Kind::transport_error, "ECONNREFUSED"));
  ASSERT_TRUE(t.verdict.has_value());
  EXPECT_EQ(t.verdict->code, "token_unavailable");
  EXPECT_EQ(t.verdict->reason, "the token endpoint: transport error: ECONNREFUSED");

  // The delivery's attempts bound it: the third of three gives up.
  t = engine.token_result(token_answer(503, "", 3));
  ASSERT_TRUE(t.verdict.has_value());
  EXPECT_EQ(t.verdict->kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(t.verdict->code, "attempts_exhausted");
  EXPECT_EQ(t.verdict->reason, "gave up after 3 attempts; the last: the token endpoint: HTTP 503");
  EXPECT_EQ(json::parse(t.verdict->log)["msg"], "token_dead");
  // And its deadline.
  AttemptInput late = token_answer(503, "");
  late.not_after_ms = kNow + 5'000;
  t = engine.token_result(late);
  ASSERT_TRUE(t.verdict.has_value());
  EXPECT_EQ(t.verdict->code, "deadline_passed");
  EXPECT_TRUE(t.verdict->reason.ends_with("; the last attempt: the token endpoint: HTTP 503"))
      << t.verdict->reason;
}

TEST(OauthToken, TheJsonForms) {
  TokenOutcome token;
  token.access_token = "ya29.x";
  token.cache_until_ms = kNow;
  std::string text;
  write_token_outcome_json(token, text);
  EXPECT_EQ(json::parse(text), json({{"access_token", "ya29.x"}, {"cache_until_ms", kNow}}));

  const Engine engine = oauth_engine();
  text.clear();
  write_token_outcome_json(engine.token_result(token_answer(503, "")), text);
  const json doc = json::parse(text);
  EXPECT_EQ(doc.size(), 1u);
  EXPECT_EQ(doc["verdict"]["verdict"], "retry");
  EXPECT_EQ(doc["verdict"]["code"], "token_unavailable");
  EXPECT_EQ(doc["verdict"]["retry_at_ms"], kNow + 10'000);
  EXPECT_FALSE(doc.contains("access_token"));
}

TEST(OauthLoop, PlanMintSendAndARefusedCachedTokenRefreshedOnce) {
  const Engine engine = oauth_engine();
  Delivery d;
  d.route = "r";
  d.destination = "ads";
  d.method = "POST";
  d.url = "https://dest.example/hook";
  d.body = "{}";
  d.idempotency_key = "CA1:Call.Complete:r";
  const std::string sealed = engine.seal(d);

  // 1. No token cached: the token request.
  SendPlan plan = engine.plan_send(sealed, "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::need_token);
  EXPECT_EQ(plan.request.body,
            "grant_type=refresh_token&refresh_token=1%2F%2F0gAbCdEf-refresh&client_id=client-1"
            "&client_secret=GOCSPX-xyz-secret");
  // 2. Minted.
  TokenOutcome minted = engine.token_result(
      token_answer(200, R"({"access_token":"ya29.first","expires_in":3599})"));
  ASSERT_FALSE(minted.verdict.has_value());
  // 3. Sent with it.
  plan = engine.plan_send(sealed, minted.access_token, {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  // 4. Later, the cached token is refused: at once again with a fresh one, and the cache dropped.
  AttemptInput attempt = token_answer(401, R"({"error":{"status":"UNAUTHENTICATED"}})");
  AttemptVerdict v = engine.attempt_result(attempt);
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry);
  EXPECT_EQ(v.code, "token_rejected");
  EXPECT_EQ(v.delay_ms, 0);
  EXPECT_TRUE(v.drop_token);
  // 5. The fresh token is refused too: the credentials are, and no retry mends that.
  attempt.attempt = 2;
  attempt.fresh_token = true;
  v = engine.attempt_result(attempt);
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "not_retryable_status");
  EXPECT_TRUE(v.drop_token);
  EXPECT_EQ(v.reason.find("ya29"), std::string::npos);
}

}  // namespace
}  // namespace callhook::testing
