// Engine::plan_send: the step before each attempt of a stored delivery (deadline, rate limit,
// credentials), the config keys it reads (`auth`, `rate_limit`, `concurrency`), its JSON form,
// and decide_attempt's reading of platform answers, refused tokens and deadlines.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <map>

#include "callhook/delivery.h"
#include "callhook/engine.h"
#include "callhook/render.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'714'533'342'000;

const std::map<std::string, std::string> kSecrets = {
    {"API_TOKEN", "bearer-s3cret-token"}, {"API_KEY", "key-s3cret-value"},
    {"CLIENT_SECRET", "GOCSPX-client/s3cret"}, {"REFRESH", "1//0gAbCdEf"},
    {"CLIENT_ID", "123-abc.apps.googleusercontent.com"}};

SecretLookup lookup() {
  return [](std::string_view name) -> std::optional<std::string> {
    const auto it = kSecrets.find(std::string(name));
    if (it == kSecrets.end()) return std::nullopt;
    return it->second;
  };
}

ConfigResult parse_destination(const json& destination) {
  return parse_config(json{{"destinations", {{"d", destination}}}}.dump(), lookup());
}

// The config's errors as "pointer code" lines, for readable failures.
std::string listed(const ConfigResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += d.field + " " + d.code + "; ";
  return out;
}

bool has_error(const ConfigResult& r, std::string_view pointer, std::string_view code) {
  for (const Diagnostic& d : r.errors) {
    if (d.field == pointer && d.code == code) return true;
  }
  return false;
}

Engine engine_of(const json& destinations) {
  std::vector<Diagnostic> errors;
  auto engine = Engine::from_config(json{{"destinations", destinations}}.dump(), lookup(), &errors);
  EXPECT_TRUE(engine.has_value()) << (errors.empty() ? "" : errors[0].field + " " + errors[0].code);
  return std::move(*engine);
}

Delivery delivery_to(std::string destination) {
  Delivery d;
  d.route = "r";
  d.destination = std::move(destination);
  d.method = "POST";
  d.url = "https://dest.example/hook";
  d.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", "CA1:Call.Complete:r"}};
  d.body = R"({"call":"CA1"})";
  d.idempotency_key = "CA1:Call.Complete:r";
  d.timeout_ms = 30000;
  d.call_sid = "CA1";
  d.record_key = "AC1:CA1";
  d.trigger = "event";
  return d;
}

std::optional<std::string> header_of(const Delivery& d, std::string_view name) {
  std::optional<std::string> found;
  for (const HttpHeader& h : d.headers) {
    std::string lower = h.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) {
      EXPECT_FALSE(found.has_value()) << "two " << name << " headers";
      found = h.value;
    }
  }
  return found;
}

const json kPlain = {{"url", "https://dest.example/hook"}};
const json kRefreshAuth = {{"type", "oauth2"},
                           {"token_url", "https://auth.example/token"},
                           {"client_id", "${CLIENT_ID}"},
                           {"client_secret", "${CLIENT_SECRET}"},
                           {"refresh_token", "${REFRESH}"}};

// ---- config -------------------------------------------------------------------------------------

TEST(SendPlanConfig, EachAuthKindIsRead) {
  json bearer = kPlain;
  bearer["auth"] = {{"type", "bearer"}, {"token", "${API_TOKEN}"}};
  auto r = parse_destination(bearer);
  ASSERT_TRUE(r.config) << listed(r);
  const DestinationAuth& b = r.config->destinations[0].auth;
  EXPECT_EQ(b.kind, DestinationAuth::Kind::bearer);
  EXPECT_EQ(b.token, "bearer-s3cret-token");

  json header = kPlain;
  header["auth"] = {{"type", "header"}, {"name", "X-Api-Key"}, {"value", "${API_KEY}"}};
  r = parse_destination(header);
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_EQ(r.config->destinations[0].auth.kind, DestinationAuth::Kind::header);
  EXPECT_EQ(r.config->destinations[0].auth.header, "X-Api-Key");
  EXPECT_EQ(r.config->destinations[0].auth.value, "key-s3cret-value");

  json refresh = kPlain;
  refresh["auth"] = kRefreshAuth;
  refresh["auth"]["scope"] = "a b";
  r = parse_destination(refresh);
  ASSERT_TRUE(r.config) << listed(r);
  const DestinationAuth& o = r.config->destinations[0].auth;
  EXPECT_EQ(o.kind, DestinationAuth::Kind::oauth2);
  EXPECT_EQ(o.grant, DestinationAuth::Grant::refresh_token);
  EXPECT_EQ(o.token_url, "https://auth.example/token");
  EXPECT_EQ(o.client_id, "123-abc.apps.googleusercontent.com");
  EXPECT_EQ(o.client_secret, "GOCSPX-client/s3cret");
  EXPECT_EQ(o.refresh_token, "1//0gAbCdEf");
  EXPECT_EQ(o.scope, "a b");
  // Resolved secrets are known to the config, so every log line is redacted of them.
  bool refresh_known = false;
  for (const auto& [name, value] : r.config->secrets) refresh_known |= name == "REFRESH";
  EXPECT_TRUE(refresh_known);

  refresh["auth"]["grant"] = "refresh_token";
  r = parse_destination(refresh);
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_EQ(r.config->destinations[0].auth.grant, DestinationAuth::Grant::refresh_token);

  json client = kPlain;
  client["auth"] = {{"type", "oauth2"},
                    {"grant", "client_credentials"},
                    {"token_url", "https://auth.example/token"},
                    {"client_id", "svc"},
                    {"client_secret", "${CLIENT_SECRET}"}};
  r = parse_destination(client);
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_EQ(r.config->destinations[0].auth.grant, DestinationAuth::Grant::client_credentials);
  EXPECT_EQ(r.config->destinations[0].auth.scope, "");
}

