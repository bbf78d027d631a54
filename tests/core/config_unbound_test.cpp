// A config read before its secrets are known (parse_config_unbound) and bound later
// (bind_config, Engine::bind): the same config as parse_config with the same secrets, or none
// whenever parse_config would refuse it or a secret's value could change how it reads. The engine
// vectors run every case both ways too (engine_vectors_test.cpp).
#include <gtest/gtest.h>

#include <map>

#include "callhook/config.h"
#include "callhook/engine.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;
using Secrets = std::map<std::string, std::string, std::less<>>;

SecretLookup lookup_in(const Secrets& secrets) {
  return [&secrets](std::string_view name) -> std::optional<std::string> {
    const auto it = secrets.find(name);
    if (it == secrets.end()) return std::nullopt;
    return it->second;
  };
}

json auth_settings(const AuthConfig& auth) {
  json out = json::object();
  if (auth.token) out["token"] = auth.token->token;
  if (auth.basic) out["basic"] = {auth.basic->username, auth.basic->password};
  for (const SignatureAuth& s : auth.signatures) out["signatures"].push_back(s.secret);
  return out;
}

// Every setting a secret may be bound into, and the secrets redaction works from.
json settings(const Config& config) {
  json out = {{"auth", auth_settings(config.auth)}, {"secrets", config.secrets}};
  for (const Source& s : config.sources) {
    out["sources"][s.name] = {{"auth", auth_settings(s.auth)}, {"defaults", s.reading.defaults}};
  }
  for (const Destination& d : config.destinations) {
    json headers = json::array();
    for (const HttpHeader& h : d.headers) headers.push_back({h.name, h.value});
    const DestinationAuth& a = d.auth;
    out["destinations"][d.name] = {
        {"url", d.url},
        {"headers", headers},
        {"options", d.options},
        {"auth",
         {a.token, a.value, a.token_url, a.client_id, a.client_secret, a.refresh_token, a.scope}}};
  }
  return out;
}

std::optional<Config> bound(std::string_view text, const Secrets& secrets) {
  auto unbound = parse_config_unbound(text);
  if (!unbound) return std::nullopt;
  return bind_config(std::move(*unbound), lookup_in(secrets));
}

// The value of each secret `text` names: its name in lower case, long enough to be redacted.
Secrets secrets_of(const std::string& text) {
  Secrets secrets;
  for (std::size_t at = text.find("${"); at != std::string::npos; at = text.find("${", at + 2)) {
    const std::size_t end = text.find('}', at);
    std::string name = text.substr(at + 2, end - at - 2);
    std::string value = "v-" + name;
    for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    secrets[name] = value;
  }
  return secrets;
}

TEST(UnboundConfig, TheExampleConfigsBindToWhatParseConfigReads) {
  for (const char* file : {"examples/configs/example.json", "examples/configs/all-features.json",
                           "examples/configs/senders.json"}) {
    SCOPED_TRACE(file);
    const std::string text = read_file(source_path(file));
    const Secrets secrets = secrets_of(text);
    ASSERT_FALSE(secrets.empty());
    const ConfigResult parsed = parse_config(text, lookup_in(secrets));
    ASSERT_TRUE(parsed.config.has_value());
    const auto unbound = parse_config_unbound(text);
    ASSERT_TRUE(unbound.has_value()) << "every reference of the examples sits where it can bind";
    EXPECT_EQ(unbound->names.size(), secrets.size());
    EXPECT_TRUE(unbound->config.secrets.empty());
    const auto config = bind_config(*unbound, lookup_in(secrets));
    ASSERT_TRUE(config.has_value());
    EXPECT_EQ(settings(*config), settings(*parsed.config));
    // Redaction works from the bound values.
    const Engine engine(*config);
    for (const auto& [name, value] : secrets) {
      EXPECT_EQ(engine.redact("x " + value + " y").find(value), std::string::npos) << name;
    }
  }
}

TEST(UnboundConfig, ABoundEngineAnswersAsTheBuiltOne) {
  const std::string text = read_file(source_path("examples/configs/example.json"));
  const Secrets secrets = {{"CALLHOOK_TOKEN", "demo-token"},
                           {"GA4_API_SECRET", "ga4+secret/value"},
                           {"GOOGLE_ADS_DEVELOPER_TOKEN", "ads-dev-token"}};
  const auto built = Engine::from_config(text, lookup_in(secrets));
  auto unbound = parse_config_unbound(text);
  ASSERT_TRUE(built && unbound);
  const auto engine = Engine::bind(std::move(*unbound), lookup_in(secrets));
  ASSERT_TRUE(engine.has_value());
  Request request;
  request.method = "POST";
  request.url = "https://callhook.test/hook/demo-token";
  request.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  request.body = read_file(source_path("examples/payloads/initiate.form"));
  while (!request.body.empty() && request.body.back() == '\n') request.body.pop_back();
  const Outcome a = built->handle(request, 1714533342);
  const Outcome b = engine->handle(request, 1714533342);
  EXPECT_EQ(b.response.status, 200);
  EXPECT_EQ(b.response.body, a.response.body);
  EXPECT_EQ(b.log, a.log);
  ASSERT_EQ(b.deliveries.size(), a.deliveries.size());
  ASSERT_FALSE(a.deliveries.empty());
  for (std::size_t i = 0; i < a.deliveries.size(); ++i) {
    EXPECT_EQ(b.deliveries[i].url, a.deliveries[i].url);
    EXPECT_EQ(engine->seal(b.deliveries[i]), built->seal(a.deliveries[i]));
  }
  request.url = "https://callhook.test/hook/not-the-token";
  EXPECT_EQ(engine->handle(request, 1714533342).response.status, 401);
}

