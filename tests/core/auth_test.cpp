// Tests for callhook/auth.h and callhook/http.h.
//
// Published vectors: Twilio's (twilio-python tests/unit/test_request_validator.py: the
// mycompany.com URL, auth token 12345, the port variants, repeated parameters and the JSON body
// with bodySHA256), Standard Webhooks' (the msg_p5jXN8AQM9LWM0D4loKWxJek vector used by the
// reference libraries) and GitHub's X-Hub-Signature-256 example for the generic HMAC scheme.
// Every other expected signature was computed independently with python3 hmac/hashlib/base64.
#include "callhook/auth.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "callhook/http.h"

namespace callhook {
namespace {

Request make_request(std::string url, std::vector<HttpHeader> headers = {}, std::string body = {},
                     std::string method = "POST") {
  Request request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.headers = std::move(headers);
  request.body = std::move(body);
  return request;
}

// A refusal with `code`, a message for people, no passing scheme, and none of `secrets` (the
// configured secrets, tokens and passwords) anywhere in the message.
void expect_refused(const AuthResult& result, std::string_view code,
                    std::initializer_list<std::string_view> secrets) {
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.code, code);
  EXPECT_FALSE(result.message.empty());
  EXPECT_EQ(result.scheme, "");
  for (const std::string_view secret : secrets) {
    EXPECT_EQ(result.message.find(secret), std::string::npos)
        << "message leaks a secret: " << result.message;
  }
}

void expect_passed(const AuthResult& result, std::string_view scheme = "") {
  EXPECT_TRUE(result.ok) << result.code << ": " << result.message;
  EXPECT_EQ(result.code, "");
  EXPECT_EQ(result.scheme, scheme);
}

AuthConfig with_signature(SignatureAuth signature) {
  AuthConfig config;
  config.signatures.push_back(std::move(signature));
  return config;
}

SignatureAuth signature(SignatureScheme scheme, std::string secret) {
  SignatureAuth auth;
  auth.scheme = scheme;
  auth.secret = std::move(secret);
  return auth;
}

// ---------------------------------------------------------------------------------------------
// http.h

TEST(HttpRequest, HeaderLookupIsCaseInsensitiveAndTakesTheFirst) {
  const Request request =
      make_request("/", {{"Content-Type", "text/plain"}, {"X-A", "one"}, {"x-a", "two"}});
  EXPECT_EQ(request.header("content-type"), "text/plain");
  EXPECT_EQ(request.header("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(request.header("X-a"), "one");
  EXPECT_FALSE(request.header("X-B").has_value());
  EXPECT_FALSE(request.header("Content-Typ").has_value());
  EXPECT_EQ(Request{}.method, "POST");
}

// ---------------------------------------------------------------------------------------------
// Scheme names

TEST(AuthSchemeNames, RoundTrip) {
  for (const SignatureScheme scheme :
       {SignatureScheme::standard_webhooks, SignatureScheme::twilio, SignatureScheme::callrail,
        SignatureScheme::ctm, SignatureScheme::hmac}) {
    EXPECT_EQ(parse_signature_scheme(to_string(scheme)), scheme);
  }
  EXPECT_EQ(to_string(SignatureScheme::standard_webhooks), "standard-webhooks");
  EXPECT_EQ(to_string(SignatureScheme::ctm), "ctm");
  EXPECT_EQ(parse_signature_scheme("svix"), SignatureScheme::standard_webhooks);  // an alias
  EXPECT_FALSE(parse_signature_scheme("Svix").has_value());
  EXPECT_FALSE(parse_signature_scheme("standard_webhooks").has_value());
  EXPECT_FALSE(parse_signature_scheme("Twilio").has_value());
  EXPECT_FALSE(parse_signature_scheme("").has_value());
}

// ---------------------------------------------------------------------------------------------
// No mechanism

TEST(Authenticate, NoMechanismConfiguredPasses) {
  const AuthResult result = authenticate(AuthConfig{}, make_request("/hook/abc?x=1"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/hook/abc?x=1");
}

// ---------------------------------------------------------------------------------------------
// Token in the path

constexpr std::string_view kToken = "tok123";

AuthConfig path_token() {
  AuthConfig config;
  config.token = TokenAuth{std::string(kToken), TokenAuth::Where::path, "token"};
  return config;
}

AuthConfig query_token(std::string param = "token") {
  AuthConfig config;
  config.token = TokenAuth{std::string(kToken), TokenAuth::Where::query, std::move(param)};
  return config;
}

TEST(TokenPath, SegmentMatchesAndIsRemoved) {
  AuthResult result = authenticate(path_token(), make_request("/hook/tok123/calls?x=1"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/hook/calls?x=1");

  result = authenticate(path_token(), make_request("/hook/tok123"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/hook");

  result = authenticate(path_token(), make_request("/tok123?a=b#frag"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/?a=b#frag");

  result = authenticate(path_token(), make_request("/hook/tok123/"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/hook/");
}

TEST(TokenPath, AbsoluteUrlKeepsItsOrigin) {
  const AuthResult result =
      authenticate(path_token(), make_request("https://edge.example.com:8443/in/tok123?x=1"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "https://edge.example.com:8443/in?x=1");
}

TEST(TokenPath, WrongOrPartialSegmentIsRefused) {
  for (const char* url :
       {"/hook/tok12", "/hook/tok1234", "/hook/TOK123", "/hook/xtok123/y", "/hook/tok%31%32%33"}) {
    const AuthResult result = authenticate(path_token(), make_request(url), 0);
    expect_refused(result, "bad_token", {kToken});
    EXPECT_EQ(result.url, url);
  }
}

TEST(TokenPath, TokenElsewhereDoesNotCount) {
  // Not in the host, the query or the fragment.
  for (const char* url : {"https://tok123/hook", "https://tok123.example.com/hook",
                          "/hook?token=tok123", "/hook?tok123", "/hook#tok123"}) {
    expect_refused(authenticate(path_token(), make_request(url), 0), "bad_token", {kToken});
  }
}

TEST(TokenPath, EmptyPathIsMissing) {
  expect_refused(authenticate(path_token(), make_request("/"), 0), "missing_token", {kToken});
  expect_refused(authenticate(path_token(), make_request("https://h.example.com"), 0),
                 "missing_token", {kToken});
}

TEST(TokenPath, EmptyConfiguredTokenNeverMatches) {
  AuthConfig config = path_token();
  config.token->token.clear();
  expect_refused(authenticate(config, make_request("/hook//x"), 0), "bad_token", {});
}

// ---------------------------------------------------------------------------------------------
// Token in the query

TEST(TokenQuery, ParameterMatchesAndIsRemovedKeepingTheRestByteForByte) {
  AuthResult result = authenticate(query_token(), make_request("/h?b=%20x&token=tok123&a=1+2"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/h?b=%20x&a=1+2");

  result = authenticate(query_token(), make_request("/hook?token=tok123"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/hook");

  result =
      authenticate(query_token(), make_request("https://e.example.com/hook?token=tok123&z=9"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "https://e.example.com/hook?z=9");

  result = authenticate(query_token(), make_request("/hook?z=9&token=tok123#top"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/hook?z=9#top");
}

TEST(TokenQuery, ValueIsFormDecoded) {
  const AuthResult result = authenticate(query_token(), make_request("/h?token=tok12%33&x=1"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/h?x=1");
}

TEST(TokenQuery, CustomParameterName) {
  AuthResult result = authenticate(query_token("key"), make_request("/h?token=no&key=tok123"), 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/h?token=no");

  result = authenticate(query_token("key"), make_request("/h?token=tok123"), 0);
  expect_refused(result, "missing_token", {kToken});
}

TEST(TokenQuery, MissingAndWrong) {
  expect_refused(authenticate(query_token(), make_request("/hook"), 0), "missing_token", {kToken});
  expect_refused(authenticate(query_token(), make_request("/hook?tokens=tok123"), 0),
                 "missing_token", {kToken});
  expect_refused(authenticate(query_token(), make_request("/tok123?x=1"), 0), "missing_token",
                 {kToken});
  expect_refused(authenticate(query_token(), make_request("/hook?token=tok12"), 0), "bad_token",
                 {kToken});
  expect_refused(authenticate(query_token(), make_request("/hook?token="), 0), "bad_token",
                 {kToken});
  expect_refused(authenticate(query_token(), make_request("/hook?token=tok123x"), 0), "bad_token",
                 {kToken});
}

TEST(TokenQuery, EmptyConfiguredTokenNeverMatches) {
  AuthConfig config = query_token();
  config.token->token.clear();
  expect_refused(authenticate(config, make_request("/hook?token="), 0), "bad_token", {});
  expect_refused(authenticate(config, make_request("/hook?token"), 0), "bad_token", {});
}

// ---------------------------------------------------------------------------------------------
// Basic

constexpr std::string_view kPassword = "s3cret:pw";

AuthConfig basic_config() {
  AuthConfig config;
  config.basic = BasicAuth{"alice", std::string(kPassword)};
  return config;
}

Request with_authorization(std::string value) {
  return make_request("/hook", {{"Authorization", std::move(value)}});
}

TEST(Basic, GoodCredentials) {
  // base64("alice:s3cret:pw"): the password may hold ':'; only the first one separates.
  expect_passed(authenticate(basic_config(), with_authorization("Basic YWxpY2U6czNjcmV0OnB3"), 0));
  expect_passed(authenticate(basic_config(), with_authorization("basic YWxpY2U6czNjcmV0OnB3"), 0));
  expect_passed(
      authenticate(basic_config(), with_authorization("  BASIC   YWxpY2U6czNjcmV0OnB3  "), 0));
}

TEST(Basic, BadCredentials) {
  // alice:wrong
  expect_refused(authenticate(basic_config(), with_authorization("Basic YWxpY2U6d3Jvbmc="), 0),
                 "bad_credentials", {kPassword});
  // bob:s3cret:pw
  expect_refused(authenticate(basic_config(), with_authorization("Basic Ym9iOnMzY3JldDpwdw=="), 0),
                 "bad_credentials", {kPassword});
  // alice:s3cret:p (a prefix of the password)
  expect_refused(authenticate(basic_config(), with_authorization("Basic YWxpY2U6czNjcmV0OnA="), 0),
                 "bad_credentials", {kPassword});
}

TEST(Basic, MissingCredentials) {
  expect_refused(authenticate(basic_config(), make_request("/hook"), 0), "missing_credentials",
                 {kPassword});
  expect_refused(authenticate(basic_config(), with_authorization("Bearer abc"), 0),
                 "missing_credentials", {kPassword});
  expect_refused(authenticate(basic_config(), with_authorization("Basic"), 0),
                 "missing_credentials", {kPassword});
  expect_refused(authenticate(basic_config(), with_authorization("   "), 0), "missing_credentials",
                 {kPassword});
}

TEST(Basic, MalformedCredentials) {
  expect_refused(authenticate(basic_config(), with_authorization("Basic not*base64"), 0),
                 "bad_credentials", {kPassword});
  // base64("alicepw"): no ':'.
  expect_refused(authenticate(basic_config(), with_authorization("Basic YWxpY2Vwdw=="), 0),
                 "bad_credentials", {kPassword});
}

TEST(Basic, EmptyConfigurationNeverPasses) {
  AuthConfig config;
  config.basic = BasicAuth{};
  // base64(":")
  expect_refused(authenticate(config, with_authorization("Basic Og=="), 0), "bad_credentials", {});
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks

constexpr std::string_view kSwSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kSwSecretKey = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::int64_t kSwTime = 1614265330;

Request sw_request(std::string signature, std::string id = "msg_p5jXN8AQM9LWM0D4loKWxJek",
                   std::string timestamp = "1614265330",
                   std::string body = R"({"test": 2432232314})") {
  return make_request("/hook",
                      {{"webhook-id", std::move(id)},
                       {"webhook-timestamp", std::move(timestamp)},
                       {"webhook-signature", std::move(signature)}},
                      std::move(body));
}

constexpr const char* kSwGood = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

AuthConfig sw_config(std::string_view secret = kSwSecret) {
  return with_signature(signature(SignatureScheme::standard_webhooks, std::string(secret)));
}

TEST(StandardWebhooks, PublishedVector) {
  expect_passed(authenticate(sw_config(), sw_request(kSwGood), kSwTime), "standard-webhooks");
}

TEST(StandardWebhooks, WhsecPrefixIsOptional) {
  expect_passed(authenticate(sw_config(kSwSecretKey), sw_request(kSwGood), kSwTime),
                "standard-webhooks");
}

TEST(StandardWebhooks, OwnVector) {
  // key = "callhook-standard-webhooks-key!!"
  const AuthConfig config = sw_config("whsec_Y2FsbGhvb2stc3RhbmRhcmQtd2ViaG9va3Mta2V5ISE=");
  const Request request = sw_request(
      "v1,jQUVb7UO7adTbCDivSarOu7BCbvdscgne4+61cRUm88=", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
      "1700000000", R"({"type":"call.completed","data":{"id":"CA1"}})");
  expect_passed(authenticate(config, request, 1700000000), "standard-webhooks");
  // The same signature under another key.
  const AuthConfig other = sw_config("whsec_YW5vdGhlci1rZXktYW5vdGhlci1rZXktYW5vdGhlciE=");
  expect_refused(authenticate(other, request, 1700000000), "bad_signature",
                 {"whsec_YW5vdGhlci1rZXktYW5vdGhlci1rZXktYW5vdGhlciE="});
}

TEST(StandardWebhooks, HeaderNamesAreCaseInsensitive) {
  const Request request = make_request("/hook",
                                       {{"Webhook-Id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                                        {"WEBHOOK-TIMESTAMP", "1614265330"},
                                        {"Webhook-Signature", kSwGood}},
                                       R"({"test": 2432232314})");
  expect_passed(authenticate(sw_config(), request, kSwTime), "standard-webhooks");
}

TEST(StandardWebhooks, Tampering) {
  const auto refused = [](const Request& request, std::int64_t now = kSwTime) {
    expect_refused(authenticate(sw_config(), request, now), "bad_signature",
                   {kSwSecret, kSwSecretKey});
  };
  refused(
      sw_request(kSwGood, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", R"({"test": 2432232315})"));
  refused(sw_request(kSwGood, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                     R"({"test": 2432232314} )"));
  refused(sw_request(kSwGood, "msg_p5jXN8AQM9LWM0D4loKWxJeK"));
  refused(sw_request(kSwGood, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331"));
  // Signature bytes flipped (still valid base64).
  refused(sw_request("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="));
}

TEST(StandardWebhooks, WrongSecret) {
  const std::string_view wrong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx";
  expect_refused(authenticate(sw_config(wrong), sw_request(kSwGood), kSwTime), "bad_signature",
                 {wrong, wrong.substr(6)});
}

TEST(StandardWebhooks, SecretThatIsNotBase64NeverPasses) {
  const std::string_view secret = "whsec_not base64!";
  expect_refused(authenticate(sw_config(secret), sw_request(kSwGood), kSwTime), "bad_signature",
                 {secret, "not base64!"});
  expect_refused(authenticate(sw_config(""), sw_request(kSwGood), kSwTime), "bad_signature", {});
}

TEST(StandardWebhooks, MissingHeaders) {
  const Request full = sw_request(kSwGood);
  for (const char* drop : {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
    Request request = full;
    std::erase_if(request.headers, [drop](const HttpHeader& h) { return h.name == drop; });
    expect_refused(authenticate(sw_config(), request, kSwTime), "missing_signature", {kSwSecret});
  }
  expect_refused(authenticate(sw_config(), sw_request("  "), kSwTime), "missing_signature",
                 {kSwSecret});
}

TEST(StandardWebhooks, Timestamps) {
  const Request request = sw_request(kSwGood);
  expect_passed(authenticate(sw_config(), request, kSwTime + 300), "standard-webhooks");
  expect_passed(authenticate(sw_config(), request, kSwTime - 300), "standard-webhooks");
  expect_refused(authenticate(sw_config(), request, kSwTime + 301), "stale_timestamp",
                 {kSwSecret});  // expired
  expect_refused(authenticate(sw_config(), request, kSwTime - 301), "stale_timestamp",
                 {kSwSecret});  // from the future
  expect_refused(authenticate(sw_config(), request, 0), "stale_timestamp", {kSwSecret});

  AuthConfig tight = sw_config();
  tight.signatures[0].tolerance_seconds = 10;
  expect_passed(authenticate(tight, request, kSwTime + 10), "standard-webhooks");
  expect_refused(authenticate(tight, request, kSwTime + 11), "stale_timestamp", {kSwSecret});
}

TEST(StandardWebhooks, MalformedTimestamp) {
  for (const char* timestamp :
       {"1614265330.5", "-1614265330", "0x60375a32", "abc", "1614265330000000000000"}) {
    expect_refused(
        authenticate(sw_config(), sw_request(kSwGood, "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp),
                     kSwTime),
        "malformed_signature", {kSwSecret});
  }
}

TEST(StandardWebhooks, MultipleSignatures) {
  // Any v1 entry that matches passes, wherever it is; other versions are skipped.
  for (const std::string& header :
       {std::string("v1,bm9wZQ== ") + kSwGood, std::string(kSwGood) + " v1,bm9wZQ==",
        std::string("v1a,c29tZSBlZDI1NTE5IHNpZw== ") + kSwGood,
        std::string("v1,not*base64 ") + kSwGood, std::string("garbage  ") + kSwGood + " "}) {
    expect_passed(authenticate(sw_config(), sw_request(header), kSwTime), "standard-webhooks");
  }
  // Two well-formed v1 signatures, neither matching.
  expect_refused(
      authenticate(sw_config(),
                   sw_request("v1,bm9wZQ== v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
                   kSwTime),
      "bad_signature", {kSwSecret});
}

TEST(StandardWebhooks, MalformedSignatures) {
  for (const char* header : {"v1,***", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
                             "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v1 ,x",
                             "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=="}) {
    expect_refused(authenticate(sw_config(), sw_request(header), kSwTime), "malformed_signature",
                   {kSwSecret});
  }
  // The decoder accepts unpadded base64, so this is still the genuine signature.
  expect_passed(authenticate(sw_config(),
                             sw_request("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"), kSwTime),
                "standard-webhooks");
  // Only signatures of another version: nothing to check, nothing passes.
  expect_refused(authenticate(sw_config(), sw_request("v1a,c29tZSBlZDI1NTE5IHNpZw=="), kSwTime),
                 "bad_signature", {kSwSecret});
}

// Svix's names for the same headers, and a request carrying both sets.

Request svix_request(std::string signature, std::string id = "msg_p5jXN8AQM9LWM0D4loKWxJek",
                     std::string timestamp = "1614265330",
                     std::string body = R"({"test": 2432232314})") {
  return make_request("/hook",
                      {{"svix-id", std::move(id)},
                       {"svix-timestamp", std::move(timestamp)},
                       {"svix-signature", std::move(signature)}},
                      std::move(body));
}

TEST(StandardWebhooks, SvixHeaderNames) {
  expect_passed(authenticate(sw_config(), svix_request(kSwGood), kSwTime), "standard-webhooks");
  const Request capitalised = make_request("/hook",
                                           {{"Svix-Id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                                            {"Svix-Timestamp", "1614265330"},
                                            {"Svix-Signature", kSwGood}},
                                           R"({"test": 2432232314})");
  expect_passed(authenticate(sw_config(), capitalised, kSwTime), "standard-webhooks");
  expect_refused(authenticate(sw_config(), svix_request(kSwGood, "msg_other"), kSwTime),
                 "bad_signature", {kSwSecret});
  expect_refused(authenticate(sw_config(), svix_request(kSwGood), kSwTime + 301), "stale_timestamp",
                 {kSwSecret});
  for (const char* drop : {"svix-id", "svix-timestamp", "svix-signature"}) {
    Request request = svix_request(kSwGood);
    std::erase_if(request.headers, [drop](const HttpHeader& h) { return h.name == drop; });
    const AuthResult result = authenticate(sw_config(), request, kSwTime);
    expect_refused(result, "missing_signature", {kSwSecret});
  }
}

TEST(StandardWebhooks, EachHeaderSetIsTriedOnItsOwn) {
  const auto both = [](std::string webhook_signature, std::string svix_signature,
                       std::string svix_id = "msg_p5jXN8AQM9LWM0D4loKWxJek") {
    Request request = sw_request(std::move(webhook_signature));
    request.headers.push_back({"svix-id", std::move(svix_id)});
    request.headers.push_back({"svix-timestamp", "1614265330"});
    request.headers.push_back({"svix-signature", std::move(svix_signature)});
    return request;
  };
  constexpr const char* kBad = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=";
  expect_passed(authenticate(sw_config(), both(kSwGood, kBad), kSwTime), "standard-webhooks");
  expect_passed(authenticate(sw_config(), both(kBad, kSwGood), kSwTime), "standard-webhooks");
  // Neither verifies: the refusal is the webhook-* set's.
  const AuthResult refused = authenticate(sw_config(), both(kBad, "v1,***"), kSwTime);
  expect_refused(refused, "bad_signature", {kSwSecret});
  EXPECT_NE(refused.message.find("webhook-signature"), std::string::npos) << refused.message;
  // A set's id is never taken from the other set: kSwGood signs webhook-id, not svix-id.
  expect_refused(authenticate(sw_config(), both(kBad, kSwGood, "msg_other"), kSwTime),
                 "bad_signature", {kSwSecret});
  Request mixed = make_request("/hook",
                               {{"webhook-signature", kSwGood},
                                {"svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                                {"svix-timestamp", "1614265330"}},
                               R"({"test": 2432232314})");
  expect_refused(authenticate(sw_config(), mixed, kSwTime), "missing_signature", {kSwSecret});
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks, asymmetric: v1a entries (Ed25519) under a whpk_ public key. The keys are
// Ed25519 key pairs from fixed 32-byte seeds; every signature was made with Node's crypto.sign
// over "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}".

constexpr std::string_view kSwPublicKey = "whpk_PgiVGxIB3wWhThxpnBed8UGgThp8lAo3MJyHCAhGKQY=";
constexpr std::string_view kSwOtherPublicKey = "whpk_KfTEJqOPCr05nv4zuLeBByhpy9gvCx9oFB0Y+HiCnDE=";
// The private half of kSwPublicKey, which a receiver never needs.
constexpr std::string_view kSwSigningKey = "whsk_Y2FsbGhvb2sgc3RhbmRhcmQgd2ViaG9va3MgdjFhISE=";
constexpr const char* kSwAsymmetricGood =
    "v1a,YjFQAphAmgjqugHBlauIsccQGlyGS/v8BKC3nRPrnlAuxQaebHd6zFaPb+7fuLQhjZGzKVqy/KK/yri3ORXcCw==";
// The same content signed with kSwOtherPublicKey's private key.
constexpr const char* kSwAsymmetricOther =
    "v1a,+CTO6pXD/zdwRP7pIQBDaSwV7a/Zb5vGZXDPFAbfcEtkcTe9MFxG+bQyvP/yRljXekK2PGO7Y7x1Fs8TO3J4Ag==";

TEST(StandardWebhooksAsymmetric, V1aSignatureUnderWhpkKey) {
  expect_passed(authenticate(sw_config(kSwPublicKey), sw_request(kSwAsymmetricGood), kSwTime),
                "standard-webhooks");
  expect_passed(authenticate(sw_config(kSwPublicKey), svix_request(kSwAsymmetricGood), kSwTime),
                "standard-webhooks");
  expect_passed(authenticate(sw_config(kSwOtherPublicKey), sw_request(kSwAsymmetricOther), kSwTime),
                "standard-webhooks");
  // Key rotation: one entry per key, any may verify.
  const std::string rotated = std::string(kSwAsymmetricOther) + " " + kSwAsymmetricGood;
  expect_passed(authenticate(sw_config(kSwPublicKey), sw_request(rotated), kSwTime),
                "standard-webhooks");
  expect_passed(authenticate(sw_config(kSwOtherPublicKey), sw_request(rotated), kSwTime),
                "standard-webhooks");
}

TEST(StandardWebhooksAsymmetric, Refusals) {
  const AuthConfig config = sw_config(kSwPublicKey);
  const auto refused = [&config](const Request& request, std::string_view code,
                                 std::int64_t now = kSwTime) {
    expect_refused(authenticate(config, request, now), code, {kSwPublicKey});
  };
  refused(sw_request(kSwAsymmetricOther), "bad_signature");  // another key's signature
  refused(sw_request(kSwAsymmetricGood, "msg_p5jXN8AQM9LWM0D4loKWxJeK"), "bad_signature");
  refused(sw_request(kSwAsymmetricGood, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331"),
          "bad_signature");
  refused(sw_request(kSwAsymmetricGood, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                     R"({"test": 2432232315})"),
          "bad_signature");
  // One bit of S flipped (still base64 of 64 bytes).
  refused(sw_request("v1a,YjFQAphAmgjqugHBlauIsccQGlyGS/v8BKC3nRPrnlAuxQaebHd6zFaPb+7fuLQhjZGzKVqy/"
                     "KK/yri3ORXcCg=="),
          "bad_signature");
  refused(sw_request("v1a,c2hvcnQ="), "bad_signature");  // not 64 bytes
  refused(sw_request("v1a,***"), "malformed_signature");
  refused(sw_request(kSwAsymmetricGood), "stale_timestamp", kSwTime + 301);
  refused(svix_request(kSwAsymmetricGood, "msg_other"), "bad_signature");
}

TEST(StandardWebhooksAsymmetric, HmacEntriesDoNotCountUnderAPublicKey) {
  // kSwGood is the genuine HMAC under kSwSecret; a whpk_ key checks only v1a entries.
  const AuthResult result = authenticate(sw_config(kSwPublicKey), sw_request(kSwGood), kSwTime);
  expect_refused(result, "bad_signature", {kSwPublicKey});
  EXPECT_NE(result.message.find("v1a"), std::string::npos) << result.message;
  // Both kinds sent: each key takes its own.
  const std::string both = std::string(kSwGood) + " " + kSwAsymmetricGood;
  expect_passed(authenticate(sw_config(kSwPublicKey), sw_request(both), kSwTime),
                "standard-webhooks");
  expect_passed(authenticate(sw_config(), sw_request(both), kSwTime), "standard-webhooks");
  // And a whsec_ secret does not count v1a entries.
  expect_refused(authenticate(sw_config(), sw_request(kSwAsymmetricGood), kSwTime), "bad_signature",
                 {kSwSecret});
}

TEST(StandardWebhooksAsymmetric, UnusableKeysNeverPass) {
  expect_refused(authenticate(sw_config("whpk_"), sw_request(kSwAsymmetricGood), kSwTime),
                 "bad_signature", {});
  for (const std::string_view key :
       {std::string_view("whpk_not base64!"),
        std::string_view("whpk_PgiVGxIB3wWhThxpnBed8UGgThp8lAo3MJyHCAhGKQ=="),  // 31 bytes
        kSwSigningKey}) {
    expect_refused(authenticate(sw_config(key), sw_request(kSwAsymmetricGood), kSwTime),
                   "bad_signature", {key, key.substr(5)});
  }
}

TEST(StandardWebhooksAsymmetric, OnlyTheFirstEightV1aEntriesAreChecked) {
  std::string header;
  for (int i = 0; i < 7; ++i) header += std::string(kSwAsymmetricOther) + " ";
  expect_passed(authenticate(sw_config(kSwPublicKey),
                             sw_request(header + " v1,bm9wZQ== " + kSwAsymmetricGood), kSwTime),
                "standard-webhooks");
  header += std::string(kSwAsymmetricOther) + " ";
  expect_refused(
      authenticate(sw_config(kSwPublicKey), sw_request(header + kSwAsymmetricGood), kSwTime),
      "bad_signature", {kSwPublicKey});
}

// ---------------------------------------------------------------------------------------------
// Twilio

constexpr std::string_view kTwilioToken = "12345";
constexpr std::string_view kTwilioUrl = "https://mycompany.com/myapp.php?foo=1&bar=2";
// CallSid=CA1234567890ABCDE, Digits=1234, From=+14158675309, To=+18005551212,
// Caller=+14158675309, in arrival order, form-encoded.
constexpr std::string_view kTwilioBody =
    "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%"
    "2B14158675309";
constexpr std::string_view kTwilioSignature = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

AuthConfig twilio_config(std::string_view secret = kTwilioToken, std::string public_url = {}) {
  SignatureAuth auth = signature(SignatureScheme::twilio, std::string(secret));
  auth.public_url = std::move(public_url);
  return with_signature(std::move(auth));
}

Request twilio_request(std::string_view url, std::string_view signature_value,
                       std::string_view body = kTwilioBody, std::vector<HttpHeader> extra = {}) {
  extra.push_back({"X-Twilio-Signature", std::string(signature_value)});
  extra.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  return make_request(std::string(url), std::move(extra), std::string(body));
}

TEST(Twilio, PublishedFormExample) {
  expect_passed(authenticate(twilio_config(), twilio_request(kTwilioUrl, kTwilioSignature), 0),
                "twilio");
}

TEST(Twilio, PortVariantsAsTwilioLibrariesTryThem) {
  // A port in the URL is also tried without it...
  expect_passed(
      authenticate(
          twilio_config(),
          twilio_request("https://mycompany.com:1234/myapp.php?foo=1&bar=2", kTwilioSignature), 0),
      "twilio");
  // ...and a URL without one also with the scheme's default port (signatures published by
  // twilio-python for the :443 and :80 spellings).
  expect_passed(
      authenticate(twilio_config(), twilio_request(kTwilioUrl, "kvajT1Ptam85bY51eRf/AJRuM3w="), 0),
      "twilio");
  expect_passed(authenticate(twilio_config(),
                             twilio_request("http://mycompany.com/myapp.php?foo=1&bar=2",
                                            "0ZXoZLH/DfblKGATFgpif+LLRf4="),
                             0),
                "twilio");
  expect_passed(authenticate(twilio_config(),
                             twilio_request("http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                                            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
                             0),
                "twilio");
}

TEST(Twilio, RepeatedParametersSortByValue) {
  // twilio-python's duplicate-parameter vector: Digits=5678 arrives before Digits=1234.
  const Request request = twilio_request(kTwilioUrl, "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
                                         "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234");
  expect_passed(authenticate(twilio_config(), request, 0), "twilio");
}

TEST(Twilio, JsonBodyWithBodySha256) {
  const std::string url =
      std::string(kTwilioUrl) +
      "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
  const std::string body = R"({"property": "value", "boolean": true})";
  expect_passed(
      authenticate(twilio_config(), twilio_request(url, "a9nBmqA0ju/hNViExpshrM61xv4=", body), 0),
      "twilio");
  // The signature covers the URL only, so a changed body shows in the hash.
  expect_refused(authenticate(twilio_config(),
                              twilio_request(url, "a9nBmqA0ju/hNViExpshrM61xv4=",
                                             R"({"property": "value", "boolean": false})"),
                              0),
                 "bad_signature", {kTwilioToken});
  // And a changed hash in the URL shows in the signature.
  std::string other_url = url;
  other_url.back() = '1';
  expect_refused(authenticate(twilio_config(),
                              twilio_request(other_url, "a9nBmqA0ju/hNViExpshrM61xv4=", body), 0),
                 "bad_signature", {kTwilioToken});
}

TEST(Twilio, JsonBodyBehindPublicUrl) {
  // hex(SHA-256('{"CallSid":"CA1"}')), signed as https://hooks.example.com/edge/twilio/json?...
  const std::string body = R"({"CallSid":"CA1"})";
  const Request request = twilio_request(
      "/twilio/json?bodySHA256=85264246de8d570722726062407cde49dc5bb2c2569c179765b178e3ffe30825",
      "YFEFgcShFfPmDbSELiLCMfDBB9E=", body);
  expect_passed(
      authenticate(twilio_config("twilio-token-xyz", "https://hooks.example.com/edge"), request, 0),
      "twilio");
}

TEST(Twilio, Tampering) {
  // A parameter changed, added or dropped; the URL changed.
  for (const std::string& body :
       {std::string(kTwilioBody).replace(8, 2, "CB"), std::string(kTwilioBody) + "&Extra=1",
        std::string(kTwilioBody.substr(0, kTwilioBody.rfind('&')))}) {
    expect_refused(
        authenticate(twilio_config(), twilio_request(kTwilioUrl, kTwilioSignature, body), 0),
        "bad_signature", {kTwilioToken});
  }
  expect_refused(
      authenticate(twilio_config(),
                   twilio_request("https://mycompany.com/myapp.php?foo=1&bar=3", kTwilioSignature),
                   0),
      "bad_signature", {kTwilioToken});
  expect_refused(
      authenticate(twilio_config(),
                   twilio_request("https://evil.example/myapp.php?foo=1&bar=2", kTwilioSignature),
                   0),
      "bad_signature", {kTwilioToken});
  // An unencoded '+' is a space in a form body, so it is not the number Twilio signed.
  expect_refused(
      authenticate(twilio_config(),
                   twilio_request(kTwilioUrl, kTwilioSignature,
                                  "CallSid=CA1234567890ABCDE&Digits=1234&From=+14158675309&To=%"
                                  "2B18005551212&Caller=%2B14158675309"),
                   0),
      "bad_signature", {kTwilioToken});
}

TEST(Twilio, WrongSecretMissingAndMalformed) {
  expect_refused(
      authenticate(twilio_config("54321"), twilio_request(kTwilioUrl, kTwilioSignature), 0),
      "bad_signature", {"54321"});
  expect_refused(authenticate(twilio_config(""), twilio_request(kTwilioUrl, kTwilioSignature), 0),
                 "bad_signature", {});
  expect_refused(
      authenticate(twilio_config(),
                   make_request(std::string(kTwilioUrl), {}, std::string(kTwilioBody)), 0),
      "missing_signature", {kTwilioToken});
  // Non-zero unused bits in the last character; extra padding; characters outside the alphabet.
  for (const char* bad : {"RSOYDt4T1cUTdK1PDd93/VVr8B9=", "RSOYDt4T1cUTdK1PDd93/VVr8B8==",
                          "RSOYDt4T1cUTdK1PDd93 VVr8B8="}) {
    expect_refused(authenticate(twilio_config(), twilio_request(kTwilioUrl, bad), 0),
                   "malformed_signature", {kTwilioToken});
  }
  // Unpadded base64 is accepted by the decoder, so this is the genuine signature.
  expect_passed(
      authenticate(twilio_config(), twilio_request(kTwilioUrl, "RSOYDt4T1cUTdK1PDd93/VVr8B8"), 0),
      "twilio");
  expect_refused(authenticate(twilio_config(), twilio_request(kTwilioUrl, "not base64!"), 0),
                 "malformed_signature", {kTwilioToken});
}

// base64(HMAC-SHA1("twilio-token-xyz", url + "CallSidCA1From+15551234567")) for three URLs.
constexpr std::string_view kTwilioOwnBody = "From=%2B15551234567&CallSid=CA1";

TEST(Twilio, PublicUrlReplacesTheOrigin) {
  const Request request =
      twilio_request("/twilio/voice?x=1", "IZf7NrRTcql5ZQ/jmEHB4pidgew=", kTwilioOwnBody,
                     {{"Host", "10.0.0.7:8080"}});
  for (const char* base : {"https://hooks.example.com/edge", "https://hooks.example.com/edge/"}) {
    expect_passed(authenticate(twilio_config("twilio-token-xyz", base), request, 0), "twilio");
  }
  // An absolute request URL loses its origin too.
  Request absolute = request;
  absolute.url = "http://10.0.0.7:8080/twilio/voice?x=1";
  expect_passed(authenticate(twilio_config("twilio-token-xyz", "https://hooks.example.com/edge"),
                             absolute, 0),
                "twilio");
  // Without public_url the request's own Host is used, which is not what Twilio signed.
  expect_refused(authenticate(twilio_config("twilio-token-xyz"), request, 0), "bad_signature",
                 {"twilio-token-xyz"});
  expect_refused(
      authenticate(twilio_config("twilio-token-xyz", "https://hooks.example.com"), request, 0),
      "bad_signature", {"twilio-token-xyz"});
}

TEST(Twilio, RequestTargetWithHost) {
  Request request =
      twilio_request("/twilio/voice?x=1", "Gf5fuTbujAkK79PajZHULPNW/JU=", kTwilioOwnBody,
                     {{"host", "hooks.example.com"}});
  expect_passed(authenticate(twilio_config("twilio-token-xyz"), request, 0), "twilio");

  request = twilio_request("/twilio/voice?x=1", "wnBXfGxPYAKLaLWZCIU/BEW3sVE=", kTwilioOwnBody,
                           {{"Host", "hooks.example.com"}, {"X-Forwarded-Proto", "http"}});
  expect_passed(authenticate(twilio_config("twilio-token-xyz"), request, 0), "twilio");

  // No absolute URL, no Host, no public_url: the signed URL cannot be known.
  request = twilio_request("/twilio/voice?x=1", "Gf5fuTbujAkK79PajZHULPNW/JU=", kTwilioOwnBody);
  expect_refused(authenticate(twilio_config("twilio-token-xyz"), request, 0), "bad_signature",
                 {"twilio-token-xyz"});
}

TEST(Twilio, GetRequestSignsTheUrlOnly) {
  Request request = twilio_request(std::string(kTwilioUrl) + "&CallSid=CA1",
                                   "68+B1rpXN0SSAi/ASPjU+xI5dL0=", "ignored=1");
  request.method = "GET";
  expect_passed(authenticate(twilio_config(), request, 0), "twilio");
}

TEST(Twilio, SignatureCoversTheUrlWithTheToken) {
  AuthConfig config = twilio_config("twilio-token-xyz");
  config.token = TokenAuth{std::string(kToken), TokenAuth::Where::path, "token"};
  const Request request = twilio_request("https://hooks.example.com/hook/tok123/voice",
                                         "mvG6LvU2da/lSy+PBnx1SMwAcvo=", "CallSid=CA9");
  const AuthResult result = authenticate(config, request, 0);
  expect_passed(result, "twilio");
  EXPECT_EQ(result.url, "https://hooks.example.com/hook/voice");
}

// ---------------------------------------------------------------------------------------------
// CallRail

constexpr std::string_view kCallRailSecret = "callrail-secret-1";
constexpr std::string_view kCallRailBody = R"({"resource_id":"CAL123","answered":true})";
constexpr std::string_view kCallRailSignature = "xY3mJpXUy24Q4we1srJodQQNqJ4=";

Request callrail_request(std::string_view signature_value, std::string_view body = kCallRailBody) {
  return make_request("/hook", {{"Signature", std::string(signature_value)}}, std::string(body));
}

TEST(CallRail, Genuine) {
  const AuthConfig config =
      with_signature(signature(SignatureScheme::callrail, std::string(kCallRailSecret)));
  expect_passed(authenticate(config, callrail_request(kCallRailSignature), 0), "callrail");
  // Surrounding whitespace is not part of a header value.
  expect_passed(authenticate(config, callrail_request(" xY3mJpXUy24Q4we1srJodQQNqJ4=\r\n"), 0),
                "callrail");
}

TEST(CallRail, Refusals) {
  const AuthConfig config =
      with_signature(signature(SignatureScheme::callrail, std::string(kCallRailSecret)));
  expect_refused(
      authenticate(
          config,
          callrail_request(kCallRailSignature, R"({"resource_id":"CAL123","answered":false})"), 0),
      "bad_signature", {kCallRailSecret});
  expect_refused(authenticate(config, callrail_request("xY3mJpXUy24Q4we1srJodQQNqJ5="), 0),
                 "malformed_signature", {kCallRailSecret});  // non-zero unused bits
  expect_refused(authenticate(config, callrail_request("yY3mJpXUy24Q4we1srJodQQNqJ4="), 0),
                 "bad_signature", {kCallRailSecret});
  expect_refused(authenticate(config, callrail_request("%%%"), 0), "malformed_signature",
                 {kCallRailSecret});
  expect_refused(authenticate(config, make_request("/hook", {}, std::string(kCallRailBody)), 0),
                 "missing_signature", {kCallRailSecret});
  const AuthConfig wrong =
      with_signature(signature(SignatureScheme::callrail, "callrail-secret-2"));
  expect_refused(authenticate(wrong, callrail_request(kCallRailSignature), 0), "bad_signature",
                 {"callrail-secret-2"});
}

// ---------------------------------------------------------------------------------------------
// CallTrackingMetrics

constexpr std::string_view kCtmSecret = "ctm-secret-1";
constexpr std::string_view kCtmBody = R"({"id":1,"caller_number":"+15551234567"})";
constexpr std::string_view kCtmSignature = "PBfbOxTR95mixCtrBWkJEzazHVA=";
constexpr std::int64_t kCtmTime = 1700000000;

Request ctm_request(std::string_view signature_value, std::string_view time = "1700000000",
                    std::string_view body = kCtmBody) {
  return make_request(
      "/hook",
      {{"X-CTM-Time", std::string(time)}, {"X-CTM-Signature", std::string(signature_value)}},
      std::string(body));
}

AuthConfig ctm_config(std::string_view secret = kCtmSecret) {
  return with_signature(signature(SignatureScheme::ctm, std::string(secret)));
}

TEST(Ctm, Genuine) {
  expect_passed(authenticate(ctm_config(), ctm_request(kCtmSignature), kCtmTime + 10), "ctm");
  // Ruby's Base64.encode64 ends the value with a newline.
  expect_passed(authenticate(ctm_config(), ctm_request("PBfbOxTR95mixCtrBWkJEzazHVA=\n"), kCtmTime),
                "ctm");
}

TEST(Ctm, Refusals) {
  expect_refused(authenticate(ctm_config(),
                              ctm_request(kCtmSignature, "1700000000",
                                          R"({"id":2,"caller_number":"+15551234567"})"),
                              kCtmTime),
                 "bad_signature", {kCtmSecret});
  // The time is signed: a different one within tolerance still fails.
  expect_refused(authenticate(ctm_config(), ctm_request(kCtmSignature, "1700000001"), kCtmTime),
                 "bad_signature", {kCtmSecret});
  expect_refused(authenticate(ctm_config("ctm-secret-2"), ctm_request(kCtmSignature), kCtmTime),
                 "bad_signature", {"ctm-secret-2"});
  expect_refused(authenticate(ctm_config(), ctm_request("PBfbOxTR95mixCtrBWkJEzazHV@="), kCtmTime),
                 "malformed_signature", {kCtmSecret});
  expect_refused(authenticate(ctm_config(), ctm_request(kCtmSignature, "yesterday"), kCtmTime),
                 "malformed_signature", {kCtmSecret});
  expect_refused(authenticate(ctm_config(), ctm_request(kCtmSignature), kCtmTime + 301),
                 "stale_timestamp", {kCtmSecret});
  expect_refused(authenticate(ctm_config(), ctm_request(kCtmSignature), kCtmTime - 301),
                 "stale_timestamp", {kCtmSecret});
  expect_refused(
      authenticate(ctm_config(),
                   make_request("/hook", {{"X-CTM-Signature", std::string(kCtmSignature)}},
                                std::string(kCtmBody)),
                   kCtmTime),
      "missing_signature", {kCtmSecret});
  expect_refused(
      authenticate(ctm_config(),
                   make_request("/hook", {{"X-CTM-Time", "1700000000"}}, std::string(kCtmBody)),
                   kCtmTime),
      "missing_signature", {kCtmSecret});
}

// ---------------------------------------------------------------------------------------------
// Generic HMAC

constexpr std::string_view kGitHubSecret = "It's a Secret to Everybody";

AuthConfig github_config(std::string_view secret = kGitHubSecret) {
  SignatureAuth auth = signature(SignatureScheme::hmac, std::string(secret));
  auth.header = "X-Hub-Signature-256";
  auth.prefix = "sha256=";
  return with_signature(std::move(auth));
}

Request github_request(std::string value, std::string body = "Hello, World!") {
  return make_request("/hook", {{"X-Hub-Signature-256", std::move(value)}}, std::move(body));
}

constexpr const char* kGitHubSignature =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

TEST(Hmac, GitHubPublishedExample) {
  expect_passed(authenticate(github_config(), github_request(kGitHubSignature), 0), "hmac");
  // Hex of either case.
  expect_passed(authenticate(github_config(),
                             github_request("sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C2"
                                            "2C46F4379C8B043E17"),
                             0),
                "hmac");
}

TEST(Hmac, Refusals) {
  const std::initializer_list<std::string_view> secrets = {kGitHubSecret};
  expect_refused(
      authenticate(github_config(), github_request(kGitHubSignature, "Hello, World?"), 0),
      "bad_signature", secrets);
  expect_refused(
      authenticate(github_config("It's a Secret to Nobody"), github_request(kGitHubSignature), 0),
      "bad_signature", {"It's a Secret to Nobody"});
  expect_refused(authenticate(github_config(),
                              github_request("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4"
                                             "379c8b043e17"),
                              0),
                 "malformed_signature", secrets);  // no prefix
  expect_refused(authenticate(github_config(), github_request("sha256=xyz"), 0),
                 "malformed_signature", secrets);
  expect_refused(authenticate(github_config(), github_request("sha256=757"), 0),
                 "malformed_signature", secrets);  // odd length
  expect_refused(authenticate(github_config(), github_request("sha256=7571"), 0), "bad_signature",
                 secrets);  // well-formed, too short
  expect_refused(authenticate(github_config(), make_request("/hook", {}, "Hello, World!"), 0),
                 "missing_signature", secrets);
}

TEST(Hmac, Sha1Base64WithTimestamp) {
  SignatureAuth auth = signature(SignatureScheme::hmac, "hmac-secret-2");
  auth.algorithm = SignatureAuth::Algorithm::sha1;
  auth.encoding = SignatureAuth::Encoding::base64;
  auth.header = "X-Sig";
  auth.timestamp_header = "X-Sig-Time";
  auth.separator = ":";
  auth.tolerance_seconds = 60;
  const AuthConfig config = with_signature(auth);
  const auto request = [](std::string sig, std::string time = "1700000000") {
    return make_request("/hook", {{"X-Sig", std::move(sig)}, {"X-Sig-Time", std::move(time)}},
                        std::string(kCallRailBody));
  };
  // base64(HMAC-SHA1("hmac-secret-2", "1700000000:" + body))
  const std::string good = "KVT9V5XNCC1f37cPL7Mvq0CHytw=";
  expect_passed(authenticate(config, request(good), 1700000000 + 60), "hmac");
  expect_refused(authenticate(config, request(good), 1700000000 + 61), "stale_timestamp",
                 {"hmac-secret-2"});
  expect_refused(authenticate(config, request(good, "1700000001"), 1700000000), "bad_signature",
                 {"hmac-secret-2"});
  expect_refused(authenticate(config, request(good, "soon"), 1700000000), "malformed_signature",
                 {"hmac-secret-2"});
  expect_refused(authenticate(config, make_request("/hook", {{"X-Sig", good}}), 1700000000),
                 "missing_signature", {"hmac-secret-2"});
  // The same MAC hex-encoded is not base64 of it.
  expect_refused(
      authenticate(config, request("2954fd5795cd082d5fdfb70f2fb32fab4087cadc"), 1700000000),
      "bad_signature", {"hmac-secret-2"});
}

TEST(Hmac, EmptySecretOrHeaderNeverPasses) {
  expect_refused(authenticate(github_config(""), github_request(kGitHubSignature), 0),
                 "bad_signature", {});
  AuthConfig config = github_config();
  config.signatures[0].header.clear();
  expect_refused(authenticate(config, github_request(kGitHubSignature), 0), "bad_signature",
                 {kGitHubSecret});
}

// ---------------------------------------------------------------------------------------------
// Several schemes, and mechanisms together (fail closed)

AuthConfig twilio_and_callrail() {
  AuthConfig config;
  config.signatures.push_back(signature(SignatureScheme::twilio, std::string(kTwilioToken)));
  config.signatures.push_back(signature(SignatureScheme::callrail, std::string(kCallRailSecret)));
  return config;
}

TEST(SeveralSchemes, AnyOnePasses) {
  expect_passed(authenticate(twilio_and_callrail(), callrail_request(kCallRailSignature), 0),
                "callrail");
  expect_passed(
      authenticate(twilio_and_callrail(), twilio_request(kTwilioUrl, kTwilioSignature), 0),
      "twilio");
}

TEST(SeveralSchemes, ThePresentedSchemeGivesTheCode) {
  const std::initializer_list<std::string_view> secrets = {kTwilioToken, kCallRailSecret};
  // Only X-Twilio-Signature is present: its failure is reported, not CallRail's missing header.
  expect_refused(authenticate(twilio_and_callrail(),
                              twilio_request(kTwilioUrl, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), 0),
                 "bad_signature", secrets);
  expect_refused(authenticate(twilio_and_callrail(), callrail_request("!!"), 0),
                 "malformed_signature", secrets);
  expect_refused(authenticate(twilio_and_callrail(), make_request("/hook", {}, "x=1"), 0),
                 "missing_signature", secrets);
  // A malformed signature for one scheme does not stop another from passing.
  Request both = callrail_request(kCallRailSignature);
  both.headers.push_back({"X-Twilio-Signature", "***"});
  expect_passed(authenticate(twilio_and_callrail(), both, 0), "callrail");
}

TEST(SeveralSchemes, SecretRotation) {
  AuthConfig config;
  config.signatures.push_back(signature(SignatureScheme::callrail, "callrail-secret-old"));
  config.signatures.push_back(signature(SignatureScheme::callrail, std::string(kCallRailSecret)));
  expect_passed(authenticate(config, callrail_request(kCallRailSignature), 0), "callrail");
}

TEST(FailClosed, EveryConfiguredMechanismMustPass) {
  AuthConfig config = query_token();
  config.basic = BasicAuth{"alice", std::string(kPassword)};
  const std::initializer_list<std::string_view> secrets = {kToken, kPassword};

  Request request =
      make_request("/hook?token=tok123&x=1", {{"Authorization", "Basic YWxpY2U6czNjcmV0OnB3"}});
  AuthResult result = authenticate(config, request, 0);
  expect_passed(result);
  EXPECT_EQ(result.url, "/hook?x=1");

  // Token ok, basic bad.
  request.headers[0].value = "Basic YWxpY2U6d3Jvbmc=";
  expect_refused(authenticate(config, request, 0), "bad_credentials", secrets);
  // Token ok, basic missing.
  request.headers.clear();
  expect_refused(authenticate(config, request, 0), "missing_credentials", secrets);
  // Basic ok, token bad.
  request = make_request("/hook?token=nope", {{"Authorization", "Basic YWxpY2U6czNjcmV0OnB3"}});
  expect_refused(authenticate(config, request, 0), "bad_token", secrets);
}

TEST(FailClosed, SignatureRequiredOnTopOfTokenAndBasic) {
  AuthConfig config = path_token();
  config.basic = BasicAuth{"alice", std::string(kPassword)};
  config.signatures.push_back(signature(SignatureScheme::callrail, std::string(kCallRailSecret)));
  const std::initializer_list<std::string_view> secrets = {kToken, kPassword, kCallRailSecret};

  Request request = make_request("/hook/tok123",
                                 {{"Authorization", "Basic YWxpY2U6czNjcmV0OnB3"},
                                  {"Signature", std::string(kCallRailSignature)}},
                                 std::string(kCallRailBody));
  AuthResult result = authenticate(config, request, 0);
  expect_passed(result, "callrail");
  EXPECT_EQ(result.url, "/hook");

  request.body += " ";
  expect_refused(authenticate(config, request, 0), "bad_signature", secrets);
  request.body = std::string(kCallRailBody);
  request.headers.pop_back();
  expect_refused(authenticate(config, request, 0), "missing_signature", secrets);
  request.headers.push_back({"Signature", std::string(kCallRailSignature)});
  request.url = "/hook/tok124";
  expect_refused(authenticate(config, request, 0), "bad_token", secrets);
}

}  // namespace
}  // namespace callhook