TEST(SendPlanConfig, GoogleAdsDefaultsToGooglesTokenEndpointAndScope) {
  json ads = {{"format", "google-ads"},
              {"url", "https://ads.example/upload"},
              {"options", {{"conversion_action", "customers/1/conversionActions/2"}}},
              {"auth",
               {{"type", "oauth2"},
                {"client_id", "${CLIENT_ID}"},
                {"client_secret", "${CLIENT_SECRET}"},
                {"refresh_token", "${REFRESH}"}}}};
  auto r = parse_destination(ads);
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_EQ(r.config->destinations[0].auth.token_url, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(r.config->destinations[0].auth.scope, "https://www.googleapis.com/auth/adwords");
  // Written ones win.
  ads["auth"]["token_url"] = "http://127.0.0.1:9/token";
  ads["auth"]["scope"] = "";
  r = parse_destination(ads);
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_EQ(r.config->destinations[0].auth.token_url, "http://127.0.0.1:9/token");
  EXPECT_EQ(r.config->destinations[0].auth.scope, "");
  // Any other format needs its token_url.
  json other = kPlain;
  other["auth"] = ads["auth"];
  other["auth"].erase("token_url");
  EXPECT_TRUE(has_error(parse_destination(other), "/destinations/d/auth/token_url", "missing"));
}

TEST(SendPlanConfig, ALiteralSecretIsTheUsersChoice) {
  json d = kPlain;
  d["auth"] = {{"type", "bearer"}, {"token", "written-in-the-config"}};
  const auto r = parse_destination(d);
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_EQ(r.config->destinations[0].auth.token, "written-in-the-config");
}

TEST(SendPlanConfig, AuthProblemsHaveTheirPointers) {
  const auto errors_of = [](json auth) {
    json d = kPlain;
    d["auth"] = std::move(auth);
    return parse_destination(d);
  };
  const std::string p = "/destinations/d/auth";
  EXPECT_TRUE(has_error(errors_of({{"type", "digest"}}), p + "/type", "bad_value"));
  EXPECT_TRUE(has_error(errors_of(json::object()), p + "/type", "missing"));
  EXPECT_TRUE(has_error(errors_of("Bearer x"), p, "wrong_type"));
  EXPECT_TRUE(has_error(errors_of({{"type", "bearer"}}), p + "/token", "missing"));
  EXPECT_TRUE(has_error(errors_of({{"type", "bearer"}, {"token", ""}}), p + "/token", "bad_value"));
  EXPECT_TRUE(has_error(errors_of({{"type", "bearer"}, {"token", "${NOT_SET}"}}), p + "/token",
                        "missing_secret"));
  EXPECT_TRUE(has_error(errors_of({{"type", "bearer"}, {"token", "t"}, {"name", "X"}}),
                        p + "/name", "unknown_key"));
  EXPECT_TRUE(has_error(errors_of({{"type", "header"}, {"value", "v"}}), p + "/name", "missing"));
  EXPECT_TRUE(has_error(errors_of({{"type", "header"}, {"name", "X Key"}, {"value", "v"}}),
                        p + "/name", "bad_value"));
  EXPECT_TRUE(has_error(errors_of({{"type", "header"}, {"name", "X-Key"}, {"value", "a\r\nB: c"}}),
                        p + "/value", "bad_value"));
  EXPECT_TRUE(has_error(errors_of({{"type", "header"}, {"name", "X-Key"}}), p + "/value",
                        "missing"));

  json oauth = kRefreshAuth;
  oauth["token_url"] = "ftp://auth.example/token";
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/token_url", "bad_value"));
  oauth = kRefreshAuth;
  oauth.erase("client_id");
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/client_id", "missing"));
  oauth = kRefreshAuth;
  oauth.erase("refresh_token");  // and no grant: which one is meant is not guessed
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/refresh_token", "missing"));
  oauth["grant"] = "refresh_token";
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/refresh_token", "missing"));
  oauth["grant"] = "password";
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/grant", "bad_value"));
  oauth["grant"] = "client_credentials";
  oauth.erase("client_secret");
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/client_secret", "missing"));
  oauth = kRefreshAuth;
  oauth["grant"] = "client_credentials";
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/refresh_token", "bad_value"));
  oauth = kRefreshAuth;
  oauth["audience"] = "x";
  EXPECT_TRUE(has_error(errors_of(oauth), p + "/audience", "unknown_key"));
  // The refresh grant goes without a client secret (installed-app clients have none).
  oauth = kRefreshAuth;
  oauth.erase("client_secret");
  EXPECT_TRUE(errors_of(oauth).config.has_value());
}

TEST(SendPlanConfig, RateLimitAndConcurrency) {
  const auto read = [](json more) {
    json d = kPlain;
    d.update(more);
    return parse_destination(d);
  };
  auto r = read({{"rate_limit", {{"per_second", 5}}}, {"concurrency", 8}});
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_DOUBLE_EQ(r.config->destinations[0].rate_limit.per_second, 5);
  EXPECT_DOUBLE_EQ(r.config->destinations[0].rate_limit.burst, 5) << "burst: per_second";
  EXPECT_EQ(r.config->destinations[0].concurrency, 8);

  r = read({{"rate_limit", {{"per_minute", 30}}}});
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_DOUBLE_EQ(r.config->destinations[0].rate_limit.per_second, 0.5);
  EXPECT_DOUBLE_EQ(r.config->destinations[0].rate_limit.burst, 1) << "burst: at least 1";
  EXPECT_EQ(r.config->destinations[0].concurrency, 0) << "the shell's default";

  r = read({{"rate_limit", {{"per_second", 0.5}, {"burst", 10}}}});
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_DOUBLE_EQ(r.config->destinations[0].rate_limit.burst, 10);

  r = read(json::object());
  ASSERT_TRUE(r.config) << listed(r);
  EXPECT_DOUBLE_EQ(r.config->destinations[0].rate_limit.per_second, 0) << "no limit";

  const std::string p = "/destinations/d";
  EXPECT_TRUE(has_error(read({{"rate_limit", {{"per_second", 1}, {"per_minute", 60}}}}),
                        p + "/rate_limit/per_minute", "bad_value"));
  EXPECT_TRUE(has_error(read({{"rate_limit", {{"burst", 3}}}}), p + "/rate_limit/per_second",
                        "missing"));
  EXPECT_TRUE(has_error(read({{"rate_limit", {{"per_second", 0}}}}), p + "/rate_limit/per_second",
                        "out_of_range"));
  EXPECT_TRUE(has_error(read({{"rate_limit", {{"per_second", "5"}}}}),
                        p + "/rate_limit/per_second", "wrong_type"));
  EXPECT_TRUE(has_error(read({{"rate_limit", {{"per_second", 5}, {"burst", 0.5}}}}),
                        p + "/rate_limit/burst", "out_of_range"));
  EXPECT_TRUE(has_error(read({{"rate_limit", {{"per_hour", 5}}}}), p + "/rate_limit/per_hour",
                        "unknown_key"));
  EXPECT_TRUE(has_error(read({{"rate_limit", 5}}), p + "/rate_limit", "wrong_type"));
  EXPECT_TRUE(has_error(read({{"concurrency", 0}}), p + "/concurrency", "out_of_range"));
  EXPECT_TRUE(has_error(read({{"concurrency", 65}}), p + "/concurrency", "out_of_range"));
  EXPECT_TRUE(has_error(read({{"concurrency", 1.5}}), p + "/concurrency", "wrong_type"));
}

// ---- plan_send: credentials -----------------------------------------------------------------

TEST(SendPlan, WithoutAuthOrLimitTheDeliveryIsSentAsStored) {
  const Engine engine = engine_of({{"d", kPlain}});
  const Delivery d = delivery_to("d");
  const PaceState pace{2.5, 77};
  const SendPlan plan = engine.plan_send(engine.seal(d), "", pace, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_EQ(plan.request.url, d.url);
  EXPECT_EQ(plan.request.body, d.body);
  EXPECT_EQ(plan.request.headers.size(), d.headers.size());
  EXPECT_EQ(plan.request.not_after_ms, 0);
  EXPECT_EQ(plan.pace.tokens, 2.5) << "no limit: the pace is the shell's, untouched";
  EXPECT_EQ(plan.pace.at_ms, 77);
}

TEST(SendPlan, BearerAndHeaderAuthReplaceHeadersOfTheSameName) {
  json bearer = kPlain;
  bearer["headers"] = {{"authorization", "Basic old"}};
  bearer["auth"] = {{"type", "bearer"}, {"token", "${API_TOKEN}"}};
  json header = kPlain;
  header["auth"] = {{"type", "header"}, {"name", "X-Api-Key"}, {"value", "${API_KEY}"}};
  const Engine engine = engine_of({{"b", bearer}, {"h", header}});

  Delivery d = delivery_to("b");
  d.headers.push_back({"authorization", "Basic old"});  // as the config's headers put it there
  SendPlan plan = engine.plan_send(engine.seal(d), "ignored-token", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_EQ(header_of(plan.request, "authorization"), "Bearer bearer-s3cret-token");
  EXPECT_EQ(header_of(plan.request, "content-type"), "application/json");

  d = delivery_to("h");
  d.headers.push_back({"x-api-key", "stale"});
  plan = engine.plan_send(engine.seal(d), "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_EQ(header_of(plan.request, "x-api-key"), "key-s3cret-value");
  EXPECT_EQ(plan.request.headers.back().name, "X-Api-Key") << "the config's spelling";
  EXPECT_FALSE(header_of(plan.request, "authorization").has_value());
}

TEST(SendPlan, TheSealedDeliveryNeverHoldsTheAuthsSecret) {
  json bearer = kPlain;
  bearer["auth"] = {{"type", "bearer"}, {"token", "${API_TOKEN}"}};
  const Engine engine = engine_of({{"b", bearer}});
  const std::string sealed = engine.seal(delivery_to("b"));
  EXPECT_EQ(sealed.find("bearer-s3cret-token"), std::string::npos);
  EXPECT_EQ(sealed.find("Authorization"), std::string::npos) << "applied when sent, not stored";
}

TEST(SendPlan, OauthWithoutATokenAsksForTheRefreshGrantsExactRequest) {
  json d = kPlain;
  d["auth"] = kRefreshAuth;
  d["auth"]["scope"] = "https://www.googleapis.com/auth/adwords";
  d["delivery"] = {{"timeout_seconds", 7}};
  const Engine engine = engine_of({{"o", d}});
  const PaceState pace{0.25, 1234};
  const SendPlan plan = engine.plan_send(engine.seal(delivery_to("o")), "", pace, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::need_token);
  const Delivery& r = plan.request;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://auth.example/token");
  EXPECT_EQ(r.body,
            "grant_type=refresh_token&refresh_token=1%2F%2F0gAbCdEf"
            "&client_id=123-abc.apps.googleusercontent.com"
            "&client_secret=GOCSPX-client%2Fs3cret"
            "&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fadwords");
  EXPECT_EQ(header_of(r, "content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(header_of(r, "accept"), "application/json");
  EXPECT_FALSE(header_of(r, "authorization").has_value()) << "credentials in the body";
  EXPECT_FALSE(header_of(r, "idempotency-key").has_value());
  EXPECT_EQ(r.timeout_ms, 7000) << "the destination's timeout";
  // Labelled as the delivery, so a shell knows whose token it is.
  EXPECT_EQ(r.route, "r");
  EXPECT_EQ(r.destination, "o");
  EXPECT_EQ(r.idempotency_key, "CA1:Call.Complete:r");
  EXPECT_EQ(r.call_sid, "CA1");
  EXPECT_EQ(r.not_after_ms, 0);
  EXPECT_EQ(plan.pace.tokens, 0.25) << "no bucket token for a token request";
  EXPECT_EQ(plan.pace.at_ms, 1234);
}

TEST(SendPlan, TheClientCredentialsGrantAuthenticatesWithBasic) {
  json d = kPlain;
  d["auth"] = {{"type", "oauth2"},
               {"grant", "client_credentials"},
               {"token_url", "https://auth.example/oauth/token?tenant=1"},
               {"client_id", "svc:one"},
               {"client_secret", "p@ss w+rd"},
               {"scope", "events.write"}};
  const Engine engine = engine_of({{"o", d}});
  const SendPlan plan = engine.plan_send(engine.seal(delivery_to("o")), "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::need_token);
  EXPECT_EQ(plan.request.url, "https://auth.example/oauth/token?tenant=1");
  EXPECT_EQ(plan.request.body, "grant_type=client_credentials&scope=events.write");
  // base64("svc%3Aone:p%40ss%20w%2Brd"): each half form-encoded first (RFC 6749 2.3.1).
  EXPECT_EQ(header_of(plan.request, "authorization"),
            "Basic c3ZjJTNBb25lOnAlNDBzcyUyMHclMkJyZA==");
  EXPECT_EQ(header_of(plan.request, "content-type"), "application/x-www-form-urlencoded");
}

TEST(SendPlan, OauthWithATokenSendsItAsBearer) {
  json d = kPlain;
  d["auth"] = kRefreshAuth;
  const Engine engine = engine_of({{"o", d}});
  Delivery stored = delivery_to("o");
  stored.headers.push_back({"AUTHORIZATION", "Bearer old"});
  const SendPlan plan = engine.plan_send(engine.seal(stored), "ya29.a0AfB_token", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_EQ(header_of(plan.request, "authorization"), "Bearer ya29.a0AfB_token");
  EXPECT_EQ(plan.request.url, "https://dest.example/hook");
  // A token that could split the header is no token: a new one is asked for.
  EXPECT_EQ(engine.plan_send(engine.seal(stored), "tok\r\nX-Evil: 1", {}, kNow).kind,
            SendPlan::Kind::need_token);
}

TEST(SendPlan, ADestinationTheConfigNoLongerHasIsSentAsStored) {
  json d = kPlain;
  d["auth"] = kRefreshAuth;
  d["rate_limit"] = {{"per_second", 1}};
  const Engine before = engine_of({{"o", d}});
  const Engine after = engine_of({{"other", kPlain}});
  const std::string sealed = before.seal(delivery_to("o"));
  const SendPlan plan = after.plan_send(sealed, "", {0, kNow}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send) << "no auth, no pace: the config's defaults";
  EXPECT_FALSE(header_of(plan.request, "authorization").has_value());
  EXPECT_EQ(plan.request.body, R"({"call":"CA1"})");
}

// ---- plan_send: the token bucket -----------------------------------------------------------

TEST(SendPlan, TheBucketRefillsAtItsRateUpToBurstAndWaitsForOneToken) {
  json d = kPlain;
  d["rate_limit"] = {{"per_second", 2}, {"burst", 3}};
  const Engine engine = engine_of({{"d", d}});
  const std::string sealed = engine.seal(delivery_to("d"));

  // A fresh bucket is full: three sends at once, then a wait of half a second (one token at 2/s).
  PaceState pace;
  for (const double left : {2.0, 1.0, 0.0}) {
    const SendPlan plan = engine.plan_send(sealed, "", pace, kNow);
    ASSERT_EQ(plan.kind, SendPlan::Kind::send);
    EXPECT_DOUBLE_EQ(plan.pace.tokens, left);
    EXPECT_EQ(plan.pace.at_ms, kNow);
    pace = plan.pace;
  }
  SendPlan plan = engine.plan_send(sealed, "", pace, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::wait);
  EXPECT_EQ(plan.wait_ms, 500);
  EXPECT_DOUBLE_EQ(plan.pace.tokens, 0);

  // 250 ms later half a token is there: 250 ms more to wait.
  plan = engine.plan_send(sealed, "", pace, kNow + 250);
  ASSERT_EQ(plan.kind, SendPlan::Kind::wait);
  EXPECT_EQ(plan.wait_ms, 250);
  EXPECT_DOUBLE_EQ(plan.pace.tokens, 0.5);
  EXPECT_EQ(plan.pace.at_ms, kNow + 250);
  pace = plan.pace;

  // After exactly the wait asked for, it sends.
  plan = engine.plan_send(sealed, "", pace, kNow + 500);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_NEAR(plan.pace.tokens, 0, 1e-9);

  // An hour idle refills to burst, no further.
  plan = engine.plan_send(sealed, "", plan.pace, kNow + 3'600'000);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_DOUBLE_EQ(plan.pace.tokens, 2.0);
}

TEST(SendPlan, ASlowRateWaitsWholeSeconds) {
  json d = kPlain;
  d["rate_limit"] = {{"per_minute", 30}};  // 0.5/s, burst 1
  const Engine engine = engine_of({{"d", d}});
  const std::string sealed = engine.seal(delivery_to("d"));
  SendPlan plan = engine.plan_send(sealed, "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_DOUBLE_EQ(plan.pace.tokens, 0);
  plan = engine.plan_send(sealed, "", plan.pace, kNow + 1000);
  ASSERT_EQ(plan.kind, SendPlan::Kind::wait);
  EXPECT_EQ(plan.wait_ms, 1000);
}

TEST(SendPlan, AClockBehindTheBucketsOrNonsenseStateNeverOverfills) {
  json d = kPlain;
  d["rate_limit"] = {{"per_second", 1}, {"burst", 5}};
  const Engine engine = engine_of({{"d", d}});
  const std::string sealed = engine.seal(delivery_to("d"));
  // Another instance kept the bucket at a later time: no refill, and time does not go back.
  SendPlan plan = engine.plan_send(sealed, "", {0.5, kNow + 10'000}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::wait);
  EXPECT_EQ(plan.wait_ms, 500);
  EXPECT_EQ(plan.pace.at_ms, kNow + 10'000);
  // A kept count above burst (the config lowered it) is cut to burst.
  plan = engine.plan_send(sealed, "", {50, kNow}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_DOUBLE_EQ(plan.pace.tokens, 4);
  // NaN is a fresh, full bucket.
  plan = engine.plan_send(sealed, "", {std::numeric_limits<double>::quiet_NaN(), 0}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_DOUBLE_EQ(plan.pace.tokens, 4);
}

TEST(SendPlan, OnlyASendTakesABucketToken) {
  json d = kPlain;
  d["auth"] = kRefreshAuth;
  d["rate_limit"] = {{"per_second", 1}, {"burst", 1}};
  const Engine engine = engine_of({{"o", d}});
  const std::string sealed = engine.seal(delivery_to("o"));
  SendPlan plan = engine.plan_send(sealed, "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::need_token);
  EXPECT_LT(plan.pace.tokens, 0) << "still the fresh bucket";
  plan = engine.plan_send(sealed, "tok", plan.pace, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_DOUBLE_EQ(plan.pace.tokens, 0);
  // An empty bucket waits before anything, a token request included.
  const SendPlan waiting = engine.plan_send(sealed, "", plan.pace, kNow);
  ASSERT_EQ(waiting.kind, SendPlan::Kind::wait);
  EXPECT_EQ(waiting.wait_ms, 1000);
}

// ---- plan_send: deadlines and what cannot be sent --------------------------------------------

TEST(SendPlan, PastItsDeadlineADeliveryIsDeadUnlessTheFormatSendsItOtherwise) {
  const Engine engine = engine_of({{"d", kPlain}});
  Delivery d = delivery_to("d");
  d.not_after_ms = kNow - 90'000;
  SendPlan plan = engine.plan_send(engine.seal(d), "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::dead);
  EXPECT_EQ(plan.verdict.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(plan.verdict.code, "deadline_passed");
  EXPECT_NE(plan.verdict.reason.find("90 s"), std::string::npos) << plan.verdict.reason;
  const json log = json::parse(plan.verdict.log);
  EXPECT_EQ(log["msg"], "delivery_dead");
  EXPECT_EQ(log["destination"], "d");
  EXPECT_EQ(log["code"], "deadline_passed");
  EXPECT_TRUE(log["attempt"].is_null()) << "the planner is not told the attempt's number";

  // Before its deadline (and at it) it is sent, the deadline kept for attempt_result.
  d.not_after_ms = kNow;
  plan = engine.plan_send(engine.seal(d), "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_EQ(plan.request.not_after_ms, kNow);
}

TEST(SendPlan, AGa4EventPastItsDeadlineCanGoWithoutItsTimestamp) {
  const json ga4 = {{"format", "ga4"},
                    {"url", "https://ga4.example/mp/collect"},
                    {"options", {{"late_events", "send_without_timestamp"}}}};
  json dead_letter = ga4;
  dead_letter["options"]["late_events"] = "dead_letter";
  const Engine engine = engine_of({{"late", ga4}, {"strict", dead_letter}});
  Delivery d = delivery_to("late");
  d.body = R"({"client_id":"1.2","timestamp_micros":1714000000000000,"events":[]})";
  d.not_after_ms = kNow - 1;
  const std::optional<std::string> body =
      body_past_deadline(*engine.config().destination("late"), d.body);
  ASSERT_TRUE(body.has_value());
  const SendPlan plan = engine.plan_send(engine.seal(d), "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_EQ(plan.request.body, *body);
  EXPECT_EQ(plan.request.not_after_ms, 0) << "sent without its deadline";

  d.destination = "strict";
  const SendPlan dead = engine.plan_send(engine.seal(d), "", {}, kNow);
  ASSERT_EQ(dead.kind, SendPlan::Kind::dead);
  EXPECT_EQ(dead.verdict.code, "deadline_passed");
  EXPECT_TRUE(dead.verdict.reason.starts_with(std::string(deadline_reason(RenderFormat::ga4))))
      << dead.verdict.reason;
}

TEST(SendPlan, WhatCannotBeUnsealedIsDeadAndSaysWhy) {
  const Engine with = engine_of({{"d", {{"url", "https://dest.example/hook?key=${API_TOKEN}"}}}});
  Delivery d = delivery_to("d");
  d.url = "https://dest.example/hook?key=bearer-s3cret-token";
  const std::string sealed = with.seal(d);
  ASSERT_NE(sealed.find("${API_TOKEN}"), std::string::npos);
  // An engine whose config no longer sets API_TOKEN.
  std::vector<Diagnostic> errors;
  const auto without = Engine::from_config(json{{"destinations", {{"d", kPlain}}}}.dump(),
                                           [](std::string_view) { return std::nullopt; }, &errors);
  ASSERT_TRUE(without.has_value());
  SendPlan plan = without->plan_send(sealed, "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::dead);
  EXPECT_EQ(plan.verdict.code, "unsendable");
  EXPECT_NE(plan.verdict.reason.find("API_TOKEN"), std::string::npos) << plan.verdict.reason;
  const json log = json::parse(plan.verdict.log);
  EXPECT_EQ(log["destination"], "d") << "labelled from what of the text reads";
  EXPECT_EQ(log["idempotency_key"], "CA1:Call.Complete:r");

  plan = with.plan_send("not sealed", "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::dead);
  EXPECT_EQ(plan.verdict.code, "unsendable");
  EXPECT_NE(plan.verdict.reason.find("JSON object"), std::string::npos) << plan.verdict.reason;
}

// ---- JSON forms -------------------------------------------------------------------------------

TEST(SendPlanJson, EachPlanIsSpeltAsDocumented) {
  json d = kPlain;
  d["auth"] = kRefreshAuth;
  d["rate_limit"] = {{"per_second", 4}, {"burst", 2}};
  const Engine engine = engine_of({{"o", d}});
  Delivery stored = delivery_to("o");
  stored.not_after_ms = kNow + 60'000;
  const std::string sealed = engine.seal(stored);
  const auto as_json = [](const SendPlan& plan) {
    std::string text;
    write_send_plan_json(plan, text);
    return json::parse(text);
  };

  json send = as_json(engine.plan_send(sealed, "tok", {}, kNow));
  EXPECT_EQ(send["plan"], "send");
  EXPECT_EQ(send["request"]["url"], "https://dest.example/hook");
  EXPECT_EQ(send["request"]["not_after_ms"], kNow + 60'000);
  EXPECT_EQ(send["pace"], json({{"tokens", 1.0}, {"at_ms", kNow}}));
  EXPECT_EQ(send.size(), 3u);

  json token = as_json(engine.plan_send(sealed, "", {}, kNow));
  EXPECT_EQ(token["plan"], "token");
  EXPECT_EQ(token["request"]["url"], "https://auth.example/token");
  EXPECT_FALSE(token["request"].contains("not_after_ms"));
  EXPECT_EQ(token.size(), 2u);

  json wait = as_json(engine.plan_send(sealed, "tok", {0.5, kNow}, kNow));
  EXPECT_EQ(wait["plan"], "wait");
  EXPECT_EQ(wait["wait_ms"], 125);
  EXPECT_EQ(wait["pace"]["tokens"], 0.5);
  EXPECT_EQ(wait.size(), 3u);

  json dead = as_json(engine.plan_send("{}", "", {}, kNow));
  EXPECT_EQ(dead["plan"], "dead");
  EXPECT_EQ(dead["verdict"]["verdict"], "dead");
  EXPECT_EQ(dead["verdict"]["code"], "unsendable");
  EXPECT_EQ(dead["verdict"]["drop_token"], false);
  EXPECT_TRUE(dead["verdict"]["log"].is_object());
  EXPECT_EQ(dead.size(), 2u);
}

TEST(DeliveryJson, TheDeadlineRoundTripsAndIsAbsentWithoutOne) {
  Delivery d = delivery_to("d");
  std::string text;
  write_delivery_json(d, text);
  EXPECT_EQ(text.find("not_after_ms"), std::string::npos);
  d.not_after_ms = 1'714'792'542'000;
  text.clear();
  write_delivery_json(d, text);
  EXPECT_TRUE(text.ends_with(R"("trigger":"event","not_after_ms":1714792542000})")) << text;
  std::string problem;
  const auto back = parse_delivery_json(text, problem);
  ASSERT_TRUE(back.has_value()) << problem;
  EXPECT_EQ(back->not_after_ms, 1'714'792'542'000);
  for (const char* bad : {"-1", "1.5", "\"soon\""}) {
    std::string broken = text;
    broken.replace(broken.find("1714792542000"), 13, bad);
    EXPECT_FALSE(parse_delivery_json(broken, problem).has_value()) << broken;
    EXPECT_NE(problem.find("not_after_ms"), std::string::npos);
  }

  const Engine engine = engine_of({{"d", kPlain}});
  const std::string sealed = engine.seal(d);
  EXPECT_NE(sealed.find(R"("not_after_ms":1714792542000)"), std::string::npos) << sealed;
  const Unsealed open = engine.unseal(sealed);
  ASSERT_TRUE(open.delivery.has_value()) << open.error.message;
  EXPECT_EQ(open.delivery->not_after_ms, 1'714'792'542'000);
  // Sealed text from before deadlines existed has none, and is sent.
  const std::string old =
      R"({"sealed":1,"route":"r","destination":"d","method":"POST","url":"https://dest.example/",)"
      R"("headers":[],"body":"{}","idempotency_key":"CA1:Call.Complete:r","timeout_ms":30000})";
  const Unsealed old_open = engine.unseal(old);
  ASSERT_TRUE(old_open.delivery.has_value()) << old_open.error.message;
  EXPECT_EQ(old_open.delivery->not_after_ms, 0);
  const SendPlan plan = engine.plan_send(old, "", {}, kNow);
  ASSERT_EQ(plan.kind, SendPlan::Kind::send);
  EXPECT_EQ(plan.request.not_after_ms, 0);
}

// ---- decide_attempt: platform answers, refused tokens, deadlines ------------------------------

std::optional<FormatVerdict> format_says(AttemptVerdict::Kind kind, std::string code,
                                         std::string reason, std::int64_t retry_in_ms = -1,
                                         bool token_expired = false) {
  FormatVerdict v;
  v.kind = kind;
  v.code = std::move(code);
  v.reason = std::move(reason);
  v.retry_in_ms = retry_in_ms;
  v.token_expired = token_expired;
  return v;
}

std::optional<FormatVerdict> already_recorded(const AttemptAnswer&) {
  return format_says(AttemptVerdict::Kind::delivered, "already_recorded",
                     "Google Ads DUPLICATE_ORDER_ID: the order id was used");
}
std::optional<FormatVerdict> too_recent(const AttemptAnswer&) {
  return format_says(AttemptVerdict::Kind::retry, "platform_retry",
                     "Google Ads TOO_RECENT_EVENT: retry in 6 hours", 6 * 3'600'000);
}
std::optional<FormatVerdict> throttled(const AttemptAnswer& a) {
  if (a.status != 400) return std::nullopt;
  return format_says(AttemptVerdict::Kind::retry, "platform_retry", "Meta code 4: throttled");
}
std::optional<FormatVerdict> row_error(const AttemptAnswer&) {
  return format_says(AttemptVerdict::Kind::dead, "rejected", "Google Ads EXPIRED_EVENT: too old");
}
std::optional<FormatVerdict> token_expired(const AttemptAnswer&) {
  return format_says(AttemptVerdict::Kind::dead, "rejected", "Meta code 190: token expired", -1,
                     true);
}
std::optional<FormatVerdict> says_nothing(const AttemptAnswer&) {
  return std::nullopt;
}

AttemptInput answered(int status, int attempt = 1) {
  AttemptInput in;
  in.route = "r";
  in.destination = "d";
  in.idempotency_key = "CA1:Call.Complete:r";
  in.attempt = attempt;
  in.now_ms = kNow;
  in.answer.status = status;
  return in;
}

TEST(DeliveryAttempt, TheFormatReadsEveryAnswerFirst) {
  const RetryPolicy policy;
  AttemptVerdict v = decide_attempt(policy, &already_recorded, answered(200));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::delivered);
  EXPECT_EQ(v.code, "already_recorded");
  EXPECT_NE(v.reason.find("DUPLICATE_ORDER_ID"), std::string::npos);

  v = decide_attempt(policy, &row_error, answered(200));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "rejected");
  EXPECT_EQ(v.reason, "HTTP 200 but rejected: Google Ads EXPIRED_EVENT: too old");

  // Throttling inside a 400 that the status alone would call final.
  v = decide_attempt(policy, &throttled, answered(400));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry);
  EXPECT_EQ(v.code, "platform_retry");
  EXPECT_EQ(v.delay_ms, 10'000) << "no wait asked: the schedule (random 0.5: no jitter)";
  EXPECT_EQ(decide_attempt(policy, &throttled, answered(401)).code, "not_retryable_status");
  // A reader with nothing to say leaves it to the status.
  EXPECT_EQ(decide_attempt(policy, &says_nothing, answered(503)).code, "retryable_status");
  EXPECT_EQ(decide_attempt(policy, &says_nothing, answered(204)).code, "delivered");
}

TEST(DeliveryAttempt, APlatformsOwnWaitStandsUncappedButWithinTheAttempts) {
  RetryPolicy policy;
  policy.max_retry_after_ms = 60'000;
  AttemptVerdict v = decide_attempt(policy, &too_recent, answered(200, 3));
  ASSERT_EQ(v.kind, AttemptVerdict::Kind::retry);
  EXPECT_EQ(v.code, "platform_retry");
  EXPECT_EQ(v.delay_ms, 6 * 3'600'000);
  EXPECT_EQ(v.retry_at_ms, kNow + 6 * 3'600'000);
  EXPECT_FALSE(v.retry_after) << "no Retry-After header";
  v = decide_attempt(policy, &too_recent, answered(200, policy.attempts));
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "attempts_exhausted");
  EXPECT_NE(v.reason.find("TOO_RECENT_EVENT"), std::string::npos);
}

TEST(DeliveryAttempt, ARefusedCachedTokenIsRetriedAtOnceAndAFreshOneIsNot) {
  const RetryPolicy policy;
  // The format says the token expired.
  AttemptInput in = answered(400, 2);
  AttemptVerdict v = decide_attempt(policy, &token_expired, in);
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry);
  EXPECT_EQ(v.code, "token_rejected");
  EXPECT_EQ(v.delay_ms, 0);
  EXPECT_EQ(v.retry_at_ms, kNow);
  EXPECT_TRUE(v.drop_token);
  EXPECT_EQ(json::parse(v.log)["drop_token"], true);
  in.fresh_token = true;
  v = decide_attempt(policy, &token_expired, in);
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "rejected");
  EXPECT_TRUE(v.drop_token);
  EXPECT_NE(v.reason.find("Meta code 190"), std::string::npos) << v.reason;

  // An oauth destination's plain 401, with or without a reader.
  for (const AnswerReader reader : {static_cast<AnswerReader>(nullptr), &says_nothing}) {
    in = answered(401);
    v = decide_attempt(policy, reader, in, true);
    EXPECT_EQ(v.code, "token_rejected");
    EXPECT_TRUE(v.drop_token);
    in.fresh_token = true;
    v = decide_attempt(policy, reader, in, true);
    EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
    EXPECT_EQ(v.code, "not_retryable_status");
    EXPECT_TRUE(v.drop_token);
  }
  // Without oauth a 401 is just final, and no token is dropped.
  v = decide_attempt(policy, nullptr, answered(401));
  EXPECT_EQ(v.code, "not_retryable_status");
  EXPECT_FALSE(v.drop_token);
  // The extra attempt counts: on the last one it is exhausted, and the token still dropped.
  v = decide_attempt(policy, nullptr, answered(401, policy.attempts), true);
  EXPECT_EQ(v.code, "attempts_exhausted");
  EXPECT_TRUE(v.drop_token);
}

TEST(DeliveryAttempt, ARetryAfterTheDeadlineIsDeadWithTheFormatsReason) {
  const RetryPolicy policy;
  AttemptInput in = answered(503, 4);  // the schedule's wait: 600 s
  in.not_after_ms = kNow + 599'000;
  AttemptVerdict v = decide_attempt(policy, nullptr, in, false, "GA4 ignores events after 72 h");
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::dead);
  EXPECT_EQ(v.code, "deadline_passed");
  EXPECT_EQ(v.reason, "GA4 ignores events after 72 h; the last attempt: HTTP 503");
  EXPECT_EQ(json::parse(v.log)["code"], "deadline_passed");
  in.not_after_ms = kNow + 600'000;
  v = decide_attempt(policy, nullptr, in, false, "GA4 ignores events after 72 h");
  EXPECT_EQ(v.kind, AttemptVerdict::Kind::retry) << "exactly at the deadline is in time";
  in.not_after_ms = 0;
  in.now_ms = kNow;
  EXPECT_EQ(decide_attempt(policy, nullptr, in).kind, AttemptVerdict::Kind::retry)
      << "0: no deadline";
  // Without a reason from the format, a generic one.
  in.not_after_ms = kNow - 1;
  in.answer.kind = AttemptAnswer::Kind::timeout;
  v = decide_attempt(policy, nullptr, in);
  EXPECT_EQ(v.code, "deadline_passed");
  EXPECT_NE(v.reason.find("no answer within"), std::string::npos) << v.reason;
  // A delivered or dead verdict is not touched by the deadline.
  in.answer = AttemptAnswer{};
  in.answer.status = 200;
  EXPECT_EQ(decide_attempt(policy, nullptr, in).code, "delivered");
}

TEST(DeliveryAttempt, TheJsonFormsCarryTheNewFields) {
  std::string problem;
  auto in = parse_attempt_json(
      R"({"attempt":2,"now_ms":5,"not_after_ms":99,"fresh_token":true,"answer":{"status":401}})",
      problem);
  ASSERT_TRUE(in.has_value()) << problem;
  EXPECT_EQ(in->not_after_ms, 99);
  EXPECT_TRUE(in->fresh_token);
  in = parse_attempt_json(R"({"answer":{"status":200}})", problem);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->not_after_ms, 0);
  EXPECT_FALSE(in->fresh_token);
  for (const char* bad : {R"({"not_after_ms":-1,"answer":{"status":200}})",
                          R"({"not_after_ms":"x","answer":{"status":200}})",
                          R"({"fresh_token":1,"answer":{"status":200}})"}) {
    EXPECT_FALSE(parse_attempt_json(bad, problem).has_value()) << bad;
  }
  AttemptVerdict v;
  v.kind = AttemptVerdict::Kind::retry;
  v.code = "token_rejected";
  v.drop_token = true;
  v.log = "{}";
  std::string text;
  write_attempt_verdict_json(v, text);
  EXPECT_EQ(json::parse(text)["drop_token"], true);
}

TEST(DeliveryAttempt, TheEngineKnowsItsOauthDestinationsAndScrubsEchoedCredentials) {
  json o = kPlain;
  o["auth"] = kRefreshAuth;
  json literal = kPlain;
  literal["auth"] = {{"type", "header"}, {"name", "X-Key"}, {"value", "literal-key-1234"}};
  json bearer = kPlain;
  bearer["auth"] = {{"type", "bearer"}, {"token", "${API_TOKEN}"}};
  const Engine engine = engine_of({{"o", o}, {"plain", kPlain}, {"lit", literal}, {"b", bearer}});
  AttemptInput in = answered(401);
  in.destination = "o";
  AttemptVerdict v = engine.attempt_result(in);
  EXPECT_EQ(v.code, "token_rejected");
  EXPECT_TRUE(v.drop_token);
  in.destination = "plain";
  EXPECT_EQ(engine.attempt_result(in).code, "not_retryable_status");

  // A transport's words that quote the request.
  in.destination = "lit";
  in.answer = AttemptAnswer{};
  in.answer.kind = AttemptAnswer::Kind::transport_error;
  in.answer.error = "proxy refused Authorization: Bearer ya29.a0AfB_abc123456789 X-Key: "
                    "literal-key-1234 and bearer-s3cret-token";
  v = engine.attempt_result(in);
  EXPECT_EQ(v.reason.find("ya29"), std::string::npos) << v.reason;
  EXPECT_EQ(v.reason.find("literal-key-1234"), std::string::npos) << v.reason;
  EXPECT_EQ(v.reason.find("bearer-s3cret-token"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("Bearer [credentials]"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("[secret]"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("${API_TOKEN}"), std::string::npos) << v.reason;
  EXPECT_EQ(v.log.find("ya29"), std::string::npos) << v.log;
  EXPECT_EQ(v.log.find("literal-key-1234"), std::string::npos) << v.log;
}

}  // namespace
}  // namespace callhook::testing
