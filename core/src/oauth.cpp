// OAuth 2.0 access tokens for oauth2 destinations: the token request a `need_token` plan carries
// and Engine::token_result, which reads the token endpoint's answer (RFC 6749 sections 5.1 and
// 5.2; the destinations contract's section 1 has Google's). The shell sends the request and
// caches the token; every decision about it is made here.
#include "oauth.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "attempt_log.h"
#include "callhook/render.h"
#include "crypto.h"
#include "json_writer.h"
#include "sealed_delivery.h"
#include "text_util.h"
#include "value_formats.h"

namespace callhook {

using nlohmann::json;

namespace {

// Without `expires_in` RFC 6749 leaves the lifetime to the documentation; Google's is an hour.
constexpr std::int64_t kDefaultLifetimeMs = 3'600'000;
// Refreshed this long before it expires, as google-auth-library does (its eager refresh
// threshold), so a token never runs out between the plan and the destination's check.
constexpr std::int64_t kRefreshMarginMs = 5 * 60'000;
// A lifetime shorter than this is cached for half of it instead: five minutes off a short one
// would leave nothing.
constexpr std::int64_t kShortLifetimeMs = 10 * 60'000;
// The longest lifetime believed: past it, a mistaken answer would pin a token for years.
constexpr double kLongestLifetimeSeconds = 366.0 * 86400;

// The form encoding of one value. The unreserved set is what every form decoder leaves alone, so
// the endpoint reads back exactly these bytes (a space as %20 decodes as `+` would).
std::string form_value(std::string_view value) {
  return detail::percent_encoded(value);
}

// Characters of an RFC 6750 b64token: what an access token may hold to travel in a header.
bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

// The token's lifetime from `expires_in`: seconds as a number (or, from some endpoints, a
// decimal string); absent, not positive or not a number: the default.
std::int64_t lifetime_ms(const json& answer) {
  const auto it = answer.find("expires_in");
  if (it == answer.end()) return kDefaultLifetimeMs;
  double seconds = -1;
  if (it->is_number()) {
    seconds = it->get<double>();
  } else if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    if (detail::all_digits(text) && text.size() <= 12) {
      seconds = static_cast<double>(detail::parse_int64(text).value_or(-1));
    }
  }
  if (!std::isfinite(seconds) || seconds <= 0) return kDefaultLifetimeMs;
  return static_cast<std::int64_t>(std::min(seconds, kLongestLifetimeSeconds) * 1000.0);
}

// A string member of an error answer, or "".
std::string text_of(const json& doc, const char* key) {
  const auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

namespace detail {

Delivery token_request(const Destination& destination, const Delivery& delivery) {
  const DestinationAuth& auth = destination.auth;
  Delivery r;
  r.route = delivery.route;
  r.destination = delivery.destination;
  r.idempotency_key = delivery.idempotency_key;
  r.call_sid = delivery.call_sid;
  r.record_key = delivery.record_key;
  r.trigger = delivery.trigger;
  r.method = "POST";
  r.url = auth.token_url;
  r.timeout_ms = destination.delivery.timeout_ms;
  r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  // Some endpoints (GitHub's) answer form-encoded unless asked for JSON.
  r.headers.push_back({"Accept", "application/json"});
  if (auth.grant == DestinationAuth::Grant::refresh_token) {
    // RFC 6749 section 6, with the client's credentials in the body (section 2.3.1), as Google
    // documents for its endpoint.
    r.body = "grant_type=refresh_token&refresh_token=" + form_value(auth.refresh_token) +
             "&client_id=" + form_value(auth.client_id);
    if (!auth.client_secret.empty()) r.body += "&client_secret=" + form_value(auth.client_secret);
  } else {
    // RFC 6749 section 4.4: the client authenticates with HTTP Basic, each half form-encoded
    // first (section 2.3.1), so a `:` in the id cannot split it.
    r.body = "grant_type=client_credentials";
    const std::string pair = form_value(auth.client_id) + ":" + form_value(auth.client_secret);
    r.headers.push_back(
        {"Authorization", "Basic " + crypto::base64_encode(crypto::byte_view(pair))});
  }
  if (!auth.scope.empty()) r.body += "&scope=" + form_value(auth.scope);
  return r;
}

std::string scrub_credentials(std::string_view text, const Destination* destination) {
  std::string out(text);
  if (destination != nullptr) {
    const DestinationAuth& a = destination->auth;
    std::vector<std::string> values;
    for (const std::string* v : {&a.token, &a.value, &a.client_secret, &a.refresh_token}) {
      if (v->size() < kSealedSecretBytes) continue;
      // As they are and as the token request's body carries them.
      values.push_back(*v);
      values.push_back(percent_encoded(*v));
    }
    std::sort(values.begin(), values.end(),
              [](const std::string& x, const std::string& y) { return x.size() > y.size(); });
    for (const std::string& v : values) {
      for (std::size_t at = out.find(v); at != std::string::npos; at = out.find(v, at + 8)) {
        out.replace(at, v.size(), "[secret]");
      }
    }
  }
  // Credentials echoed with their scheme, as a header spells it. Only what looks like one (long,
  // with a digit) is taken out, so prose ("Basic authentication failed") stays readable.
  for (const std::string_view scheme : {"Bearer ", "Basic "}) {
    for (std::size_t at = out.find(scheme); at != std::string::npos;
         at = out.find(scheme, at + scheme.size())) {
      const std::size_t from = at + scheme.size();
      std::size_t end = from;
      bool digit = false;
      while (end < out.size() && is_token_char(out[end])) {
        digit = digit || (out[end] >= '0' && out[end] <= '9');
        ++end;
      }
      if (end - from >= 16 && digit) out.replace(from, end - from, "[credentials]");
    }
  }
  return out;
}

}  // namespace detail

TokenOutcome Engine::token_result(const AttemptInput& attempt) const {
  using Kind = AttemptVerdict::Kind;
  const Destination* dest = config_.destination(attempt.destination);
  const RetryPolicy& policy = dest != nullptr ? dest->delivery : config_.delivery;
  const std::string_view late = dest != nullptr ? deadline_reason(dest->format) : "";
  const AttemptAnswer& answer = attempt.answer;
  const bool answered = answer.kind == AttemptAnswer::Kind::answered;
  const std::string status = "HTTP " + std::to_string(answer.status);
  TokenOutcome out;

  // Every reason quotes what the endpoint said at most, without the request's credentials.
  const auto finish = [&](AttemptVerdict v) {
    v.reason = redact(detail::scrub_credentials(v.reason, dest));
    v.log = redact(detail::scrub_credentials(
        detail::verdict_log(attempt, v, detail::LogSubject::token), dest));
    out.verdict = std::move(v);
    return out;
  };
  const auto refused = [&](std::string reason) {
    AttemptVerdict v;
    v.kind = Kind::dead;
    v.code = "token_refused";
    v.reason = std::move(reason);
    return finish(std::move(v));
  };

  if (answered && answer.status >= 200 && answer.status <= 299) {
    const json doc = json::parse(answer.body, nullptr, false);
    const std::string value = doc.is_object() ? text_of(doc, "access_token") : std::string();
    if (value.empty()) return refused("the token endpoint's answer had no access_token");
    if (!std::all_of(value.begin(), value.end(), is_token_char)) {
      // It goes into an Authorization header: anything else could split it.
      return refused("the token endpoint's access_token is not a bearer token");
    }
    const std::int64_t lifetime = lifetime_ms(doc);
    const std::int64_t margin = lifetime < kShortLifetimeMs ? lifetime / 2 : kRefreshMarginMs;
    out.access_token = value;
    out.cache_until_ms = attempt.now_ms + lifetime - margin;
    return out;
  }
  const bool busy =
      answered && (answer.status == 429 || (answer.status >= 500 && answer.status <= 599));
  if (answered && !busy && (answer.status == 400 || answer.status == 401 || answer.status == 403)) {
    // RFC 6749 section 5.2: {"error", "error_description"}. Google's invalid_grant (a revoked
    // refresh token) needs a person to consent again: no retry mends it.
    const json doc = json::parse(answer.body, nullptr, false);
    const std::string error = doc.is_object() ? text_of(doc, "error") : std::string();
    if (error.empty()) return refused("token endpoint refused: " + status);
    const std::string description = text_of(doc, "error_description");
    return refused("token endpoint refused: " + detail::clip(error, 80) +
                   (description.empty() ? "" : ": " + detail::clip(description)));
  } else if ((answered && !busy) || answer.kind == AttemptAnswer::Kind::redirect) {
    const bool redirect = !answered || (answer.status >= 300 && answer.status <= 399);
    return refused("token endpoint answered " + (answered ? status : std::string("a redirect")) +
                   (redirect ? ": redirects are not followed; configure the final token_url"
                             : ", which is not retried"));
  }
  if (answer.kind == AttemptAnswer::Kind::unsendable) {
    return finish(decide_attempt(policy, nullptr, attempt));  // dead at once, as for a delivery
  }

  // The endpoint is down or busy for now: the delivery waits on its own schedule (Retry-After
  // honoured), as any failed attempt does, and gives up when its attempts or deadline run out.
  RetryPolicy transient_only = policy;
  transient_only.retry_statuses = {429};
  transient_only.retry_5xx = true;
  AttemptVerdict v = decide_attempt(transient_only, nullptr, attempt, false, late);
  const std::string said =
      "the token endpoint: " +
      (answered ? status
       : answer.kind == AttemptAnswer::Kind::timeout
           ? "no answer within " + std::to_string(policy.timeout_ms) + " ms"
           : "transport error: " + detail::clip(answer.error.empty() ? "unknown" : answer.error));
  if (v.kind == Kind::retry) {
    v.code = "token_unavailable";
    v.reason = said;
  } else if (v.code == "attempts_exhausted") {
    v.reason = "gave up after " + std::to_string(attempt.attempt) + " attempts; the last: " + said;
  } else if (v.code == "deadline_passed") {
    v.reason = std::string(late.empty() ? "the destination no longer accepts it" : late) +
               "; the last attempt: " + said;
  }
  return finish(std::move(v));
}

void write_token_outcome_json(const TokenOutcome& outcome, std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  if (outcome.verdict) {
    std::string verdict;
    write_attempt_verdict_json(*outcome.verdict, verdict);
    w.key("verdict").raw(verdict);
  } else {
    w.key("access_token").string(outcome.access_token);
    w.key("cache_until_ms").number(outcome.cache_until_ms);
  }
  w.end_object();
}

}  // namespace callhook