TEST(UnboundConfig, WhatParseConfigRefusesIsNeverBound) {
  const std::string text = read_file(source_path("examples/configs/example.json"));
  Secrets secrets = secrets_of(text);
  // A secret that is not set.
  secrets.erase("GA4_API_SECRET");
  EXPECT_FALSE(bound(text, secrets).has_value());
  ASSERT_FALSE(parse_config(text, lookup_in(secrets)).errors.empty());
  EXPECT_EQ(parse_config(text, lookup_in(secrets)).errors[0].code, "missing_secret");
  // A value its setting refuses: an empty token, a URL that is not one.
  secrets = secrets_of(text);
  secrets["CALLHOOK_TOKEN"] = "";
  EXPECT_FALSE(bound(text, secrets).has_value());
  EXPECT_FALSE(parse_config(text, lookup_in(secrets)).errors.empty());
  const std::string url = R"({"destinations": {"d": {"url": "${URL}"}}})";
  EXPECT_FALSE(bound(url, {{"URL", "not a url"}}).has_value());
  EXPECT_TRUE(bound(url, {{"URL", "https://example.com/x"}}).has_value());
  const std::string bearer =
      R"({"destinations": {"d": {"url": "https://x.test/", "auth": {"type": "bearer", "token": "${T}"}}}})";
  EXPECT_FALSE(bound(bearer, {{"T", "two\nlines"}}).has_value());
  EXPECT_EQ(bound(bearer, {{"T", "tok-1"}})->destinations[0].auth.token, "tok-1");
  // A signing key where the public one belongs, for standard-webhooks only.
  const auto signature = [](std::string_view scheme) {
    return R"({"auth": {"signatures": [{"scheme": ")" + std::string(scheme) +
           R"(", "secret": "${S}"}]}})";
  };
  EXPECT_FALSE(bound(signature("standard-webhooks"), {{"S", "whsk_abc"}}).has_value());
  EXPECT_TRUE(bound(signature("standard-webhooks"), {{"S", "whpk_abc"}}).has_value());
  EXPECT_TRUE(bound(signature("hmac"), {{"S", "whsk_abc"}}).has_value());
}

TEST(UnboundConfig, AReferenceWhoseValueCouldChangeTheConfigIsNotReadUnbound) {
  for (const char* text : {
           R"({"destinations": {"d": {"format": "${F}", "url": "https://x.test/"}}})",
           R"({"destinations": {"d": {"url": "https://x.test/", "method": "${M}"}}})",
           R"({"validation": {"mode": "${MODE}"}})",
           R"({"auth": {"token": {"value": "t", "param": "${P}"}}})",
           R"({"destinations": {"d": {"format": "template", "url": "https://x.test/",
               "options": {"body": {"k": "${K}"}}}}})",
           R"({"destinations": {"d": {"format": "ga4", "url": "https://x.test/",
               "options": {"event_name": "${E}"}}}})",
           R"({"destinations": {"d": {"url": "https://x.test/",
               "auth": {"type": "header", "name": "${H}", "value": "v"}}}})",
           // The stand-in's own character, written by the config.
           R"({"destinations": {"d": {"url": "https://x.test/\u0001", "headers": {"k": "${K}"}}}})",
       }) {
    EXPECT_FALSE(parse_config_unbound(text).has_value()) << text;
  }
  // An invalid config, secrets or not.
  EXPECT_FALSE(parse_config_unbound(R"({"routes": 1})").has_value());
  EXPECT_FALSE(parse_config_unbound("not json").has_value());
  // The options of canonical and slack destinations and the credentials among the others' bind.
  const std::string ga4 = R"({"destinations": {"d": {"format": "ga4",
      "options": {"measurement_id": "G-1", "api_secret": "${A}"}}}})";
  const Secrets a = {{"A", "ga4-secret"}};
  ASSERT_TRUE(bound(ga4, a).has_value());
  EXPECT_EQ(settings(*bound(ga4, a)), settings(*parse_config(ga4, lookup_in(a)).config));
  EXPECT_FALSE(bound(ga4, {{"A", ""}}).has_value()) << "api_secret must not be empty";
  // parse_config reads an option a second time: a value that makes a reference there is left
  // to it.
  EXPECT_FALSE(bound(ga4, {{"A", "${B}"}}).has_value());
  const std::string slack = R"({"destinations": {"d": {"format": "slack", "url": "https://x.test/",
      "options": {"channel": "#${C}"}, "headers": {"k": "${C}"}}}})";
  const Secrets c = {{"C", "${not-a-reference}"}};
  ASSERT_TRUE(bound(slack, c).has_value());
  EXPECT_EQ(settings(*bound(slack, c)), settings(*parse_config(slack, lookup_in(c)).config));
}

TEST(UnboundConfig, SecretsAreRecordedInParseConfigsOrderShortOnesLeftOut) {
  const std::string text = R"({"auth": {"token": {"value": "${B}-${A}"}},
      "destinations": {"d": {"url": "https://x.test/${A}", "headers": {"k": "${C}"}}}})";
  const Secrets secrets = {{"A", "alpha-value"}, {"B", "beta-value"}, {"C", "abc"}};
  const auto config = bound(text, secrets);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->secrets, parse_config(text, lookup_in(secrets)).config->secrets);
  EXPECT_EQ(config->secrets.size(), 3u) << "A twice, B once, C too short to redact";
  EXPECT_EQ(config->auth.token->token, "beta-value-alpha-value");
}

}  // namespace
}  // namespace callhook::testing
